"""The password lockout: protects users without handing attackers a way to lock them out."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import User
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
WRONG = "definitely-not-it-1"


def login(client, email, password=PASSWORD):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


def fail(client, email, times):
    return [login(client, email, WRONG).status_code for _ in range(times)]


def test_five_failures_lock_password_sign_in_even_with_the_right_password(
    api_client, user_factory, mailoutbox
):
    user = user_factory(email="victim@example.com")
    mailoutbox.clear()
    assert fail(api_client, user.email, 5) == [401] * 5
    response = login(api_client, user.email)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "ACCOUNT_LOCKED"
    assert 1700 < body["details"]["remainingSeconds"] <= 1800
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_LOCKED").count() == 1
    assert SecurityEvent.objects.filter(user=user, type="LOGIN_FAILURE").count() == 5
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [user.email]
    assert "paused" in mailoutbox[0].subject


def test_the_lock_expires_after_thirty_minutes(api_client, user_factory):
    user = user_factory()
    fail(api_client, user.email, 5)
    with freeze_time(timezone.now() + timedelta(minutes=31)):
        assert login(api_client, user.email).status_code == 200


def test_failures_outside_the_window_do_not_add_up(api_client, user_factory):
    user = user_factory()
    fail(api_client, user.email, 4)
    with freeze_time(timezone.now() + timedelta(minutes=16)):
        fail(api_client, user.email, 4)
        assert login(api_client, user.email).status_code == 200


def test_failures_during_a_lock_do_not_extend_it(api_client, user_factory):
    user = user_factory()
    fail(api_client, user.email, 5)
    locked_until = LoginThrottle.objects.get(email_key=user.email.lower()).locked_until
    with freeze_time(timezone.now() + timedelta(minutes=20)):
        assert fail(api_client, user.email, 3) == [429] * 3
    assert LoginThrottle.objects.get(email_key=user.email.lower()).locked_until == locked_until
    assert LoginAttempt.objects.filter(user=user, success=False).count() == 5


def test_a_successful_sign_in_resets_the_count(api_client, user_factory):
    user = user_factory()
    fail(api_client, user.email, 4)
    assert login(api_client, user.email).status_code == 200
    fail(api_client, user.email, 4)
    assert login(api_client, user.email).status_code == 200


def test_unknown_emails_are_throttled_exactly_like_real_ones(api_client, user_factory):
    user_factory(email="real@example.com")
    real = [
        *fail(api_client, "real@example.com", 5),
        login(api_client, "real@example.com").status_code,
    ]
    ghost = [
        *fail(api_client, "ghost@example.com", 5),
        login(api_client, "ghost@example.com").status_code,
    ]
    assert real == ghost == [401] * 5 + [429]
    real_body = login(api_client, "real@example.com").json()
    ghost_body = login(api_client, "ghost@example.com").json()
    assert real_body["code"] == ghost_body["code"] == "ACCOUNT_LOCKED"
    assert set(real_body["details"]) == set(ghost_body["details"])


def test_a_known_device_is_not_blocked_by_failures_from_elsewhere(user_factory, settings):
    user = user_factory()
    laptop = APIClient()
    assert login(laptop, user.email).status_code == 200
    assert settings.DEVICE_COOKIE_NAME in laptop.cookies
    attacker = APIClient()
    assert fail(attacker, user.email, 5) == [401] * 5
    assert login(attacker, user.email).status_code == 429
    assert login(laptop, user.email).status_code == 200


def test_a_known_device_has_its_own_counter(user_factory):
    user = user_factory()
    laptop = APIClient()
    login(laptop, user.email)
    assert fail(laptop, user.email, 5) == [401] * 5
    assert login(laptop, user.email).status_code == 429
    assert login(APIClient(), user.email).status_code == 200  # the account scope is untouched


def test_a_forged_or_foreign_device_cookie_counts_as_unknown(user_factory, settings):
    alice, bob = user_factory(), user_factory()
    alice_laptop = APIClient()
    login(alice_laptop, alice.email)
    stolen = alice_laptop.cookies[settings.DEVICE_COOKIE_NAME].value
    attacker = APIClient()
    fail(attacker, bob.email, 5)
    attacker.cookies[settings.DEVICE_COOKIE_NAME] = stolen  # alice's cookie on bob's account
    assert login(attacker, bob.email).status_code == 429
    attacker.cookies[settings.DEVICE_COOKIE_NAME] = "forged:value"
    assert login(attacker, bob.email).status_code == 429


def test_completed_password_reset_clears_the_lock(api_client, user_factory, mailoutbox):
    import re
    from urllib.parse import parse_qs, urlsplit

    user = user_factory()
    fail(api_client, user.email, 5)
    mailoutbox.clear()
    api_client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
    url = re.search(r"https?://\S+", mailoutbox[0].body).group(0)
    token = parse_qs(urlsplit(url).query)["token"][0]
    new = "fresh-start-password-5"
    assert (
        api_client.post(
            "/api/v1/auth/reset-password", {"token": token, "newPassword": new}, format="json"
        ).status_code
        == 200
    )
    assert login(api_client, user.email, new).status_code == 200


def test_operator_unlock(api_client, user_factory):
    from accounts.operators import user_unlock

    user = user_factory()
    admin = user_factory(role="admin", is_staff=True)
    fail(api_client, user.email, 5)
    assert login(api_client, user.email).status_code == 429
    user_unlock(user=user, actor=admin)
    assert login(api_client, user.email).status_code == 200
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_UNLOCKED").count() == 1
    assert SecurityEvent.objects.filter(user=admin, type="ADMIN_ACTION").count() == 1


def test_per_ip_failure_limit_stops_spraying(api_client, user_factory):
    users = [user_factory() for _ in range(5)]  # four failures each: no account locks
    statuses = [login(api_client, users[i % 5].email, WRONG).status_code for i in range(20)]
    assert statuses == [401] * 20
    response = login(api_client, "another@example.com", WRONG)
    assert response.status_code == 429 and response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0


def _parallel_wrong_passwords(email: str, count: int) -> list[int]:
    barrier = threading.Barrier(count)
    results: list[int] = []

    def worker(index: int) -> None:
        client = APIClient(REMOTE_ADDR=f"10.0.0.{index + 1}")
        barrier.wait()
        try:
            results.append(login(client, email, WRONG).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_counted_exactly(user_factory, settings):
    settings.LOCKOUT_MAX_FAILURES = 20
    user = user_factory()
    results = _parallel_wrong_passwords(user.email, 10)
    assert results == [401] * 10
    assert LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}").failures == 10
    assert LoginAttempt.objects.filter(user=user, success=False).count() == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_lock_once(user_factory):
    user = user_factory()
    results = _parallel_wrong_passwords(user.email, 10)
    assert set(results) <= {401, 429}
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_LOCKED").count() == 1
    throttle = LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}")
    assert throttle.failures == 5 and throttle.locked_until is not None
    assert login(APIClient(), user.email).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_get_exactly_the_threshold_of_guesses(user_factory, mailoutbox):
    """The lock is decided with the count, before the password is checked: of many guesses
    sent at once, exactly LOCKOUT_MAX_FAILURES are checked (401), every other one is refused
    (429) unchecked, and nothing is recorded past the threshold."""
    user = user_factory()
    results = _parallel_wrong_passwords(user.email, 12)
    assert sorted(results) == [401] * 5 + [429] * 7
    throttle = LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}")
    assert throttle.failures == 5 and throttle.locked_until is not None
    assert SecurityEvent.objects.filter(user=user, type="LOGIN_FAILURE").count() == 5
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_LOCKED").count() == 1
    assert LoginAttempt.objects.filter(user=user, success=False).count() == 5
    assert [mail.to for mail in mailoutbox] == [[user.email]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_at_an_unknown_address_lock_it_the_same_way(db):
    results = _parallel_wrong_passwords("nobody-here@example.com", 12)
    assert sorted(results) == [401] * 5 + [429] * 7
    assert LoginThrottle.objects.get(scope="acct:nobody-here@example.com").failures == 5


@pytest.mark.django_db(transaction=True)
def test_the_counter_and_the_lock_are_one_atomic_step_under_real_concurrency(settings):
    """Threads on their own connections count failures on one scope at once: the count is
    exact, exactly the threshold's failure locks, and failures during the lock count nothing."""
    from security import lockout

    settings.LOCKOUT_MAX_FAILURES = 7
    count = 16
    barrier = threading.Barrier(count)
    outcomes: list[lockout.FailureOutcome] = []

    def worker() -> None:
        barrier.wait()
        try:
            outcomes.append(lockout.failure_record(scope="acct:race@example.com", email_key="k"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counted = sorted(o.failures for o in outcomes if not o.refused)
    assert counted == list(range(1, 8))
    assert [o.failures for o in outcomes if o.locked_now] == [7]
    assert sum(o.refused for o in outcomes) == count - 7
    throttle = LoginThrottle.objects.get(scope="acct:race@example.com")
    assert throttle.failures == 7 and throttle.locked_until is not None


def test_a_correct_password_gives_its_reserved_check_back(api_client, user_factory):
    user = user_factory()
    fail(api_client, user.email, 4)
    scope = f"acct:{user.email.lower()}"
    assert LoginThrottle.objects.get(scope=scope).failures == 4
    assert login(APIClient(), user.email).status_code == 200
    assert not LoginThrottle.objects.filter(scope=scope).exists()


def test_the_fifth_check_with_the_right_password_does_not_lock(api_client, user_factory, settings):
    """The fifth reservation locks tentatively; the right password behind an unverified
    address (403) gives it back, lock included."""
    settings.REQUIRE_EMAIL_VERIFICATION = True
    user = user_factory(verified=False)
    fail(api_client, user.email, 4)
    response = login(APIClient(), user.email)
    assert response.status_code == 403 and response.json()["code"] == "EMAIL_NOT_VERIFIED"
    throttle = LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}")
    assert throttle.failures == 4 and throttle.locked_until is None
    assert SecurityEvent.objects.filter(user=user, type="ACCOUNT_LOCKED").count() == 0
    wrong = login(APIClient(), user.email, WRONG)
    assert wrong.status_code == 401
    assert login(APIClient(), user.email, WRONG).status_code == 429


def test_a_failure_of_ours_after_the_reservation_counts_nothing(
    api_client, user_factory, monkeypatch
):
    from django.db import OperationalError

    from accounts.signin import password as password_flow

    user = user_factory()
    fail(api_client, user.email, 2)

    def broken(**_kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(password_flow, "first_factor_passed", broken)
    response = login(APIClient(), user.email)
    assert response.status_code == 503 and response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert LoginThrottle.objects.get(scope=f"acct:{user.email.lower()}").failures == 2


def test_unverified_user_is_still_throttled(api_client, user_factory):
    user = user_factory(verified=False)
    fail(api_client, user.email, 5)
    assert login(api_client, user.email).status_code == 429
    assert User.objects.get(pk=user.pk).email_verified_at is None


def test_a_known_device_keeps_its_own_per_address_budget(user_factory, settings):
    """Attacker's review, finding 1: the per-address sign-in limit was one budget for the
    address, so a stranger who knows it spent it from a few IP addresses and the owner was
    refused (429) even on the laptop that signed in before. A known device has its own."""
    settings.RATE_LIMIT_OVERRIDES = {"login-email": 8}
    user = user_factory()
    laptop = APIClient(REMOTE_ADDR="198.51.100.7")
    assert login(laptop, user.email).status_code == 200
    for source in ("203.0.113.1", "203.0.113.2"):
        fail(APIClient(REMOTE_ADDR=source), user.email, 4)
    spent = login(APIClient(REMOTE_ADDR="203.0.113.3"), user.email)
    assert (spent.status_code, spent.json()["code"]) == (429, "RATE_LIMITED")
    assert login(laptop, user.email).status_code == 200
    # The laptop's own failures still count: toward its lockout counter and its budget.
    assert fail(laptop, user.email, 5) == [401] * 5
    locked = login(laptop, user.email)
    assert (locked.status_code, locked.json()["code"]) == (429, "ACCOUNT_LOCKED")
    assert fail(laptop, user.email, 1) == [429]
    assert login(laptop, user.email).json()["code"] == "RATE_LIMITED"  # 8 used by the laptop
