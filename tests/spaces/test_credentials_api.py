"""Space credentials: write-only to users, sealed under the KEK with the Space id as associated
data, revealed only to services holding the service key (audited)."""

from __future__ import annotations

import io
import os
import uuid

import pytest
from django.core.management import call_command

from mana_auth.kek.crypto import UnwrapError, associated_data, kek_id
from mana_auth.kek.keyring import open_sealed
from security.models import SecurityEvent
from spaces.models import SpaceCredential
from spaces.services.credentials import credential_reveal, space_credentials_rewrap

pytestmark = pytest.mark.django_db

SECRET = "smtp-password-Zq8!verysecret"


def _create(client, space, name="Newsletter SMTP", value=SECRET, kind="smtp"):
    return client.post(
        f"/api/v1/spaces/{space.id}/credentials",
        {"kind": kind, "name": name, "value": value},
        format="json",
    )


def test_owner_stores_a_credential_and_never_sees_it_again(auth_client, team):
    client = auth_client(team.owner)
    response = _create(client, team.space)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "spaceId", "kind", "name", "createdBy", "createdAt", "updatedAt"}
    assert SECRET not in response.content.decode()
    credential = SpaceCredential.objects.get(id=body["id"])
    assert SECRET.encode() not in bytes(credential.ciphertext)
    plaintext = open_sealed(
        ciphertext=bytes(credential.ciphertext),
        iv=bytes(credential.iv),
        kek_id=credential.kek_id,
        aad=associated_data("space-credential", team.space.id),
    )
    assert plaintext.decode() == SECRET
    event = SecurityEvent.objects.get(type="SPACE_CREDENTIAL_CREATED")
    assert event.metadata == {
        "spaceId": str(team.space.id),
        "credentialId": body["id"],
        "credentialKind": "smtp",
    }
    assert SECRET not in str(event.metadata)


def test_credential_value_never_appears_in_any_user_facing_response(auth_client, team):
    owner = auth_client(team.owner)
    credential_id = _create(owner, team.space).json()["id"]
    base = f"/api/v1/spaces/{team.space.id}"
    for client in (owner, auth_client(team.admin), auth_client(team.member)):
        for url in (
            "/api/v1/spaces",
            base,
            f"{base}/access",
            f"{base}/members",
            f"{base}/credentials",
            f"{base}/module-permissions",
            "/api/v1/auth/security-events",
        ):
            response = client.get(url)
            assert SECRET not in response.content.decode(), url
    listed = owner.get(f"{base}/credentials").json()
    assert listed["items"][0]["id"] == credential_id
    assert "value" not in listed["items"][0]


def test_members_cannot_list_credentials_admins_can(auth_client, team):
    _create(auth_client(team.owner), team.space)
    url = f"/api/v1/spaces/{team.space.id}/credentials"
    refused = auth_client(team.member).get(url)
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN"
    assert "items" not in refused.json()
    response = auth_client(team.admin).get(url)
    assert response.status_code == 200
    assert response.json()["total"] == 1


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_the_owner_stores_or_deletes_credentials(auth_client, team, role):
    client = auth_client(getattr(team, role))
    response = _create(client, team.space)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert not SpaceCredential.objects.exists()
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    deleted = client.delete(f"/api/v1/spaces/{team.space.id}/credentials/{credential_id}")
    assert deleted.status_code == 403
    assert deleted.json()["code"] == "FORBIDDEN"
    assert SpaceCredential.objects.filter(id=credential_id).exists()
    assert not SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_DELETED").exists()


def test_duplicate_credential_name_conflicts(auth_client, team):
    client = auth_client(team.owner)
    assert _create(client, team.space).status_code == 201
    response = _create(client, team.space)
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_credential_input_is_validated(auth_client, team):
    client = auth_client(team.owner)
    response = _create(client, team.space, kind="password")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "kind" in response.json()["details"]["fields"]
    too_long = _create(client, team.space, value="x" * 9000)
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "VALIDATION_ERROR"
    assert "value" in too_long.json()["details"]["fields"]
    assert not SpaceCredential.objects.exists()


def test_owner_deletes_a_credential(auth_client, team):
    client = auth_client(team.owner)
    credential_id = _create(client, team.space).json()["id"]
    response = client.delete(f"/api/v1/spaces/{team.space.id}/credentials/{credential_id}")
    assert response.status_code == 204
    assert not SpaceCredential.objects.filter(id=credential_id).exists()
    assert SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_DELETED").count() == 1
    again = client.delete(f"/api/v1/spaces/{team.space.id}/credentials/{credential_id}")
    assert again.status_code == 404
    assert again.json()["code"] == "NOT_FOUND"
    assert SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_DELETED").count() == 1


def test_credential_of_another_space_is_404(auth_client, team, space_factory):
    other = space_factory(team.owner, name="Other")
    credential_id = _create(auth_client(team.owner), other).json()["id"]
    response = auth_client(team.owner).delete(
        f"/api/v1/spaces/{team.space.id}/credentials/{credential_id}"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert SpaceCredential.objects.filter(id=credential_id).exists()
    assert not SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_DELETED").exists()


def test_ciphertext_moved_to_another_space_does_not_open(auth_client, team, space_factory):
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    other = space_factory(team.owner, name="Other")
    SpaceCredential.objects.filter(id=credential_id).update(space=other)
    with pytest.raises(UnwrapError):
        credential_reveal(space_id=other.id, credential_id=credential_id, meta=None)


# --- Internal read ----------------------------------------------------------------------------


def test_service_reads_the_decrypted_value_and_it_is_audited(auth_client, team, service_client):
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    response = service_client.get(
        f"/api/v1/internal/spaces/{team.space.id}/credentials/{credential_id}",
        REMOTE_ADDR="10.0.0.7",
    )
    assert response.status_code == 200
    assert response.json()["value"] == SECRET
    assert response.json()["kind"] == "smtp"
    assert response["Cache-Control"] == "no-store"
    event = SecurityEvent.objects.get(type="SPACE_CREDENTIAL_READ")
    assert event.user_id is None
    assert event.ip_address == "10.0.0.7"
    assert event.metadata == {
        "spaceId": str(team.space.id),
        "credentialId": credential_id,
        "credentialKind": "smtp",
    }


@pytest.mark.parametrize("key", [None, "", "wrong-key", "dev-service-key-wrong"])
def test_internal_credential_read_needs_the_service_key(api_client, auth_client, team, key):
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    headers = {} if key is None else {"HTTP_X_SERVICE_KEY": key}
    response = api_client.get(
        f"/api/v1/internal/spaces/{team.space.id}/credentials/{credential_id}", **headers
    )
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    assert SECRET not in response.content.decode()
    assert not SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_READ").exists()


def test_a_users_bearer_token_is_not_a_service_key(auth_client, team):
    owner = auth_client(team.owner)
    credential_id = _create(owner, team.space).json()["id"]
    response = owner.get(f"/api/v1/internal/spaces/{team.space.id}/credentials/{credential_id}")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    assert SECRET not in response.content.decode()
    assert not SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_READ").exists()


def test_internal_read_of_a_mismatched_pair_is_404(
    auth_client, team, space_factory, service_client
):
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    other = space_factory(name="Other")
    for space_id, cred_id in (
        (other.id, credential_id),
        (team.space.id, uuid.uuid4()),
        ("nope", credential_id),
    ):
        response = service_client.get(f"/api/v1/internal/spaces/{space_id}/credentials/{cred_id}")
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert not SecurityEvent.objects.filter(type="SPACE_CREDENTIAL_READ").exists()


def test_unconfigured_service_key_refuses_everyone(api_client, settings, team):
    settings.MANA_SERVICE_KEY = ""
    response = api_client.get(
        f"/api/v1/internal/org/{team.space.id}/member/{team.owner.id}", HTTP_X_SERVICE_KEY=""
    )
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    assert "isMember" not in response.json()


# --- Rewrap -----------------------------------------------------------------------------------


def test_rewrapper_is_registered_with_the_vault():
    from mana_auth.kek.rewrap import rewrappers

    assert rewrappers()["space_credentials"] is space_credentials_rewrap


def test_rewrap_moves_credentials_to_the_active_kek(auth_client, team, settings, service_client):
    old_kek = settings.MANA_AUTH_KEK
    credential_id = _create(auth_client(team.owner), team.space).json()["id"]
    _create(auth_client(team.owner), team.space, name="Second", value="second-value")
    new_kek = os.urandom(32)
    settings.MANA_AUTH_KEK = new_kek
    settings.MANA_AUTH_KEKS_RETIRED = [old_kek]
    out = io.StringIO()
    call_command("rewrap_vaults", "--kind", "space_credentials", "--batch-size", "1", stdout=out)
    assert "space_credentials: re-wrapped 2 of 2" in out.getvalue()
    assert space_credentials_rewrap(batch_size=10) == (0, 2)
    settings.MANA_AUTH_KEKS_RETIRED = []  # the old key is gone; the value still opens
    response = service_client.get(
        f"/api/v1/internal/spaces/{team.space.id}/credentials/{credential_id}"
    )
    assert response.json()["value"] == SECRET
    assert set(SpaceCredential.objects.values_list("kek_id", flat=True)) == {kek_id(new_kek)}
