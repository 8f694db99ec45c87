"""The console's sign-in counts its check before running it, like the API's password sign-in.

It used to read the lock, check the password and the code, and only then count the failure:
posts sent at once all passed a lock check none of them had tripped yet, so an attacker got
as many password checks as he could send in parallel. Now the check is reserved first
(``lockout.check_reserved``, one ``INSERT … ON CONFLICT … RETURNING``): exactly
``LOCKOUT_MAX_FAILURES`` are checked and every other post is refused unchecked.
"""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.signin import admin_console
from security.models import AttemptMethod, LoginAttempt, LoginThrottle, SecurityEvent

LOGIN = "/admin/login/"
WRONG = "definitely-not-it-1"
INVALID = b"Please enter the correct email"
LOCKED = b"Too many failed sign-ins"


def _parallel_wrong_posts(email: str, count: int) -> tuple[list[bytes], int]:
    """``count`` wrong posts at once, each from its own address on its own connection; the
    answers and how many passwords were checked."""
    barrier = threading.Barrier(count)
    answers: list[bytes] = []
    checked = 0
    guard = threading.Lock()
    real_authenticate = admin_console.authenticate

    def counting_authenticate(*args, **kwargs):
        nonlocal checked
        with guard:
            checked += 1
        return real_authenticate(*args, **kwargs)

    def worker(index: int) -> None:
        client = Client(REMOTE_ADDR=f"10.0.1.{index + 1}")
        barrier.wait()
        try:
            response = client.post(LOGIN, {"username": email, "password": WRONG, "next": "/admin/"})
            assert response.status_code == 200
            answers.append(LOCKED if LOCKED in response.content else INVALID)
        finally:
            connection.close()

    with mock.patch.object(admin_console, "authenticate", counting_authenticate):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return answers, checked


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_posts_get_exactly_the_threshold_of_checks(user_factory, mailoutbox):
    staff = user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")
    answers, checked = _parallel_wrong_posts(staff.email, 12)
    limit = settings.LOCKOUT_MAX_FAILURES
    assert checked == limit
    assert sorted(answers) == sorted([INVALID] * limit + [LOCKED] * (12 - limit))
    throttle = LoginThrottle.objects.get(scope="acct:ops@example.com")
    assert throttle.failures == limit and throttle.locked_until is not None
    failures = LoginAttempt.objects.filter(method=AttemptMethod.ADMIN_CONSOLE, success=False)
    assert failures.count() == limit
    assert SecurityEvent.objects.filter(user=staff, type="LOGIN_FAILURE").count() == limit
    assert SecurityEvent.objects.filter(user=staff, type="ACCOUNT_LOCKED").count() == 1
    assert [mail.to for mail in mailoutbox] == [[staff.email]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_at_an_unknown_address_lock_it_the_same_way(db):
    answers, checked = _parallel_wrong_posts("nobody-here@example.com", 12)
    assert checked == settings.LOCKOUT_MAX_FAILURES
    assert answers.count(INVALID) == settings.LOCKOUT_MAX_FAILURES
    throttle = LoginThrottle.objects.get(scope="acct:nobody-here@example.com")
    assert throttle.failures == settings.LOCKOUT_MAX_FAILURES


@pytest.mark.django_db
def test_a_failure_of_ours_gives_the_reserved_check_back(user_factory):
    """A broken dependency during the check is not the user's failure: nothing stays counted."""
    staff = user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")
    client = Client(raise_request_exception=False)
    with mock.patch.object(admin_console, "authenticate", side_effect=RuntimeError("db down")):
        response = client.post(
            LOGIN, {"username": staff.email, "password": WRONG, "next": "/admin/"}
        )
    assert response.status_code == 500
    assert not LoginThrottle.objects.filter(scope="acct:ops@example.com").exists()
    assert not LoginAttempt.objects.exists()
