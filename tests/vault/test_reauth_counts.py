"""Wrong passwords on the zero-knowledge recovery wrap are counted although the refusal rolls
back the transaction they were checked in (attacker's review, finding 2).

Without Redis the per-user counters are rows in PostgreSQL; the recovery wrap in zero-knowledge
mode checks the password inside the vault scope's transaction, then raises. The count used to be
rolled back with the refusal: a stolen access token allowed unlimited password guesses.
"""

from __future__ import annotations

from typing import Any

import pytest

from security import ratelimit
from tests.conftest import PASSWORD
from tests.vault.conftest import BASE, make_stale, zk_on

pytestmark = pytest.mark.django_db

JUNK = {"recoveryWrappedMk": "AAAA", "recoveryIv": "AAAA"}


@pytest.fixture(autouse=True)
def _postgres_store(settings: Any) -> None:
    settings.REDIS_URL = ""  # the shared state in PostgreSQL (tests/conftest.py store_select)
    settings.RATE_LIMITS_ENABLED = True


def test_wrong_passwords_on_the_zero_knowledge_recovery_wrap_lock_without_redis(client_, init):
    init()
    zk_on(client_)
    make_stale(client_)
    refusals = 0
    for _ in range(ratelimit.budget(ratelimit.REAUTH_USER) + 1):
        wrong = client_.post(
            BASE + "recovery-wrap", {**JUNK, "password": "not the password"}, format="json"
        )
        if wrong.status_code == 429:
            break
        assert (wrong.status_code, wrong.json()["code"]) == (401, "REAUTH_REQUIRED")
        refusals += 1
    assert refusals <= ratelimit.budget(ratelimit.REAUTH_USER)
    # Even the right password is refused now: the guesses were counted although every
    # request above failed and rolled its transaction back.
    locked = client_.post(BASE + "recovery-wrap", {**JUNK, "password": PASSWORD}, format="json")
    assert (locked.status_code, locked.json()["code"]) == (429, "RATE_LIMITED")
    assert client_.get(BASE + "key").json()["recoveryWrappedMk"] != JUNK["recoveryWrappedMk"]
