"""Single use under concurrency, in both shared stores (Redis, PostgreSQL), with threads that
each hold their own connection as separate workers would."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Session
from accounts.passkeys import challenges
from tests.passkeys.conftest import sign_in_options, sign_in_verify

RACERS = 6


def _race(count: int, action) -> list[int]:
    barrier = threading.Barrier(count)
    results: list[int] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(action())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_one_assertion_sent_by_many_at_once_signs_in_once(shared_store, passkey_user):
    _, device, _ = passkey_user()
    options = sign_in_options(APIClient()).json()
    credential = device.get(options)
    results = _race(
        RACERS,
        lambda: sign_in_verify(APIClient(), options["ceremonyId"], credential).status_code,
    )
    assert sorted(results) == [200] + [401] * (RACERS - 1)
    assert Session.objects.filter(auth_method="passkey").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_ceremony_is_claimed_by_exactly_one_reader(shared_store):
    challenge = challenges.challenge_new()
    challenges.sign_in_store(challenge=challenge, identified=False, user_id=None)
    claims = _race(RACERS, lambda: challenges.sign_in_take(challenge=challenge) is not None)
    assert sorted(claims) == [False] * (RACERS - 1) + [True]
    assert challenges.sign_in_take(challenge=challenge) is None


@pytest.mark.django_db(transaction=True)
def test_a_registration_is_claimed_by_exactly_one_reader(shared_store):
    challenges.registration_store(user_id="u1", session_id="s1", challenge=b"c" * 32)
    claims = _race(RACERS, lambda: challenges.registration_take(user_id="u1") is not None)
    assert sorted(claims) == [False] * (RACERS - 1) + [True]


@pytest.mark.django_db
def test_a_counter_moved_by_another_sign_in_writes_no_session(passkey_user, monkeypatch):
    """The counter's conditional UPDATE and the session are one statement: when another
    sign-in moved the counter after this one read it, nothing of this one is written."""
    from django.db.models import F

    from accounts.models import Passkey
    from accounts.signin import passkey as signin_passkey
    from security.models import SecurityEvent

    _, device, created = passkey_user()
    verify = signin_passkey.ceremony.authentication_verify

    def verify_then_race(**kwargs):
        asserted = verify(**kwargs)
        Passkey.objects.filter(pk=created["id"]).update(sign_count=F("sign_count") + 100)
        return asserted

    monkeypatch.setattr(signin_passkey.ceremony, "authentication_verify", verify_then_race)
    sessions = Session.objects.count()
    options = sign_in_options(APIClient()).json()
    response = sign_in_verify(APIClient(), options["ceremonyId"], device.get(options))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert Session.objects.count() == sessions
    assert not SecurityEvent.objects.filter(
        type="LOGIN_SUCCESS", metadata__method="passkey"
    ).exists()
    assert SecurityEvent.objects.filter(type="LOGIN_FAILURE", metadata__method="passkey").exists()
    # The attempt rows (wa19) go with it: the refused one only, no success.
    from security.models import LoginAttempt

    attempts = list(LoginAttempt.objects.filter(method="passkey").values_list("success", "reason"))
    assert attempts == [(False, "passkey")]
