"""Fixtures for the vault: signed-in clients, audit/event readers, RSA keys, database roles."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Session, User
from security.models import SecurityEvent
from vault import selectors
from vault.models import Vault, VaultAudit
from vault.rls import vault_scope

BASE = "/api/v1/me/encryption-vault/"
GRANT_URL = "/api/v1/me/ai-mission-grant"
RECOVERY = {
    "recoveryWrappedMk": base64.b64encode(b"r" * 48).decode(),
    "recoveryIv": "AAECAwQFBgcICQoL",
}


def b64d(value: str) -> bytes:
    return base64.b64decode(value)


def vault_row(user: User) -> Vault | None:
    with vault_scope(user.pk):
        return Vault.objects.filter(user_id=user.pk).first()


def audit_rows(user: User) -> list[VaultAudit]:
    """The user's audit rows, oldest first."""
    return list(reversed(selectors.vault_audit_for_user(user=user)))


def events(user: User, type_: str) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(user=user, type=type_))


@pytest.fixture
def client_(auth_client: Callable[..., APIClient]) -> APIClient:
    """A signed-in client (a fresh sign-in, so re-authentication is satisfied)."""
    return auth_client()


@pytest.fixture
def init(client_: APIClient) -> Callable[..., bytes]:
    def make(client: APIClient | None = None) -> bytes:
        response = (client or client_).post(BASE + "init")
        assert response.status_code == 200, response.content
        return b64d(response.json()["masterKey"])

    return make


def make_stale(client: APIClient) -> None:
    """Age the client's sign-in past the re-authentication window."""
    Session.objects.filter(user=client.user).update(  # type: ignore[attr-defined]
        auth_time=timezone.now() - timedelta(days=1)
    )


def zk_on(client: APIClient) -> None:
    assert client.post(BASE + "recovery-wrap", RECOVERY, format="json").status_code == 200
    response = client.post(BASE + "zero-knowledge", {"enable": True}, format="json")
    assert response.status_code == 200, response.content


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def grant_key(settings: Any, rsa_private_key: rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    """Configure mana-ai's public key; the test holds the private half."""
    settings.MANA_AI_PUBLIC_KEY_PEM = public_pem(rsa_private_key)
    return rsa_private_key


@dataclass
class AppRole:
    """An ordinary (non-superuser) database role the test connection can switch to, so the
    row-level-security policies bind as they do in production."""

    name: str
    owner: bool

    def enter(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {self.name}")

    def leave(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")

    def current(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            return cursor.fetchone()[0]


def grant_table_access(cursor: Any, role: str) -> None:
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")


@pytest.fixture(params=["non-owner", "owner"])
def app_role(request: Any, db: Any) -> AppRole:
    """Created inside the test's transaction, so it vanishes with the rollback. As ``owner``
    the vault tables belong to the role: FORCE ROW LEVEL SECURITY must bind it all the same."""
    role = AppRole(name=f"mana_vault_app_{uuid.uuid4().hex[:10]}", owner=request.param == "owner")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role.name} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        grant_table_access(cursor, role.name)
        if role.owner:
            cursor.execute(f"ALTER TABLE encryption_vaults OWNER TO {role.name}")
            cursor.execute(f"ALTER TABLE encryption_vault_audit OWNER TO {role.name}")
    # No RESET ROLE on the way out: the rollback of the test's transaction undoes SET ROLE.
    return role
