"""Managing passkeys: the whole life cycle, list, rename, remove — each only one's own."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Passkey, Session
from security.models import SecurityEvent
from tests.passkeys.authenticator import SoftAuthenticator
from tests.passkeys.conftest import BASE, register_options, register_verify

pytestmark = pytest.mark.django_db


def test_register_list_sign_in_rename_delete(auth_client, passkey_sign_in, mailoutbox):
    client = auth_client()
    mailoutbox.clear()
    device = SoftAuthenticator()
    registered = register_verify(client, device.create(register_options(client).json()), "Key")
    assert registered.status_code == 201
    passkey_id = registered.json()["id"]

    listed = client.get(BASE)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [passkey_id]
    assert listed.json()["items"][0]["name"] == "Key"

    signed_in = passkey_sign_in(device, email=client.user.email)
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["id"] == str(client.user.id)
    assert client.get(BASE).json()["items"][0]["lastUsedAt"] is not None

    renamed = client.patch(f"{BASE}{passkey_id}", {"name": "YubiKey"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "YubiKey"
    assert Passkey.objects.get(id=passkey_id).name == "YubiKey"

    deleted = client.delete(
        f"{BASE}{passkey_id}", {"password": client.user.raw_password}, format="json"
    )
    assert deleted.status_code == 204
    assert client.get(BASE).json() == {"items": []}
    assert not Passkey.objects.exists()

    events = list(
        SecurityEvent.objects.filter(user=client.user, type__startswith="PASSKEY_")
        .order_by("created_at")
        .values_list("type", flat=True)
    )
    assert events == ["PASSKEY_ADDED", "PASSKEY_RENAMED", "PASSKEY_REMOVED"]
    removed = SecurityEvent.objects.get(type="PASSKEY_REMOVED")
    assert removed.metadata == {"passkeyId": passkey_id}
    assert [mail.body.splitlines()[2] for mail in mailoutbox] == [
        "A passkey was added on your Mana account.",
        "A passkey was removed on your Mana account.",
    ]
    # The removed passkey no longer signs in.
    response = passkey_sign_in(device)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"


def test_the_list_shows_only_my_passkeys_without_key_material(passkey_user):
    mine, _, my_passkey = passkey_user()
    passkey_user()
    items = mine.get(BASE).json()["items"]
    assert [item["id"] for item in items] == [my_passkey["id"]]
    assert set(items[0]) == {
        "id",
        "name",
        "credentialId",
        "aaguid",
        "transports",
        "deviceType",
        "backedUp",
        "createdAt",
        "lastUsedAt",
    }


def test_listing_needs_a_bearer_token(api_client):
    response = api_client.get(BASE)
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_someone_elses_passkey_is_not_found(passkey_user):
    _, _, victims = passkey_user()
    attacker, _, _ = passkey_user()
    rename = attacker.patch(f"{BASE}{victims['id']}", {"name": "pwned"}, format="json")
    assert rename.status_code == 404 and rename.json()["code"] == "NOT_FOUND"
    delete = attacker.delete(
        f"{BASE}{victims['id']}", {"password": attacker.user.raw_password}, format="json"
    )
    assert delete.status_code == 404 and delete.json()["code"] == "NOT_FOUND"
    assert Passkey.objects.get(id=victims["id"]).name == "Laptop"
    assert not SecurityEvent.objects.filter(type__in=["PASSKEY_RENAMED", "PASSKEY_REMOVED"])


@pytest.mark.parametrize("passkey_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_passkey_id_is_not_found(auth_client, passkey_id):
    response = auth_client().patch(f"{BASE}{passkey_id}", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert not SecurityEvent.objects.filter(type="PASSKEY_RENAMED").exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_rename_needs_a_sensible_name(passkey_user, name):
    client, _, passkey = passkey_user()
    response = client.patch(f"{BASE}{passkey['id']}", {"name": name}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "name" in response.json()["details"]["fields"]


def test_removing_a_passkey_needs_re_authentication(passkey_user, mailoutbox):
    client, _, passkey = passkey_user()
    mailoutbox.clear()
    Session.objects.filter(user=client.user).update(auth_time=timezone.now() - timedelta(hours=1))
    for body in ({}, {"password": "wrong-password-1"}):
        response = client.delete(f"{BASE}{passkey['id']}", body, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "REAUTH_REQUIRED"
    assert Passkey.objects.filter(id=passkey["id"]).exists()
    assert mailoutbox == []
    response = client.delete(
        f"{BASE}{passkey['id']}", {"password": client.user.raw_password}, format="json"
    )
    assert response.status_code == 204
    assert len(mailoutbox) == 1


def test_a_fresh_sign_in_may_remove_a_passkey_without_the_password(passkey_user):
    client, _, passkey = passkey_user()
    assert client.delete(f"{BASE}{passkey['id']}").status_code == 204
    assert not Passkey.objects.filter(id=passkey["id"]).exists()
    assert SecurityEvent.objects.filter(type="PASSKEY_REMOVED", user=client.user).count() == 1


def test_a_user_may_hold_several_passkeys(auth_client):
    client = auth_client()
    first, second = SoftAuthenticator(), SoftAuthenticator()
    register_verify(client, first.create(register_options(client).json()), "One")
    options = register_options(client).json()
    assert [c["id"] for c in options["excludeCredentials"]] == [first.credential_id_b64]
    register_verify(client, second.create(options), "Two")
    assert [item["name"] for item in client.get(BASE).json()["items"]] == ["One", "Two"]
    listed = APIClient().post(
        f"{BASE}authenticate/options", {"email": client.user.email}, format="json"
    )
    assert [c["id"] for c in listed.json()["allowCredentials"]] == [
        first.credential_id_b64,
        second.credential_id_b64,
    ]
