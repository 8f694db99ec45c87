"""Mission key grants: issued over HTTP, opened with the receiving-side library function."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from security.models import EventType, SecurityEvent
from tests.vault.conftest import (
    GRANT_URL,
    audit_rows,
    events,
    private_pem,
    public_pem,
    zk_on,
)
from vault import grants
from vault.grants import GrantRejected, GrantUnwrapped, unwrap_mission_grant

pytestmark = pytest.mark.django_db


def _issue(client, mission_id="mission-42", **extra):
    return client.post(GRANT_URL, {"missionId": mission_id, **extra}, format="json")


def test_grant_round_trip_yields_the_hkdf_of_the_master_key(client_, init, grant_key):
    master_key = init()

    response = _issue(client_, ttlSeconds=7200)

    assert response.status_code == 200
    grant = response.json()
    assert grant["derivation"] == {
        "kdf": "HKDF-SHA256",
        "salt": "mana-mission-grant/v1",
        "info": "mission:mission-42",
        "length": 32,
        "wrap": "RSA-OAEP-SHA256",
    }
    assert grant["missionId"] == "mission-42"
    assert grant["userId"] == str(client_.user.pk)
    issued = datetime.fromisoformat(grant["issuedAt"])
    assert datetime.fromisoformat(grant["expiresAt"]) - issued == timedelta(hours=2)

    opened = unwrap_mission_grant(grant, private_key=grant_key)

    assert isinstance(opened, GrantUnwrapped)
    assert opened.key == grants.derive_mission_key(master_key, "mission-42")
    assert opened.key != master_key
    assert (opened.user_id, opened.mission_id) == (str(client_.user.pk), "mission-42")
    assert unwrap_mission_grant(grant, private_key=private_pem(grant_key)).ok is True


def _contract_receiver(grant: dict, private_key: rsa.RSAPrivateKey) -> bytes:
    """What a client written only from the contract does: RSA-OAEP with SHA-256, MGF1-SHA-256
    and no label over ``wrappedKey``."""
    return private_key.decrypt(
        base64.b64decode(grant["wrappedKey"]),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )


def _derive_as_stated(derivation: dict, master_key: bytes) -> bytes:
    """Re-derive the mission key from nothing but what ``derivation`` states."""
    assert derivation["kdf"] == "HKDF-SHA256"
    return HKDF(
        algorithm=hashes.SHA256(),
        length=derivation["length"],
        salt=derivation["salt"].encode(),
        info=derivation["info"].encode(),
    ).derive(master_key)


def test_a_receiver_written_from_the_contract_opens_the_grant(client_, init, grant_key):
    master_key = init()

    grant = _issue(client_, "mission-7").json()

    assert grant["derivation"]["wrap"] == "RSA-OAEP-SHA256"
    assert "label" not in grant["derivation"]
    mission_key = _contract_receiver(grant, grant_key)
    assert len(mission_key) == 32
    assert mission_key == _derive_as_stated(grant["derivation"], master_key)
    opened = unwrap_mission_grant(grant, private_key=grant_key)
    assert opened.ok and opened.key == mission_key and opened.context_bound is False


def test_an_opted_in_labelled_grant_states_its_label_completely(client_, init, grant_key, settings):
    settings.MISSION_GRANT_BIND_CONTEXT = True
    master_key = init()

    grant = _issue(client_, "mission-8").json()

    derivation = grant["derivation"]
    assert derivation["wrap"] == "RSA-OAEP-SHA256-LABEL"
    assert derivation["label"] == {
        "template": "mana-mission-grant/v1\n{userId}\n{missionId}\n{issuedAt}\n{expiresAt}",
        "encoding": "utf-8",
        "timestamps": "unix-seconds",
    }
    # A receiver that follows the statement: fill the template from the grant's own fields.
    label = derivation["label"]["template"].format(
        userId=grant["userId"],
        missionId=grant["missionId"],
        issuedAt=int(datetime.fromisoformat(grant["issuedAt"]).timestamp()),
        expiresAt=int(datetime.fromisoformat(grant["expiresAt"]).timestamp()),
    )
    mission_key = grant_key.decrypt(
        base64.b64decode(grant["wrappedKey"]),
        padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label.encode()
        ),
    )
    assert mission_key == _derive_as_stated(derivation, master_key)
    opened = unwrap_mission_grant(grant, private_key=grant_key)
    assert opened.ok and opened.key == mission_key and opened.context_bound is True
    with pytest.raises(ValueError):  # by design: a contract-only receiver cannot open it
        _contract_receiver(grant, grant_key)


def test_a_grant_labelled_before_wrap_said_so_still_opens(rsa_private_key):
    """Grants issued before the default became label-free carried the label but named the
    plain wrap; they stay openable until they expire."""
    master_key = bytes(range(32))
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    grant = grants.issue_mission_grant(
        master_key=master_key,
        public_key=rsa_private_key.public_key(),
        user_id="u-1",
        mission_id="m-1",
        ttl_seconds=None,
        now=now,
        bind_context=True,
    )
    wire = {
        "wrappedKey": base64.b64encode(grant.wrapped_key).decode(),
        "derivation": {**grant.derivation, "wrap": "RSA-OAEP-SHA256"},
        "userId": "u-1",
        "missionId": "m-1",
        "issuedAt": grant.issued_at.isoformat(),
        "expiresAt": grant.expires_at.isoformat(),
    }
    del wire["derivation"]["label"]

    opened = unwrap_mission_grant(wire, private_key=rsa_private_key, now=now)

    assert opened.ok and opened.context_bound is True
    assert opened.key == grants.derive_mission_key(master_key, "m-1")
    stretched = {**wire, "expiresAt": (grant.expires_at + timedelta(days=9)).isoformat()}
    assert unwrap_mission_grant(stretched, private_key=rsa_private_key, now=now) == (
        GrantRejected("wrap-rejected")
    )


def test_each_mission_gets_its_own_key(client_, init, grant_key):
    init()
    first = unwrap_mission_grant(_issue(client_, "a").json(), private_key=grant_key)
    second = unwrap_mission_grant(_issue(client_, "b").json(), private_key=grant_key)
    assert first.key != second.key


def test_grant_is_audited_and_recorded(client_, init, grant_key):
    init()
    _issue(client_)

    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status) == ("grant", 200)
    assert row.context["missionId"] == "mission-42"
    assert row.context["ttlSeconds"] == grants.DEFAULT_TTL_SECONDS
    [event] = events(client_.user, EventType.MISSION_GRANT_ISSUED)
    assert event.metadata == {"missionId": "mission-42", "ttlSeconds": 86400}


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, 86400),
        (1, 3600),
        (-5, 3600),
        (3600, 3600),
        (90000, 90000),
        (30 * 86400, 30 * 86400),
        (10**9, 30 * 86400),
    ],
)
def test_ttl_is_clamped_to_an_hour_and_thirty_days(client_, init, grant_key, requested, granted):
    init()
    body = _issue(client_, **({} if requested is None else {"ttlSeconds": requested})).json()
    lifetime = datetime.fromisoformat(body["expiresAt"]) - datetime.fromisoformat(body["issuedAt"])
    assert lifetime == timedelta(seconds=granted)


def test_grant_is_refused_in_zero_knowledge_mode(client_, init, grant_key):
    init()
    zk_on(client_)

    response = _issue(client_)

    assert response.status_code == 409
    assert response.json()["code"] == "ZK_ACTIVE"
    assert audit_rows(client_.user)[-1].status == 409
    assert events(client_.user, EventType.MISSION_GRANT_ISSUED) == []


def test_grant_without_a_configured_key_is_503(client_, init, settings):
    init()
    settings.MANA_AI_PUBLIC_KEY_PEM = ""

    response = _issue(client_)

    assert response.status_code == 503
    assert response.json()["code"] == "GRANT_NOT_CONFIGURED"
    assert audit_rows(client_.user)[-1].context["code"] == "GRANT_NOT_CONFIGURED"


def test_grant_with_a_key_under_2048_bits_is_503(client_, init, settings):
    init()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    settings.MANA_AI_PUBLIC_KEY_PEM = public_pem(weak)

    response = _issue(client_)

    assert response.status_code == 503
    assert response.json()["code"] == "GRANT_NOT_CONFIGURED"


def _no_warning_or_worse(caplog) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [(r.name, r.levelname, r.getMessage()) for r in loud]


@pytest.mark.parametrize("pem", ["", "weak"])
def test_grant_not_configured_is_logged_at_info_not_error(client_, init, settings, caplog, pem):
    """An unset or unusable grant key is a configuration state, said once at boot: a request
    refused for it answers 503 GRANT_NOT_CONFIGURED and logs one INFO line, no ERROR (no
    traceback, nothing for Sentry's logging integration)."""
    init()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    settings.MANA_AI_PUBLIC_KEY_PEM = public_pem(weak) if pem == "weak" else ""
    caplog.set_level(logging.DEBUG)

    response = _issue(client_)

    assert response.status_code == 503
    assert response.json()["code"] == "GRANT_NOT_CONFIGURED"
    _no_warning_or_worse(caplog)
    said = [r for r in caplog.records if "GRANT_NOT_CONFIGURED" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO]
    assert all(r.exc_info is None for r in caplog.records if r.name != "mana_auth.request")


def test_grant_without_a_vault_is_404(client_, grant_key):
    response = _issue(client_)
    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"missionId": ""},
        {"missionId": "x" * 201},
        {"missionId": "a\nb"},
        {"missionId": "m", "ttlSeconds": "soon"},
    ],
)
def test_grant_validates_its_body(client_, init, grant_key, body):
    init()
    response = client_.post(GRANT_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_grant_needs_a_signed_in_user(api_client):
    response = api_client.post(GRANT_URL, {"missionId": "m"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
    assert "wrappedKey" not in response.json()
    assert not SecurityEvent.objects.filter(type=EventType.MISSION_GRANT_ISSUED).exists()


# --- The receiving side -------------------------------------------------------------------------


@pytest.fixture
def issued(client_, init, grant_key):
    init()
    return _issue(client_, ttlSeconds=3600).json()


def test_an_expired_grant_is_refused(issued, grant_key):
    later = datetime.fromisoformat(issued["expiresAt"]) + timedelta(seconds=1)
    assert unwrap_mission_grant(issued, private_key=grant_key, now=later) == GrantRejected(
        "expired"
    )
    just_before = datetime.fromisoformat(issued["expiresAt"]) - timedelta(seconds=1)
    assert unwrap_mission_grant(issued, private_key=grant_key, now=just_before).ok is True


def test_a_wrong_private_key_is_rejected(issued):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert unwrap_mission_grant(issued, private_key=other) == GrantRejected("wrap-rejected")


@pytest.fixture
def issued_labelled(client_, init, grant_key, settings):
    settings.MISSION_GRANT_BIND_CONTEXT = True
    init()
    return _issue(client_, ttlSeconds=3600).json()


@pytest.mark.parametrize("field", ["expiresAt", "issuedAt", "missionId", "userId"])
def test_an_edited_labelled_grant_no_longer_opens(issued_labelled, grant_key, field):
    issued = issued_labelled
    edited = dict(issued)
    if field == "expiresAt":
        edited[field] = (datetime.fromisoformat(issued[field]) + timedelta(days=29)).isoformat()
    elif field == "issuedAt":
        edited[field] = (datetime.fromisoformat(issued[field]) - timedelta(hours=1)).isoformat()
    else:
        edited[field] = issued[field][:-1] + ("0" if issued[field][-1] != "0" else "1")
    assert unwrap_mission_grant(edited, private_key=grant_key) == GrantRejected("wrap-rejected")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda g: "not a mapping",
        lambda g: {k: v for k, v in g.items() if k != "wrappedKey"},
        lambda g: {**g, "wrappedKey": "%%% not base64 %%%"},
        lambda g: {**g, "wrappedKey": ""},
        lambda g: {**g, "expiresAt": "tomorrow"},
        lambda g: {**g, "expiresAt": "2030-01-01T00:00:00"},  # no time zone
        lambda g: {**g, "expiresAt": g["issuedAt"]},
        lambda g: {**g, "missionId": 42},
        lambda g: {**g, "version": 2},
        lambda g: {**g, "derivation": "RSA-OAEP-SHA256"},
        lambda g: {**g, "derivation": {**g["derivation"], "wrap": "RSA-OAEP-SHA1"}},
    ],
)
def test_a_malformed_grant_is_refused(issued, grant_key, mutate):
    assert unwrap_mission_grant(mutate(issued), private_key=grant_key) == GrantRejected("malformed")


@pytest.mark.parametrize("key", [None, "", "-----BEGIN NONSENSE-----"])
def test_without_a_private_key_grants_are_not_configured(issued, key):
    assert unwrap_mission_grant(issued, private_key=key) == GrantRejected("not-configured")


def test_a_grant_can_be_issued_and_opened_without_the_service(rsa_private_key):
    master_key = bytes(range(32))
    now = datetime(2030, 1, 1, 12, 0, 0, 500, tzinfo=UTC)
    grant = grants.issue_mission_grant(
        master_key=master_key,
        public_key=rsa_private_key.public_key(),
        user_id="u-1",
        mission_id="m-1",
        ttl_seconds=None,
        now=now,
    )
    wire = {
        "wrappedKey": base64.b64encode(grant.wrapped_key).decode(),
        "userId": grant.user_id,
        "missionId": grant.mission_id,
        "issuedAt": grant.issued_at.isoformat(),
        "expiresAt": grant.expires_at.isoformat(),
    }
    opened = unwrap_mission_grant(wire, private_key=rsa_private_key, now=now)
    assert opened.ok and opened.key == grants.derive_mission_key(master_key, "m-1")
    assert grant.issued_at == now.replace(microsecond=0)
