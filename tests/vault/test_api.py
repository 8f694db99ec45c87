"""The encryption vault over HTTP: init, status, key, rotate, recovery wrap, zero knowledge."""

from __future__ import annotations

import base64

import pytest
from django.db import connection

from mana_auth.kek.crypto import associated_data
from mana_auth.kek.keyring import active_kek_id, open_sealed
from security.models import EventType
from tests.vault.conftest import (
    BASE,
    RECOVERY,
    audit_rows,
    b64d,
    events,
    make_stale,
    vault_row,
    zk_on,
)
from vault.models import Vault

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "status"),
    ("post", "init"),
    ("get", "key"),
    ("post", "rotate"),
    ("post", "recovery-wrap"),
    ("delete", "recovery-wrap"),
    ("post", "zero-knowledge"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_vault_endpoints_require_a_signed_in_user(api_client, method, path):
    response = getattr(api_client, method)(BASE + path, {}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


# --- init ---------------------------------------------------------------------------------------


def test_init_mints_a_vault_wrapped_by_the_active_kek(client_):
    response = client_.post(BASE + "init")

    assert response.status_code == 200
    body = response.json()
    master_key = b64d(body["masterKey"])
    assert len(master_key) == 32
    assert body["formatVersion"] == 1
    assert body["kekId"] == active_kek_id()
    vault = vault_row(client_.user)
    assert vault is not None and not vault.zero_knowledge
    assert len(bytes(vault.wrap_iv)) == 12
    assert master_key not in bytes(vault.wrapped_mk)
    stored = open_sealed(
        ciphertext=bytes(vault.wrapped_mk),
        iv=bytes(vault.wrap_iv),
        kek_id=vault.kek_id,
        aad=associated_data("vault-mk", client_.user.pk),
    )
    assert stored == master_key
    assert len(events(client_.user, EventType.VAULT_CREATED)) == 1


def test_init_is_idempotent(client_, init):
    first = init()
    second = init()

    assert first == second
    assert len(events(client_.user, EventType.VAULT_CREATED)) == 1


def test_init_writes_an_audit_row_per_call_with_client_details(client_):
    client_.post(BASE + "init", HTTP_USER_AGENT="vault-test/1.0", REMOTE_ADDR="203.0.113.9")
    client_.post(BASE + "init", HTTP_USER_AGENT="vault-test/1.0", REMOTE_ADDR="203.0.113.9")

    rows = audit_rows(client_.user)
    assert [(row.action, row.status) for row in rows] == [("init", 200), ("init", 200)]
    assert [row.context["created"] for row in rows] == [True, False]
    assert rows[0].ip_address == "203.0.113.9"
    assert rows[0].user_agent == "vault-test/1.0"


def test_init_in_zero_knowledge_mode_returns_the_recovery_blob(client_, init):
    init()
    zk_on(client_)

    response = client_.post(BASE + "init")

    assert response.status_code == 200
    assert response.json() == {
        "requiresRecoveryCode": True,
        "recoveryWrappedMk": RECOVERY["recoveryWrappedMk"],
        "recoveryIv": RECOVERY["recoveryIv"],
        "formatVersion": 1,
    }
    assert audit_rows(client_.user)[-1].context == {"created": False, "mode": "zk-recovery-blob"}


# --- status -------------------------------------------------------------------------------------


def _status(client):
    response = client.get(BASE + "status")
    assert response.status_code == 200
    return response.json()


def test_status_without_a_vault_says_so(client_):
    assert _status(client_) == {
        "vaultExists": False,
        "hasRecoveryWrap": False,
        "zeroKnowledge": False,
        "recoverySetAt": None,
    }


def test_status_after_init_has_no_recovery_wrap(client_, init):
    init()
    body = _status(client_)
    assert body["vaultExists"] is True
    assert body["hasRecoveryWrap"] is False
    assert body["zeroKnowledge"] is False


def test_status_after_recovery_wrap_is_set(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")
    body = _status(client_)
    assert body["hasRecoveryWrap"] is True
    assert body["zeroKnowledge"] is False
    assert body["recoverySetAt"] is not None


def test_status_in_zero_knowledge_mode(client_, init):
    init()
    zk_on(client_)
    body = _status(client_)
    assert body["zeroKnowledge"] is True
    assert body["hasRecoveryWrap"] is True


def test_status_after_recovery_wrap_is_cleared(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")
    client_.delete(BASE + "recovery-wrap")
    body = _status(client_)
    assert body == {
        "vaultExists": True,
        "hasRecoveryWrap": False,
        "zeroKnowledge": False,
        "recoverySetAt": None,
    }


def test_status_writes_no_audit_row(client_, init):
    init()
    before = len(audit_rows(client_.user))
    _status(client_)
    _status(client_)
    assert len(audit_rows(client_.user)) == before


# --- recovery wrap ------------------------------------------------------------------------------


def test_recovery_wrap_is_stored_verbatim(client_, init):
    init()

    response = client_.post(BASE + "recovery-wrap", RECOVERY, format="json")

    assert response.status_code == 200
    assert response.json()["hasRecoveryWrap"] is True
    vault = vault_row(client_.user)
    assert vault.recovery_wrapped_mk == RECOVERY["recoveryWrappedMk"]
    assert vault.recovery_iv == RECOVERY["recoveryIv"]
    assert vault.recovery_set_at is not None
    assert vault.wrapped_mk is not None  # the server wrap stays until zero knowledge is on
    assert [(r.action, r.status) for r in audit_rows(client_.user)][-1] == ("recovery_set", 200)
    assert len(events(client_.user, EventType.VAULT_RECOVERY_WRAP_SET)) == 1


def test_recovery_wrap_set_without_a_vault_is_404_and_audited(client_):
    response = client_.post(BASE + "recovery-wrap", RECOVERY, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"
    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status, row.context["code"]) == (
        "recovery_set",
        404,
        "VAULT_NOT_FOUND",
    )
    assert events(client_.user, EventType.VAULT_RECOVERY_WRAP_SET) == []


def test_recovery_wrap_set_replaces_the_previous_wrap(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")
    newer = {"recoveryWrappedMk": base64.b64encode(b"n" * 48).decode(), "recoveryIv": "ZZZZ"}

    response = client_.post(BASE + "recovery-wrap", newer, format="json")

    assert response.status_code == 200
    assert vault_row(client_.user).recovery_wrapped_mk == newer["recoveryWrappedMk"]
    assert [r.context.get("replaced") for r in audit_rows(client_.user)][-2:] == [False, True]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recoveryIv": "AAAA"}, "recoveryWrappedMk"),
        ({"recoveryWrappedMk": "AAAA"}, "recoveryIv"),
        ({"recoveryWrappedMk": "", "recoveryIv": "AAAA"}, "recoveryWrappedMk"),
        ({"recoveryWrappedMk": "not base64!", "recoveryIv": "AAAA"}, "recoveryWrappedMk"),
        ({"recoveryWrappedMk": "A" * 2000, "recoveryIv": "AAAA"}, "recoveryWrappedMk"),
    ],
)
def test_recovery_wrap_set_validates_its_body(client_, init, body, field):
    init()
    response = client_.post(BASE + "recovery-wrap", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]["fields"]
    assert vault_row(client_.user).recovery_wrapped_mk is None


def test_recovery_wrap_clear_removes_it(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")

    response = client_.delete(BASE + "recovery-wrap")

    assert response.status_code == 200
    assert response.json()["hasRecoveryWrap"] is False
    vault = vault_row(client_.user)
    assert vault.recovery_wrapped_mk is None and vault.recovery_iv is None
    assert audit_rows(client_.user)[-1].action == "recovery_clear"
    assert len(events(client_.user, EventType.VAULT_RECOVERY_WRAP_CLEARED)) == 1


def test_recovery_wrap_clear_is_refused_in_zero_knowledge_mode(client_, init):
    init()
    zk_on(client_)

    response = client_.delete(BASE + "recovery-wrap")

    assert response.status_code == 409
    assert response.json()["code"] == "ZK_ACTIVE"
    assert vault_row(client_.user).recovery_wrapped_mk == RECOVERY["recoveryWrappedMk"]
    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status) == ("recovery_clear", 409)


def test_recovery_wrap_clear_without_a_vault_is_404(client_):
    response = client_.delete(BASE + "recovery-wrap")
    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"
    assert audit_rows(client_.user)[-1].status == 404


# --- zero knowledge -----------------------------------------------------------------------------


def test_zero_knowledge_enable_drops_the_server_wrap(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")

    response = client_.post(BASE + "zero-knowledge", {"enable": True}, format="json")

    assert response.status_code == 200
    assert response.json()["zeroKnowledge"] is True
    vault = vault_row(client_.user)
    assert vault.zero_knowledge is True
    assert vault.wrapped_mk is None and vault.wrap_iv is None and vault.kek_id == ""
    assert audit_rows(client_.user)[-1].action == "zk_enable"
    assert len(events(client_.user, EventType.VAULT_ZERO_KNOWLEDGE_ENABLED)) == 1


def test_zero_knowledge_enable_needs_a_recovery_wrap(client_, init):
    init()

    response = client_.post(BASE + "zero-knowledge", {"enable": True}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "RECOVERY_WRAP_MISSING"
    assert vault_row(client_.user).zero_knowledge is False
    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status) == ("zk_enable", 400)


def test_zero_knowledge_enable_is_idempotent(client_, init):
    init()
    zk_on(client_)

    response = client_.post(BASE + "zero-knowledge", {"enable": True}, format="json")

    assert response.status_code == 200
    assert response.json()["zeroKnowledge"] is True
    assert len(events(client_.user, EventType.VAULT_ZERO_KNOWLEDGE_ENABLED)) == 1
    assert audit_rows(client_.user)[-1].context == {"changed": False}


def test_zero_knowledge_enable_without_a_vault_is_404(client_):
    response = client_.post(BASE + "zero-knowledge", {"enable": True}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"


def test_zero_knowledge_round_trip_restores_the_clients_key(client_, init):
    master_key = init()
    zk_on(client_)

    response = client_.post(
        BASE + "zero-knowledge",
        {"enable": False, "masterKey": base64.b64encode(master_key).decode()},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["zeroKnowledge"] is False
    key = client_.get(BASE + "key").json()
    assert b64d(key["masterKey"]) == master_key
    assert key["kekId"] == active_kek_id()
    vault = vault_row(client_.user)
    assert vault.recovery_wrapped_mk == RECOVERY["recoveryWrappedMk"]  # kept for next time
    assert len(events(client_.user, EventType.VAULT_ZERO_KNOWLEDGE_DISABLED)) == 1


def test_zero_knowledge_disable_when_off_changes_nothing(client_, init):
    master_key = init()

    response = client_.post(
        BASE + "zero-knowledge",
        {"enable": False, "masterKey": base64.b64encode(b"x" * 32).decode()},
        format="json",
    )

    assert response.status_code == 200
    assert b64d(client_.get(BASE + "key").json()["masterKey"]) == master_key
    assert events(client_.user, EventType.VAULT_ZERO_KNOWLEDGE_DISABLED) == []


@pytest.mark.parametrize(
    "body",
    [
        {"enable": False},
        {"enable": False, "masterKey": "not base64!"},
        {"enable": False, "masterKey": base64.b64encode(b"x" * 31).decode()},
        {"enable": False, "masterKey": base64.b64encode(b"x" * 33).decode()},
        {"masterKey": base64.b64encode(b"x" * 32).decode()},
    ],
)
def test_zero_knowledge_disable_needs_a_32_byte_key(client_, init, body):
    init()
    zk_on(client_)

    response = client_.post(BASE + "zero-knowledge", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert vault_row(client_.user).zero_knowledge is True


def test_zero_knowledge_toggle_needs_recent_authentication(client_, init):
    init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")
    make_stale(client_)

    refused = client_.post(BASE + "zero-knowledge", {"enable": True}, format="json")
    wrong = client_.post(
        BASE + "zero-knowledge", {"enable": True, "password": "wrong password"}, format="json"
    )
    accepted = client_.post(
        BASE + "zero-knowledge",
        {"enable": True, "password": client_.user.raw_password},
        format="json",
    )

    assert (refused.status_code, refused.json()["code"]) == (401, "REAUTH_REQUIRED")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "REAUTH_REQUIRED")
    assert accepted.status_code == 200
    assert [(r.action, r.status) for r in audit_rows(client_.user)][-3:] == [
        ("zk_enable", 401),
        ("zk_enable", 401),
        ("zk_enable", 200),
    ]


# --- key ----------------------------------------------------------------------------------------


def test_key_returns_the_master_key_in_standard_mode(client_, init):
    master_key = init()

    response = client_.get(BASE + "key")

    assert response.status_code == 200
    assert response.json() == {
        "masterKey": base64.b64encode(master_key).decode(),
        "formatVersion": 1,
        "kekId": active_kek_id(),
    }
    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status, row.context) == ("fetch", 200, {"mode": "standard"})


def test_key_returns_the_recovery_blob_in_zero_knowledge_mode(client_, init):
    init()
    zk_on(client_)

    response = client_.get(BASE + "key")

    assert response.status_code == 200
    body = response.json()
    assert body["requiresRecoveryCode"] is True
    assert body["recoveryWrappedMk"] == RECOVERY["recoveryWrappedMk"]
    assert body["recoveryIv"] == RECOVERY["recoveryIv"]
    assert "masterKey" not in body
    assert audit_rows(client_.user)[-1].context == {"mode": "zk-recovery-blob"}


def test_key_without_a_vault_is_404_and_audited(client_):
    response = client_.get(BASE + "key")

    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"
    row = audit_rows(client_.user)[-1]
    assert (row.action, row.status) == ("fetch", 404)


def test_users_only_ever_get_their_own_key(auth_client, init):
    alice, bob = auth_client(), auth_client()
    alice_key, bob_key = init(alice), init(bob)

    assert alice_key != bob_key
    assert b64d(alice.get(BASE + "key").json()["masterKey"]) == alice_key
    assert b64d(bob.get(BASE + "key").json()["masterKey"]) == bob_key


# --- rotate -------------------------------------------------------------------------------------


def test_rotate_mints_a_new_key_and_wipes_the_recovery_wrap(client_, init):
    old_key = init()
    client_.post(BASE + "recovery-wrap", RECOVERY, format="json")

    response = client_.post(BASE + "rotate", {}, format="json")

    assert response.status_code == 200
    new_key = b64d(response.json()["masterKey"])
    assert len(new_key) == 32 and new_key != old_key
    assert b64d(client_.get(BASE + "key").json()["masterKey"]) == new_key
    vault = vault_row(client_.user)
    assert vault.recovery_wrapped_mk is None and vault.recovery_iv is None
    assert vault.recovery_set_at is None and vault.rotated_at is not None
    row = [r for r in audit_rows(client_.user) if r.action == "rotate"][-1]
    assert (row.status, row.context) == (200, {"recoveryWrapCleared": True})
    [event] = events(client_.user, EventType.VAULT_ROTATED)
    assert event.metadata == {"recoveryWrapCleared": True}


def test_rotate_is_forbidden_in_zero_knowledge_mode(client_, init):
    init()
    zk_on(client_)

    response = client_.post(BASE + "rotate", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "ZK_ROTATE_FORBIDDEN"
    vault = vault_row(client_.user)
    assert vault.zero_knowledge and vault.recovery_wrapped_mk == RECOVERY["recoveryWrappedMk"]
    assert audit_rows(client_.user)[-1].status == 409


def test_rotate_without_a_vault_is_404(client_):
    response = client_.post(BASE + "rotate", {}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "VAULT_NOT_FOUND"


def test_rotate_needs_recent_authentication(client_, init):
    old_key = init()
    make_stale(client_)

    refused = client_.post(BASE + "rotate", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (401, "REAUTH_REQUIRED")
    assert b64d(client_.get(BASE + "key").json()["masterKey"]) == old_key

    accepted = client_.post(BASE + "rotate", {"password": client_.user.raw_password}, format="json")
    assert accepted.status_code == 200
    assert b64d(accepted.json()["masterKey"]) != old_key


def test_rotate_and_zero_knowledge_are_rate_limited_per_user(client_, init):
    init()
    codes = [client_.post(BASE + "rotate", {}, format="json").status_code for _ in range(11)]

    assert codes[:10] == [200] * 10
    assert codes[10] == 429
    assert audit_rows(client_.user)[-1].context["code"] == "RATE_LIMITED"


# --- wraps are bound to their owner -------------------------------------------------------------


def test_a_wrapped_key_moved_to_another_users_row_does_not_unwrap(auth_client, init):
    alice, mallory = auth_client(), auth_client()
    init(alice)
    init(mallory)
    stolen = vault_row(alice.user)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE encryption_vaults SET wrapped_mk = %s, wrap_iv = %s, kek_id = %s"
            " WHERE user_id = %s",
            [bytes(stolen.wrapped_mk), bytes(stolen.wrap_iv), stolen.kek_id, mallory.user.pk],
        )

    response = mallory.get(BASE + "key")

    assert response.status_code == 500
    assert response.json() == {
        "code": "INTERNAL",
        "message": "The encryption vault could not be opened.",
    }
    row = audit_rows(mallory.user)[-1]
    assert (row.action, row.status, row.context["code"]) == ("fetch", 500, "INTERNAL")


def test_a_vault_under_an_unknown_kek_is_a_server_error(client_, init):
    init()
    Vault.objects.filter(user_id=client_.user.pk).update(kek_id="0123456789abcdef")
    response = client_.get(BASE + "key")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL"


# --- account deletion ---------------------------------------------------------------------------


def test_deleting_the_account_removes_the_vault_and_its_audit_rows(client_, init):
    init()
    client_.get(BASE + "key")
    user = client_.user

    response = client_.delete(
        "/api/v1/auth/account", {"password": user.raw_password}, format="json"
    )

    assert response.status_code == 204
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM encryption_vaults WHERE user_id = %s", [user.pk])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM encryption_vault_audit WHERE user_id = %s", [user.pk])
        assert cursor.fetchone()[0] == 0


# --- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_schema_describes_the_vault_endpoints(api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path in ("status", "init", "key", "rotate", "recovery-wrap", "zero-knowledge"):
        assert f"/api/v1/me/encryption-vault/{path}" in schema["paths"]
    assert "/api/v1/me/ai-mission-grant" in schema["paths"]
    components = schema["components"]["schemas"]
    for name in ("VaultStatusOutput", "VaultKeyOutput", "MissionGrantOutput"):
        assert name in components
    assert components["VaultKeyOutput"]["oneOf"]


def test_replacing_the_only_wrap_in_zero_knowledge_mode_needs_reauth(client_, init):
    from tests.conftest import PASSWORD
    from tests.vault.conftest import BASE, RECOVERY, make_stale, zk_on

    init()
    zk_on(client_)
    make_stale(client_)
    junk = {"recoveryWrappedMk": "AAAA", "recoveryIv": "AAAA"}
    refused = client_.post(BASE + "recovery-wrap", junk, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "REAUTH_REQUIRED"
    key = client_.get(BASE + "key").json()
    assert key["recoveryWrappedMk"] == RECOVERY["recoveryWrappedMk"]
    ok = client_.post(BASE + "recovery-wrap", {**junk, "password": PASSWORD}, format="json")
    assert ok.status_code == 200
