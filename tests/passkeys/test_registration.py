"""Passkey registration: re-authentication, the options, and every check on the attestation."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import cbor2
import pytest
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import Passkey, Session
from security.models import SecurityEvent
from tests.conftest import login_tokens
from tests.passkeys.authenticator import AAGUID, SoftAuthenticator, unb64
from tests.passkeys.conftest import (
    BASE,
    next_minute,
    register_options,
    register_verify,
    sign_in_options,
)

pytestmark = pytest.mark.django_db


def stale(client):
    """Move the client's sign-in outside the re-authentication window."""
    Session.objects.filter(user=client.user).update(auth_time=timezone.now() - timedelta(hours=1))


def test_capability_tells_the_login_page_passkeys_are_offered(api_client):
    response = api_client.get(f"{BASE}capability")
    assert response.status_code == 200
    assert response.json() == {"available": True, "rpId": "localhost", "rpName": "Mana"}


def test_capability_reports_unavailable_without_trusted_origins(api_client, settings):
    settings.WEBAUTHN_ORIGINS = []
    assert api_client.get(f"{BASE}capability").json()["available"] is False


def test_every_contract_route_is_mounted(api_client):
    """The predecessor shipped the schema without the routes: every login page got a 404."""
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    for route in (
        "capability",
        "register/options",
        "register/verify",
        "authenticate/options",
        "authenticate/verify",
        "{passkey_id}",
    ):
        assert f"/api/v1/auth/passkeys/{route}" in schema
    assert api_client.post(f"{BASE}authenticate/options", {}, format="json").status_code == 200


def test_register_options_exclude_existing_credentials_and_prefer_resident_keys(
    passkey_user,
):
    client, device, _ = passkey_user()
    response = register_options(client)
    assert response.status_code == 200
    options = response.json()
    assert options["rp"] == {"id": "localhost", "name": "Mana"}
    assert unb64(options["user"]["id"]) == client.user.id.bytes
    assert options["user"]["name"] == client.user.email
    assert len(unb64(options["challenge"])) >= 16
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == [
        {"id": device.credential_id_b64, "type": "public-key", "transports": ["internal"]}
    ]


def test_register_stores_the_key_records_the_event_and_mails_the_owner(auth_client, mailoutbox):
    client = auth_client()
    mailoutbox.clear()
    device = SoftAuthenticator(backup_eligible=True, backed_up=True)
    credential = device.create(register_options(client).json())
    response = register_verify(client, credential, name="  Phone  ")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Phone"
    assert body["credentialId"] == device.credential_id_b64
    assert body["deviceType"] == "multi_device" and body["backedUp"] is True
    assert body["lastUsedAt"] is None
    passkey = Passkey.objects.get(id=body["id"])
    assert passkey.user == client.user
    assert bytes(passkey.credential_id) == device.credential_id
    assert bytes(passkey.public_key) == device.cose_public_key()
    assert passkey.aaguid == str(uuid.UUID(bytes=AAGUID))
    assert passkey.transports == ["internal"]
    event = SecurityEvent.objects.get(user=client.user, type="PASSKEY_ADDED")
    assert event.metadata["passkeyId"] == str(passkey.id)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [client.user.email]
    assert "A passkey was added" in mailoutbox[0].body


def test_the_factor_mail_speaks_the_owners_language(user_factory, auth_client, mailoutbox):
    client = auth_client(user_factory(locale="de"))
    mailoutbox.clear()
    credential = SoftAuthenticator().create(register_options(client).json())
    assert register_verify(client, credential).status_code == 201
    assert "Ein Passkey wurde hinzugefügt" in mailoutbox[0].body
    assert Passkey.objects.get(user=client.user).name == "Passkey"


def test_register_options_need_a_bearer_token(api_client):
    response = api_client.post(f"{BASE}register/options", {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_register_options_need_a_fresh_sign_in_or_the_password(auth_client):
    client = auth_client()
    stale(client)
    response = register_options(client, password=None)
    assert response.status_code == 401
    assert response.json()["code"] == "REAUTH_REQUIRED"
    response = register_options(client, password="not-the-password-1")
    assert response.status_code == 401
    assert response.json()["code"] == "REAUTH_REQUIRED"
    assert register_options(client).status_code == 200


def test_a_fresh_sign_in_is_re_authentication_enough(auth_client):
    client = auth_client()
    assert register_options(client, password=None).status_code == 200


def test_register_verify_without_pending_options_is_refused(auth_client):
    client = auth_client()
    options = register_options(client).json()
    stateless = SoftAuthenticator().create(options)
    from accounts.passkeys import challenges

    assert challenges.registration_take(user_id=client.user.id) is not None  # gone now
    response = register_verify(client, stateless)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert not Passkey.objects.exists()


def test_a_registration_challenge_is_used_once(auth_client):
    client = auth_client()
    options = register_options(client).json()
    assert register_verify(client, SoftAuthenticator().create(options)).status_code == 201
    response = register_verify(client, SoftAuthenticator().create(options))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert Passkey.objects.count() == 1


def test_a_registration_challenge_expires_after_five_minutes(auth_client):
    client = auth_client()
    options = register_options(client).json()
    with freeze_time(timezone.now() + timedelta(minutes=6)):
        response = register_verify(client, SoftAuthenticator().create(options))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"


def test_a_registration_challenge_belongs_to_the_session_that_asked(auth_client):
    client = auth_client()
    options = register_options(client).json()
    other_session = APIClient()
    tokens = login_tokens(other_session, client.user)
    other_session.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    response = register_verify(other_session, SoftAuthenticator().create(options))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"


def test_a_registration_challenge_belongs_to_the_user_who_asked(auth_client):
    alice, mallory = auth_client(), auth_client()
    options = register_options(alice).json()
    register_options(mallory)
    response = register_verify(mallory, SoftAuthenticator().create(options))
    assert response.status_code == 401
    assert not Passkey.objects.exists()


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"challenge": base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()},
        {"client_data_type": "webauthn.get"},
        {"up": False},
    ],
    ids=["origin", "rpIdHash", "challenge", "type", "user-presence"],
)
def test_a_tampered_attestation_is_refused(auth_client, mailoutbox, tamper):
    client = auth_client()
    mailoutbox.clear()
    credential = SoftAuthenticator().create(register_options(client).json(), **tamper)
    response = register_verify(client, credential)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert not Passkey.objects.exists()
    assert not SecurityEvent.objects.filter(type="PASSKEY_ADDED").exists()
    assert mailoutbox == []


def test_a_credential_type_other_than_public_key_is_refused(auth_client):
    client = auth_client()
    credential = SoftAuthenticator().create(register_options(client).json())
    credential["type"] = "password"
    response = register_verify(client, credential)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"


def test_a_garbled_attestation_is_a_verification_failure_not_a_crash(auth_client):
    client = auth_client()
    credential = SoftAuthenticator().create(register_options(client).json())
    credential["response"]["attestationObject"] = "bm90LWNib3I"
    response = register_verify(client, credential)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"


def test_a_register_body_without_a_credential_is_a_validation_error(auth_client):
    client = auth_client()
    response = client.post(f"{BASE}register/verify", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "credential" in response.json()["details"]["fields"]


def test_a_credential_id_registered_to_another_user_is_refused(passkey_user, auth_client):
    _, victim_device, victim_passkey = passkey_user()
    attacker = auth_client()
    # Same credential id, the attacker's own key: must never shadow the victim's passkey.
    impostor = SoftAuthenticator(credential_id=victim_device.credential_id)
    response = register_verify(attacker, impostor.create(register_options(attacker).json()))
    # The answer of any failed verification, not 409: a distinct answer would tell a real
    # credential id (copied from allowCredentials) from a decoy.
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    row = Passkey.objects.get(credential_id_b64=victim_device.credential_id_b64)
    assert str(row.id) == victim_passkey["id"]
    assert bytes(row.public_key) == victim_device.cose_public_key()
    assert not Passkey.objects.filter(user=attacker.user).exists()


def test_registering_a_copied_id_answers_alike_for_a_real_passkey_and_a_decoy(
    passkey_user, auth_client, settings
):
    """Registration is no oracle over the passkey options' decoys (attacker's review, finding
    3): an id copied from a real account's ``allowCredentials`` and one copied from an unknown
    address's decoy list are refused with the same answer as any failed verification, while
    the attacker's own fresh id is accepted."""
    settings.RATE_LIMITS_ENABLED = False
    victim, _, _ = passkey_user()
    api = APIClient()
    real_id = sign_in_options(api, victim.user.email).json()["allowCredentials"][0]["id"]
    decoy_id = sign_in_options(api, "nobody-here@example.org").json()["allowCredentials"][0]["id"]
    attacker = auth_client()
    answers = []
    for copied in (real_id, decoy_id):
        device = SoftAuthenticator(credential_id=unb64(copied))
        response = register_verify(attacker, device.create(register_options(attacker).json()))
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][1]["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert not Passkey.objects.filter(user=attacker.user).exists()
    fresh = SoftAuthenticator()
    accepted = register_verify(attacker, fresh.create(register_options(attacker).json()))
    assert accepted.status_code == 201


def test_registering_the_same_credential_twice_is_refused(passkey_user):
    client, device, _ = passkey_user()
    device.sign_count = 0
    response = register_verify(client, device.create(register_options(client).json()))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert Passkey.objects.filter(user=client.user).count() == 1


def test_a_credential_id_up_to_1023_bytes_is_accepted(auth_client):
    client = auth_client()
    device = SoftAuthenticator(credential_id=b"\x01" * 1023)
    response = register_verify(client, device.create(register_options(client).json()))
    assert response.status_code == 201
    assert len(bytes(Passkey.objects.get().credential_id)) == 1023


def test_a_credential_id_over_1023_bytes_is_refused(auth_client):
    client = auth_client()
    device = SoftAuthenticator(credential_id=b"\x01" * 1024)
    response = register_verify(client, device.create(register_options(client).json()))
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert not Passkey.objects.exists()


def test_unknown_transports_are_dropped(auth_client):
    client = auth_client()
    credential = SoftAuthenticator().create(
        register_options(client).json(), transports=("usb", "carrier-pigeon", "usb", "hybrid")
    )
    assert register_verify(client, credential).json()["transports"] == ["usb", "hybrid"]


def test_register_options_count_toward_the_per_ip_limit(auth_client):
    client = auth_client()
    with freeze_time(next_minute()):
        codes = [register_options(client).status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]


@pytest.mark.parametrize(
    "cose_key",
    [
        cbor2.dumps({1: 2, -1: 1, -2: b"\x01" * 32, -3: b"\x02" * 32}),  # no alg
        cbor2.dumps({1: 2, 3: -7, -1: 1, -2: b"\x01" * 32, -3: b"\x02" * 32}),  # not on P-256
        cbor2.dumps({1: 2, 3: -36, -1: 3, -2: b"\x01" * 66, -3: b"\x02" * 66}),  # ES512
        cbor2.dumps(5),
    ],
    ids=["missing-alg", "invalid-point", "unsupported-alg", "not-a-map"],
)
def test_a_public_key_that_could_never_verify_is_refused(auth_client, cose_key):
    client = auth_client()
    credential = SoftAuthenticator().create(register_options(client).json(), cose_key=cose_key)
    response = register_verify(client, credential)
    assert response.status_code == 401
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    assert not Passkey.objects.exists()
