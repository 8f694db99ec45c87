"""A per-address budget of failed passkey verifications, across credentials.

Failures were only counted per credential and address: an address sending assertions for
random credential ids (no options needed: an unknown ceremony fails as well) got a 401 and a
failed ``LoginAttempt`` row for each, without end. Now 20 failed verifications a minute per
address (an IPv6 client by its /64), then 429 RATE_LIMITED with ``Retry-After`` for the rest of
the minute, before anything is looked up or written. Successes count nothing, and the success
path reads the address's cooldown with the credential's (one read, its query budget unchanged:
``tests/accounts/test_query_budgets.py``). In PostgreSQL without Redis and in Redis alike.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from rest_framework.test import APIClient

from security.models import LoginAttempt, LoginThrottle
from tests.passkeys.authenticator import SoftAuthenticator
from tests.passkeys.conftest import next_minute, sign_in_options, sign_in_verify

pytestmark = pytest.mark.django_db
BUDGET = 20


def random_credential(template: dict[str, Any]) -> dict[str, Any]:
    """An assertion for a credential id nobody registered."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return {**template, "id": raw, "rawId": raw}


def failed_attempts() -> int:
    return LoginAttempt.objects.filter(method="passkey", success=False).count()


def test_failures_from_one_address_are_limited_across_credentials(
    shared_store, passkey_user, passkey_sign_in
):
    _, device, _ = passkey_user()
    attacker = APIClient(REMOTE_ADDR="203.0.113.7")
    start = next_minute()
    with freeze_time(start):
        template = SoftAuthenticator().get(sign_in_options(attacker).json())
        codes = [
            sign_in_verify(attacker, None, random_credential(template)).status_code
            for _ in range(BUDGET)
        ]
        assert codes == [401] * BUDGET
        assert failed_attempts() == BUDGET
        response = sign_in_verify(attacker, None, random_credential(template))
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == "RATE_LIMITED"
        assert 0 < int(response["Retry-After"]) <= 60
        assert 0 < body["details"]["retryAfter"] <= 60
        assert failed_attempts() == BUDGET  # refused before anything is written
        # The address waits, a genuine passkey too (as the password's per-IP budget of
        # failures); another address is not affected.
        assert passkey_sign_in(device, client=attacker).status_code == 429
        assert passkey_sign_in(device, client=APIClient(REMOTE_ADDR="10.0.0.9")).status_code == 200
    with freeze_time(start + timedelta(minutes=1)):
        response = sign_in_verify(attacker, None, random_credential(template))
        assert response.status_code == 401
    # The password lockout never saw any of it.
    assert not LoginThrottle.objects.exists()


def test_an_ipv6_client_is_counted_by_its_64(passkey_user):
    start = next_minute()
    with freeze_time(start):
        template = SoftAuthenticator().get(sign_in_options(APIClient()).json())
        for host in range(BUDGET):
            client = APIClient(REMOTE_ADDR=f"2001:db8:1:2::{host + 1:x}")
            assert sign_in_verify(client, None, random_credential(template)).status_code == 401
        neighbour = APIClient(REMOTE_ADDR="2001:db8:1:2::ffff")
        assert sign_in_verify(neighbour, None, random_credential(template)).status_code == 429
        elsewhere = APIClient(REMOTE_ADDR="2001:db8:1:3::1")
        assert sign_in_verify(elsewhere, None, random_credential(template)).status_code == 401


def test_successes_count_nothing(passkey_user, passkey_sign_in):
    _, device, _ = passkey_user()
    client = APIClient(REMOTE_ADDR="203.0.113.8")
    with freeze_time(next_minute()):
        for _ in range(5):
            assert passkey_sign_in(device, client=client).status_code == 200
        template = SoftAuthenticator().get(sign_in_options(client).json())
        for _ in range(BUDGET - 1):
            assert sign_in_verify(client, None, random_credential(template)).status_code == 401
        assert passkey_sign_in(device, client=client).status_code == 200


def test_an_operator_override_moves_the_budget(settings):
    settings.RATE_LIMIT_OVERRIDES = {"passkey-fail-ip": 3}
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    with freeze_time(next_minute()):
        template = SoftAuthenticator().get(sign_in_options(client).json())
        codes = [
            sign_in_verify(client, None, random_credential(template)).status_code for _ in range(4)
        ]
    assert codes == [401, 401, 401, 429]
