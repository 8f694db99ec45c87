"""KEK rotation: ``rewrap_vaults`` moves every wrapped row to the active KEK."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts import signing_keys
from accounts.models import SigningKey
from mana_auth.kek import rewrap
from mana_auth.kek.crypto import UnwrapError, kek_id
from mana_auth.kek.keyring import active_kek_id
from tests.conftest import login_tokens
from tests.vault.conftest import BASE, b64d, vault_row, zk_on

pytestmark = pytest.mark.django_db

NEW_KEK = bytes(range(32))


def _rewrap(*args: str) -> str:
    out = StringIO()
    call_command("rewrap_vaults", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def rotate_kek(settings):
    def rotate() -> bytes:
        old = settings.MANA_AUTH_KEK
        settings.MANA_AUTH_KEK = NEW_KEK
        settings.MANA_AUTH_KEKS_RETIRED = [old]
        signing_keys.invalidate_memo()
        return old

    return rotate


def test_kek_rotation_leaves_every_key_readable(
    auth_client, init, rotate_kek, settings, api_client
):
    clients = [auth_client() for _ in range(3)]
    keys = [init(client) for client in clients]
    zk_on(clients[2])  # nothing of the server's to re-wrap in zero-knowledge mode
    old_kid = signing_keys.active_signing_key()[0]
    rotate_kek()

    output = _rewrap("--batch-size", "2")

    assert f"Active KEK {kek_id(NEW_KEK)}" in output
    assert "vault_master_keys: re-wrapped 2 of 2" in output
    assert "jwt_signing_keys: re-wrapped 1 of 1" in output
    assert {vault_row(c.user).kek_id for c in clients[:2]} == {kek_id(NEW_KEK)}
    assert set(SigningKey.objects.values_list("kek_id", flat=True)) == {kek_id(NEW_KEK)}

    # The old KEK is gone for good: everything still opens.
    settings.MANA_AUTH_KEKS_RETIRED = []
    signing_keys.invalidate_memo()
    for client, key in zip(clients[:2], keys[:2], strict=True):
        assert b64d(client.get(BASE + "key").json()["masterKey"]) == key
    assert clients[2].get(BASE + "key").json()["requiresRecoveryCode"] is True
    assert signing_keys.active_signing_key()[0] == old_kid
    tokens = login_tokens(api_client, clients[0].user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert api_client.get(BASE + "status").status_code == 200


def test_rewrap_is_resumable_and_a_rerun_does_nothing(auth_client, init, rotate_kek):
    for _ in range(2):
        init(auth_client())
    rotate_kek()

    first = _rewrap()
    second = _rewrap()

    assert "vault_master_keys: re-wrapped 2 of 2" in first
    assert "vault_master_keys: re-wrapped 0 of 2" in second
    assert "jwt_signing_keys: re-wrapped 0 of" in second


def test_rows_under_a_kek_no_longer_configured_stop_the_run(client_, init, settings):
    init()
    settings.MANA_AUTH_KEK = NEW_KEK  # the old key was dropped before re-wrapping
    settings.MANA_AUTH_KEKS_RETIRED = []

    with pytest.raises(UnwrapError, match="unknown KEK id"):
        _rewrap("--kind", "vault_master_keys")
    assert vault_row(client_.user).kek_id != active_kek_id()


def test_other_apps_register_their_kinds():
    calls = []

    def fake(batch_size: int) -> tuple[int, int]:
        calls.append(batch_size)
        return 3, 7

    rewrap.register_rewrapper("test_kind", fake)
    try:
        rewrap.register_rewrapper("test_kind", fake)  # the same function again: fine
        with pytest.raises(ValueError, match="already registered"):
            rewrap.register_rewrapper("test_kind", lambda batch_size: (0, 0))
        output = _rewrap("--kind", "test_kind", "--batch-size", "50")
    finally:
        rewrap.unregister_rewrapper("test_kind")

    assert calls == [50]
    assert "test_kind: re-wrapped 3 of 7" in output
    assert {"vault_master_keys", "jwt_signing_keys"} <= set(rewrap.rewrappers())


def test_unknown_kinds_and_bad_batch_sizes_are_refused():
    with pytest.raises(CommandError, match="unknown kind"):
        _rewrap("--kind", "nonsense")
    with pytest.raises(CommandError, match="batch-size"):
        _rewrap("--batch-size", "0")
