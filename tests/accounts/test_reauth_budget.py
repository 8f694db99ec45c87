"""The re-authentication budget (``REAUTH_USER``: wrong passwords per user) is reserved before
the password is checked, and given back when it is right (attack2 F8).

It used to check the budget, then check the password, then count: requests sent at once all
passed the first check, so more passwords were checked than the budget allows (the last ones
answered RATE_LIMITED only after their password had been checked).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from security import ratelimit
from tests.conftest import PASSWORD

CHANGE_EMAIL = "/api/v1/auth/change-email"


def change_email(client: APIClient, password: str) -> Any:
    return client.post(
        CHANGE_EMAIL, {"newEmail": "new-home@example.com", "password": password}, format="json"
    )


@pytest.fixture(autouse=True)
def _limits_on(settings: Any) -> None:
    settings.RATE_LIMITS_ENABLED = True
    settings.RATE_LIMIT_OVERRIDES = {}


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check run, in order; each takes a little while, as argon2 does, so
    requests sent at once overlap."""
    seen: list[str] = []
    lock = threading.Lock()
    original = User.check_password

    def counted(self: User, raw_password: str) -> bool:
        with lock:
            seen.append(raw_password)
        time.sleep(0.05)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", counted)
    return seen


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_get_no_more_checks_than_the_budget(
    shared_store, auth_client, checks
):
    window = ratelimit.REAUTH_USER.window_seconds
    if window - time.time() % window < 5:  # all in one fixed window
        time.sleep(window - time.time() % window + 0.1)
    client = auth_client()
    token = client.tokens["accessToken"]
    checks.clear()  # the sign-in's own check
    budget = ratelimit.budget(ratelimit.REAUTH_USER)
    count = budget + 6
    barrier = threading.Barrier(count)
    answers: list[tuple[int, str]] = []

    def worker(index: int) -> None:
        own = APIClient()
        own.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = change_email(own, f"wrong-guess-{index}")
            answers.append((response.status_code, response.json()["code"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) == budget, len(checks)
    assert sorted(answers) == [(401, "REAUTH_REQUIRED")] * budget + [(429, "RATE_LIMITED")] * 6
    # Spent: even the right password is refused unchecked.
    refused = change_email(client, PASSWORD)
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert len(checks) == budget


@pytest.mark.django_db
def test_a_right_password_gives_its_reserved_check_back(shared_store, auth_client, checks):
    client = auth_client()
    budget = ratelimit.budget(ratelimit.REAUTH_USER)
    for index in range(budget - 1):
        assert change_email(client, f"wrong-{index}").status_code == 401
    # The right password, three times: none of them uses up the last wrong guess.
    for _ in range(3):
        assert change_email(client, PASSWORD).status_code == 202
    last = change_email(client, "wrong-last")
    assert (last.status_code, last.json()["code"]) == (401, "REAUTH_REQUIRED")
    spent = change_email(client, PASSWORD)
    assert (spent.status_code, spent.json()["code"]) == (429, "RATE_LIMITED")
