"""Fixtures for the passkey tests: the relying party, a software authenticator, flows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.passkeys.authenticator import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftAuthenticator

BASE = "/api/v1/auth/passkeys/"


def next_minute(seconds: int = 1) -> datetime:
    """A moment early in the next fixed rate-limit window (so a burst never straddles two)."""
    now = timezone.now()
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=seconds)


@pytest.fixture(autouse=True)
def relying_party(settings: Any) -> Any:
    settings.WEBAUTHN_RP_ID = DEFAULT_RP_ID
    settings.WEBAUTHN_RP_NAME = "Mana"
    settings.WEBAUTHN_ORIGINS = [DEFAULT_ORIGIN]
    return settings


@pytest.fixture
def authenticator() -> Callable[..., SoftAuthenticator]:
    return SoftAuthenticator


def register_options(client: APIClient, password: str | None = PASSWORD) -> Any:
    body = {"password": password} if password else {}
    return client.post(f"{BASE}register/options", body, format="json")


def register_verify(client: APIClient, credential: dict[str, Any], name: str = "") -> Any:
    body: dict[str, Any] = {"credential": credential}
    if name:
        body["name"] = name
    return client.post(f"{BASE}register/verify", body, format="json")


def sign_in_options(client: APIClient, email: str | None = None) -> Any:
    return client.post(
        f"{BASE}authenticate/options", {"email": email} if email else {}, format="json"
    )


def sign_in_verify(
    client: APIClient, ceremony_id: str | None, credential: dict[str, Any], **extra: Any
) -> Any:
    """The contract's body is ``{credential}``; ``ceremony_id`` None leaves the optional id out."""
    body: dict[str, Any] = {"credential": credential}
    if ceremony_id is not None:
        body["ceremonyId"] = ceremony_id
    return client.post(f"{BASE}authenticate/verify", body, format="json", **extra)


@pytest.fixture
def passkey_user(auth_client: Callable[..., APIClient]) -> Callable[..., Any]:
    """A signed-in client with one registered passkey: ``(client, authenticator, passkey)``."""

    def make(**authenticator_options: Any) -> tuple[APIClient, SoftAuthenticator, dict]:
        client = auth_client()
        device = SoftAuthenticator(**authenticator_options)
        options = register_options(client).json()
        response = register_verify(client, device.create(options), name="Laptop")
        assert response.status_code == 201, response.content
        return client, device, response.json()

    return make


@pytest.fixture
def passkey_sign_in() -> Callable[..., Any]:
    """Run options → assertion → verify; keyword arguments tamper with the assertion."""

    def run(
        device: SoftAuthenticator,
        email: str | None = None,
        client: APIClient | None = None,
        **tamper: Any,
    ) -> Any:
        api = client or APIClient()
        options = sign_in_options(api, email)
        assert options.status_code == 200, options.content
        body = options.json()
        # The contract's body: the credential alone (the challenge in it finds the ceremony).
        return sign_in_verify(api, None, device.get(body, **tamper))

    return run
