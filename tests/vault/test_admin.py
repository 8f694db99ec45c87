"""The operators' console shows vault metadata, one user at a time, and never key material."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from accounts.models import User
from tests.vault.conftest import RECOVERY, vault_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(settings) -> Client:
    # The console's OTP gate is tested with the security app; here it is the vault's pages.
    settings.ADMIN_TOTP_ENFORCED = False
    admin = User.objects.create_superuser(email="ops@example.com", password="x" * 20)
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def vault_user(client_, init):
    init()
    client_.post("/api/v1/me/encryption-vault/recovery-wrap", RECOVERY, format="json")
    return client_.user


def _secrets(user: User) -> list[str]:
    vault = vault_row(user)
    wrapped, iv = bytes(vault.wrapped_mk), bytes(vault.wrap_iv)
    return [
        base64.b64encode(wrapped).decode(),
        wrapped.hex(),
        base64.b64encode(iv).decode(),
        iv.hex(),
        vault.recovery_wrapped_mk,
        vault.recovery_iv,
    ]


def _assert_no_secrets(html: str, user: User) -> None:
    for secret in _secrets(user):
        assert secret not in html


def test_vault_list_shows_metadata_for_the_searched_user(operator, vault_user):
    response = operator.get("/admin/vault/vault/", {"q": vault_user.email})

    assert response.status_code == 200
    html = response.content.decode()
    assert vault_user.email in html
    assert vault_row(vault_user).kek_id in html
    _assert_no_secrets(html, vault_user)


def test_vault_detail_is_read_only_metadata(operator, vault_user):
    response = operator.get(f"/admin/vault/vault/{vault_user.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert vault_row(vault_user).kek_id in html
    assert "Recovery set at" in html
    assert "View vault" in html
    assert 'name="_save"' not in html
    _assert_no_secrets(html, vault_user)


def test_audit_list_shows_the_users_actions(operator, vault_user):
    response = operator.get("/admin/vault/vaultaudit/", {"q": str(vault_user.pk)})

    assert response.status_code == 200
    html = response.content.decode()
    assert "recovery_set" in html or "Recovery wrap set" in html
    _assert_no_secrets(html, vault_user)


def test_operators_cannot_add_change_or_delete(operator, vault_user):
    assert operator.get("/admin/vault/vault/add/").status_code == 403
    assert operator.post(f"/admin/vault/vault/{vault_user.pk}/delete/").status_code == 403
    assert vault_row(vault_user) is not None


def test_under_row_level_security_the_list_needs_a_user(operator, vault_user, app_role):
    app_role.enter()
    unscoped = operator.get("/admin/vault/vault/")
    scoped = operator.get("/admin/vault/vault/", {"q": vault_user.email})
    detail = operator.get(f"/admin/vault/vault/{vault_user.pk}/change/")
    app_role.leave()

    assert vault_user.email not in unscoped.content.decode()
    assert vault_user.email in scoped.content.decode()
    assert detail.status_code == 200
