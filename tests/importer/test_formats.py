"""The predecessor's formats, checked against Better Auth's own output.

Better Auth's tests hold no fixed password hash or ciphertext (its password and secret-rotation
tests hash and encrypt at run time), so the vectors below were made by Better Auth itself:
``better-auth@1.7.25`` from npm (``hashPassword``, ``symmetricEncrypt`` of
``better-auth/crypto``; ``@better-auth/utils@0.5.1`` ``createHash`` + ``base64Url`` as the
api-key plugin's ``defaultKeyHasher`` uses them), run once with node by
``vectors/make_better_auth_vectors.mjs``.
"""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password

from accounts.api_keys import better_auth_key_hash
from accounts.hashers import BetterAuthScryptPasswordHasher, better_auth_hash_to_django
from predecessor import formats
from predecessor.formats import FormatError, SourceSecrets
from tests.importer import betterauth as ba

# better-auth@1.7.25 hashPassword("Pässwörd-ﬁ 2026") — the password holds a ligature (ﬁ), so
# the NFKC step matters: scrypt hashes "Pässwörd-fi 2026".
BA_PASSWORD = "Pässwörd-ﬁ 2026"
BA_HASH = (
    "243922f310c5a603c60ce9504c90b2ed:ee6cd36c795369f72387c5d5c643aa45aae3226fe083a3cb1b31004017"
    "d920f4f661e7993a124ee704ad0c778d12a27a2b46736864a15f389e459fed6959e926"
)
BA_SECRET = "better-auth-secret-for-the-import-test-0123456789"
BA_ROTATED = "rotated-secret-version-two-0123456789abcdef"
BA_TOTP_SECRET = "k3J9vQ2mXr7TzL5pW8nB4cYh6Ds1Fg0A"
# symmetricEncrypt({key: BA_SECRET, data: BA_TOTP_SECRET})
BA_SEALED = (
    "abd759349ddeb64353ad8a01f5c8c44ca3be5a264a450620efacf5d1a1a404ff834300aea87d1d9cd28a4e16"
    "5d70c034d9fb89f5f8797b8d0a31a6b5281a2adf5c0d5644050f9dcd"
)
# symmetricEncrypt({key: BA_SECRET, data: JSON.stringify(["aB3dE-fG5hJ", "kL7mN-pQ9rS"])})
BA_SEALED_CODES = (
    "b7af490d46a93314a075eda84ae1e4ec9d19f7e45600f2fe17f58b202b95ae2d6fa3ed4709ddc6cea704be950e"
    "6eef56865da91cd09606e82bfbdaed8bccb57354990b4464"
)
# symmetricEncrypt({key: {keys: {2: BA_ROTATED, 1: BA_SECRET}, currentVersion: 2}, data: …})
BA_ENVELOPE = (
    "$ba$2$f2a48be00b5ce63ce339e409a7e2a1b7c3a9c5e82d88480a4ffdb6008e5f1c31f7731f72efd26a85b42a"
    "3bce23860759d292685e6ac45899599ecb52e764aca930dc0b10e63314a4"
)
BA_API_KEY = "mana_TestKeyFromBetterAuthUtilsForTheImporterXyZ"
BA_API_KEY_HASH = "GCEeHYT30a7Vc0UjqwInFhhIqTF8bwHMONiZJXGj9wE"


def test_better_auths_own_hash_verifies_with_the_hasher():
    encoded = better_auth_hash_to_django(BA_HASH)
    assert encoded.startswith("better_auth_scrypt$") and len(encoded) <= 128
    assert BetterAuthScryptPasswordHasher().decode(encoded) == {
        "algorithm": "better_auth_scrypt",
        "salt": BA_HASH.split(":")[0],
        "hash": BA_HASH.split(":")[1],
    }
    assert isinstance(identify_hasher(encoded), BetterAuthScryptPasswordHasher)
    assert check_password(BA_PASSWORD, encoded)
    assert check_password("Pässwörd-fi 2026", encoded)  # what NFKC makes of the ligature
    assert not check_password("Pässwörd-ﬁ 2027", encoded)
    assert not check_password("pässwörd-ﬁ 2026", encoded)


def test_the_producing_side_matches_better_auth():
    salt = BA_HASH.split(":")[0]
    assert ba.hash_password(BA_PASSWORD, salt) == BA_HASH


def test_the_salt_is_the_hex_string_not_its_bytes():
    salt, key = BA_HASH.split(":")
    hasher = BetterAuthScryptPasswordHasher()
    assert hasher._derive(BA_PASSWORD, salt).hex() == key
    import hashlib

    wrong = hashlib.scrypt(
        BA_PASSWORD.encode(), salt=bytes.fromhex(salt), n=16384, r=16, p=1, dklen=64,
        maxmem=64 * 1024 * 1024,
    )  # fmt: skip
    assert wrong.hex() != key


def test_a_hash_in_this_format_is_always_upgraded():
    hasher = BetterAuthScryptPasswordHasher()
    encoded = hasher.encode("s3cret-enough", hasher.salt())
    assert hasher.verify("s3cret-enough", encoded)
    assert hasher.must_update(encoded)
    assert set(hasher.safe_summary(encoded)) == {"algorithm", "salt", "hash"}
    assert "s3cret" not in str(hasher.safe_summary(encoded))
    # New passwords are never made in it: the preferred hasher is argon2id.
    assert make_password("x-y-z-w").startswith("argon2$")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "nocolon",
        "zz" * 16 + ":" + "00" * 64,
        "00" * 16 + ":" + "00" * 63,
        "AB" * 16 + ":" + "00" * 64,  # Better Auth's salts are lower-case: this is no salt of its
        "$2b$10$abc",
    ],
)
def test_other_formats_are_not_taken_for_better_auths(stored):
    assert better_auth_hash_to_django(stored) is None


@pytest.mark.parametrize(
    "encoded",
    [
        "better_auth_scrypt$",
        "better_auth_scrypt$" + "A" * 106,  # one byte short of salt and key
        "better_auth_scrypt$!!not-base64!!",
        "argon2$" + "A" * 107,
    ],
)
def test_a_broken_stored_hash_never_verifies(encoded):
    assert BetterAuthScryptPasswordHasher().verify("anything", encoded) is False


def test_better_auths_ciphertexts_open():
    secrets = SourceSecrets(legacy=BA_SECRET, versions={2: BA_ROTATED, 1: BA_SECRET})
    assert formats.symmetric_decrypt(BA_SEALED, secrets) == BA_TOTP_SECRET
    assert formats.symmetric_decrypt(BA_ENVELOPE, secrets) == BA_TOTP_SECRET
    assert formats.backup_codes_parse(BA_SEALED_CODES, secrets) == ["aB3dE-fG5hJ", "kL7mN-pQ9rS"]
    assert formats.totp_seed(BA_TOTP_SECRET) == BA_TOTP_SECRET.encode()


def test_the_producing_side_opens_like_better_auths():
    sealed = ba.symmetric_encrypt("hello", BA_SECRET)
    assert formats.symmetric_decrypt(sealed, SourceSecrets(legacy=BA_SECRET)) == "hello"
    enveloped = ba.symmetric_encrypt("hello", BA_ROTATED, version=7)
    assert enveloped.startswith("$ba$7$")
    assert formats.symmetric_decrypt(enveloped, SourceSecrets(versions={7: BA_ROTATED})) == "hello"


@pytest.mark.parametrize(
    ("data", "secrets", "message"),
    [
        (BA_SEALED, SourceSecrets(legacy="another-secret"), "does not open"),
        (BA_ENVELOPE, SourceSecrets(legacy=BA_SECRET), "version 2"),
        (BA_SEALED, SourceSecrets(versions={2: BA_ROTATED}), "single secret"),
        ("not hex at all", SourceSecrets(legacy=BA_SECRET), "not hex"),
        ("00ff", SourceSecrets(legacy=BA_SECRET), "too short"),
        ("$ba$x$00", SourceSecrets(versions={1: "a"}), "malformed"),
        (BA_SEALED[:-2] + "00", SourceSecrets(legacy=BA_SECRET), "does not open"),
    ],
)
def test_what_does_not_open_says_why(data, secrets, message):
    with pytest.raises(FormatError, match=message):
        formats.symmetric_decrypt(data, secrets)


def test_secrets_rotation_list_parses_like_better_auth():
    assert formats.secrets_versions_parse(" 2: new , 1:old") == {2: "new", 1: "old"}
    for bad in ("", "noseparator", "x:secret", "1:", "1:a,1:b"):
        with pytest.raises(FormatError):
            formats.secrets_versions_parse(bad)


def test_a_base32_secret_from_another_provider_is_decoded():
    assert formats.totp_seed("base32:JBSWY3DPEHPK3PXP") == base64.b32decode("JBSWY3DPEHPK3PXP")
    with pytest.raises(FormatError):
        formats.totp_seed("base32:!!!")


def test_plain_json_backup_codes_are_read_too():
    assert formats.backup_codes_parse('["a-b", " "]', SourceSecrets()) == ["a-b"]
    with pytest.raises(FormatError):
        formats.backup_codes_parse('{"a": 1}', SourceSecrets())


def test_the_api_key_hash_is_better_auths():
    assert better_auth_key_hash(BA_API_KEY) == BA_API_KEY_HASH
    assert ba.api_key_hash(BA_API_KEY) == BA_API_KEY_HASH


def test_vault_wraps_open_with_the_right_kek_only():
    kek, other = b"k" * 32, b"o" * 32
    master_key = bytes(range(32))
    wrapped, iv = ba.vault_wrap(master_key, kek)
    assert formats.vault_unwrap(wrapped_mk=wrapped, wrap_iv=iv, keks=[other, kek]) == master_key
    with pytest.raises(FormatError, match="none of the KEKs"):
        formats.vault_unwrap(wrapped_mk=wrapped, wrap_iv=iv, keks=[other])
    with pytest.raises(FormatError, match="12 bytes"):
        formats.vault_unwrap(wrapped_mk=wrapped, wrap_iv="AAAA", keks=[kek])


def test_permissions_map_to_scopes():
    known = ["profile:read", "sync:read", "sync:write"]
    assert formats.permissions_to_scopes(
        '{"profile": ["read"], "billing": ["read"]}', None, known
    ) == (["profile:read"], ["billing:read"])
    assert formats.permissions_to_scopes(None, '{"scopes": ["sync:read"]}', known) == (
        ["sync:read"],
        [],
    )
    assert formats.permissions_to_scopes(None, None, known) == (None, [])


def test_roles_take_the_highest_known():
    ranked = ("owner", "admin", "member")
    assert formats.best_role("admin, owner", ranked) == ("owner", [])
    assert formats.best_role("billing", ranked) == (None, ["billing"])
    assert formats.best_role(None, ranked) == (None, [])
