"""The KEK keyring and wrapping primitives, and the wiping of key material."""

from __future__ import annotations

import base64

import pytest

from mana_auth.clientip import RequestMeta
from mana_auth.errors import ValidationFailed
from mana_auth.kek.crypto import (
    Keyring,
    UnwrapError,
    associated_data,
    kek_id,
    rewrap,
    unwrap,
    wipe,
    wrap,
)
from tests.conftest import PASSWORD
from tests.vault.conftest import BASE, zk_on
from vault import services
from vault.crypto import generate_master_key

OLD, NEW = b"\x11" * 32, b"\x22" * 32
AAD = associated_data("vault-mk", "7f0c2a4e-0000-4000-8000-000000000001")


def test_kek_id_is_stable_short_and_not_the_key():
    assert kek_id(OLD) == kek_id(OLD)
    assert kek_id(OLD) != kek_id(NEW)
    assert len(kek_id(OLD)) == 16
    assert OLD.hex() not in kek_id(OLD)
    assert base64.b64encode(OLD).decode() not in kek_id(OLD)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_a_kek_must_be_32_bytes(size):
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring(active=b"\x01" * size)


def test_wrap_round_trips_with_a_fresh_iv_each_time():
    ring = Keyring(active=OLD)
    first, second = wrap(ring, b"k" * 32, aad=AAD), wrap(ring, b"k" * 32, aad=AAD)
    assert len(first.iv) == 12 and first.iv != second.iv
    assert first.ciphertext != second.ciphertext
    assert first.kek_id == kek_id(OLD)
    opened = unwrap(ring, ciphertext=first.ciphertext, iv=first.iv, kek_id=first.kek_id, aad=AAD)
    assert opened == b"k" * 32


def test_a_wrap_does_not_open_for_another_owner_or_purpose():
    ring = Keyring(active=OLD)
    wrapped = wrap(ring, b"k" * 32, aad=AAD)
    for aad in (
        associated_data("vault-mk", "7f0c2a4e-0000-4000-8000-000000000002"),
        associated_data("jwt-signing-key", "7f0c2a4e-0000-4000-8000-000000000001"),
    ):
        with pytest.raises(UnwrapError):
            unwrap(
                ring, ciphertext=wrapped.ciphertext, iv=wrapped.iv, kek_id=wrapped.kek_id, aad=aad
            )


def test_tampering_and_unknown_keks_are_refused():
    ring = Keyring(active=OLD)
    wrapped = wrap(ring, b"k" * 32, aad=AAD)
    tampered = bytes([wrapped.ciphertext[0] ^ 1]) + wrapped.ciphertext[1:]
    with pytest.raises(UnwrapError):
        unwrap(ring, ciphertext=tampered, iv=wrapped.iv, kek_id=wrapped.kek_id, aad=AAD)
    with pytest.raises(UnwrapError):
        unwrap(ring, ciphertext=wrapped.ciphertext, iv=b"\x00" * 12, kek_id=wrapped.kek_id, aad=AAD)
    with pytest.raises(UnwrapError, match="unknown KEK"):
        unwrap(
            Keyring(active=NEW),
            ciphertext=wrapped.ciphertext,
            iv=wrapped.iv,
            kek_id=wrapped.kek_id,
            aad=AAD,
        )


def test_retired_keks_still_open_and_rewrap_moves_to_the_active_one():
    wrapped = wrap(Keyring(active=OLD), b"k" * 32, aad=AAD)
    ring = Keyring(active=NEW, retired=(OLD,))

    moved = rewrap(
        ring, ciphertext=wrapped.ciphertext, iv=wrapped.iv, kek_id=wrapped.kek_id, aad=AAD
    )

    assert moved.kek_id == kek_id(NEW)
    only_new = Keyring(active=NEW)
    assert (
        unwrap(only_new, ciphertext=moved.ciphertext, iv=moved.iv, kek_id=moved.kek_id, aad=AAD)
        == b"k" * 32
    )


def test_master_keys_are_random_and_wipeable():
    first, second = generate_master_key(), generate_master_key()
    assert len(first) == 32 and first != second
    wipe(first)
    assert first == bytearray(32)


@pytest.mark.django_db
def test_disabling_zero_knowledge_wipes_the_received_key(client_, init):
    master_key = init()
    zk_on(client_)
    received = bytearray(master_key)

    services.zero_knowledge_disable(
        user=client_.user,
        master_key=received,
        meta=RequestMeta(),
        session=None,
        password=PASSWORD,
    )

    assert received == bytearray(32)
    assert base64.b64decode(client_.get(BASE + "key").json()["masterKey"]) == master_key


@pytest.mark.django_db
def test_a_refused_key_is_wiped_too(client_, init):
    init()
    zk_on(client_)
    received = bytearray(b"\x07" * 31)

    with pytest.raises(ValidationFailed) as caught:
        services.zero_knowledge_disable(
            user=client_.user,
            master_key=received,
            meta=RequestMeta(),
            session=None,
            password=PASSWORD,
        )

    assert caught.value.details == {"fields": {"masterKey": ["The master key must be 32 bytes."]}}
    assert received == bytearray(31)
