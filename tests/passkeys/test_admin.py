"""The operators' console for passkeys: read-only, no key material, removal via the service."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import AdminSite
from django.test import RequestFactory

from accounts.models import Passkey
from accounts.passkeys.admin import PasskeyAdmin
from security.models import SecurityEvent

pytestmark = pytest.mark.django_db


def console(admin_user):
    request = RequestFactory().post("/admin/accounts/passkey/", REMOTE_ADDR="10.1.2.3")
    request.user = admin_user
    return PasskeyAdmin(Passkey, AdminSite()), request


def test_the_console_shows_no_key_material_and_cannot_add_or_edit(admin_user):
    model_admin, request = console(admin_user)
    shown = set(model_admin.fields) | set(model_admin.list_display)
    assert not shown & {"public_key", "credential_id", "credential_id_b64"}
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False


def test_removing_from_the_console_audits_and_tells_the_owner(passkey_user, admin_user, mailoutbox):
    client, _, passkey = passkey_user()
    mailoutbox.clear()
    model_admin, request = console(admin_user)
    model_admin.delete_queryset(request, Passkey.objects.filter(id=passkey["id"]))
    assert not Passkey.objects.exists()
    event = SecurityEvent.objects.get(type="PASSKEY_REMOVED")
    assert event.user == client.user
    assert event.metadata == {"passkeyId": passkey["id"], "actorId": str(admin_user.pk)}
    assert event.ip_address == "10.1.2.3"
    assert [mail.to for mail in mailoutbox] == [[client.user.email]]
