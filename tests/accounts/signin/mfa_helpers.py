"""Helpers shared by the second-factor tests: a frozen clock, codes computed with pyotp."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyotp
from freezegun import freeze_time
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

# A fixed instant 10 seconds into a 30-second TOTP step, so "now", "one step back" and "one
# step ahead" are unambiguous.
STEP = 30
T0 = 1_900_000_000 - (1_900_000_000 % STEP) + 10

SETUP = "/api/v1/me/mfa/totp/setup"
CONFIRM = "/api/v1/me/mfa/totp/confirm"
TOTP = "/api/v1/me/mfa/totp"
BACKUP_CODES = "/api/v1/me/mfa/backup-codes"
STATUS = "/api/v1/me/mfa"
LOGIN = "/api/v1/auth/login"
LOGIN_MFA = "/api/v1/auth/login/mfa"


@contextmanager
def frozen_clock(at: float = T0) -> Iterator[Any]:
    with freeze_time(datetime.fromtimestamp(at, UTC)) as frozen:
        yield frozen


def code_at(secret: str, at: float | None = None) -> str:
    """What an authenticator app shows at ``at`` (default: the frozen now)."""
    return pyotp.TOTP(secret).at(int(time.time() if at is None else at))


def enable_totp(client: APIClient, frozen: Any) -> tuple[str, list[str]]:
    """Set up and confirm TOTP through the API; leave the clock one step later so the next
    code is not a replay of the confirmation code."""
    setup = client.post(SETUP, {}, format="json")
    assert setup.status_code == 200, setup.content
    secret = setup.json()["secret"]
    confirm = client.post(CONFIRM, {"code": code_at(secret)}, format="json")
    assert confirm.status_code == 200, confirm.content
    frozen.tick(STEP)
    return secret, confirm.json()["backupCodes"]


def password_login(client: APIClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"email": email, "password": password}, format="json")


def mfa_token(client: APIClient, email: str) -> str:
    response = password_login(client, email)
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == "MFA_REQUIRED"
    return body["details"]["mfaToken"]


def finish(client: APIClient, token: str, code: str, method: str = "totp") -> Any:
    return client.post(
        LOGIN_MFA, {"mfaToken": token, "code": code, "method": method}, format="json"
    )
