"""WebAuthn glue over py_webauthn: options, verification, decoy credentials.

Pure functions: no database, no cache, no settings read here — the relying party (rp id, name,
trusted origins) and any secret are passed in. py_webauthn does the cryptography; this module
decides which checks are demanded and turns every library refusal into one ``CeremonyFailed``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# ES256 first: every platform authenticator has it. EdDSA and RS256 for security keys / Windows.
SUPPORTED_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CHALLENGE_BYTES = 32
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 §5.1: credential ids are at most 1023 bytes
TRANSPORTS = frozenset(item.value for item in AuthenticatorTransport)
MAX_DECOY_COUNT = 10


# What py_webauthn raises for a refused or malformed response. Beyond its own exceptions,
# attacker-shaped CBOR (a COSE key without ``alg``, a string where bytes belong) surfaces as
# KeyError / TypeError / IndexError, and bad base64 or key encodings as ValueError: all are
# the client's fault, never a 500.
_MALFORMED = (WebAuthnException, ValueError, KeyError, TypeError, IndexError)


class CeremonyFailed(Exception):
    """The authenticator's response did not verify. The reason is for logs, never for clients."""


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class Descriptor:
    """A credential as offered in ``allowCredentials`` / ``excludeCredentials``."""

    credential_id: bytes
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShapeModel:
    """How ``allowCredentials`` lists are shaped: weights of passkeys per account and of
    credential id lengths in bytes, as ``((value, weight), …)``."""

    counts: tuple[tuple[int, int], ...]
    lengths: tuple[tuple[int, int], ...]


# The shape decoys are drawn from: what the authenticators people use produce, fixed. Most
# accounts have one passkey. Credential ids are 16 bytes (Google Password Manager, Bitwarden and
# most password managers), 20 (iCloud Keychain), 32 (Windows Hello, 1Password, Chrome's and
# most software authenticators) or 64 (security keys). Deliberately not learnt from the stored
# passkeys: a model that moves with the population (and differs between workers until each
# re-learns it) changed an address's decoy from one answer to the next, while a real account's
# list stays the same: asking twice told them apart. Changing this table changes every decoy
# once: do it rarely, and only to follow what authenticators produce.
DECOY_SHAPE = ShapeModel(
    counts=((1, 80), (2, 15), (3, 5)),
    lengths=((16, 35), (20, 25), (32, 30), (64, 10)),
)


@dataclass(frozen=True)
class Registered:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    device_type: str
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True)
class Asserted:
    sign_count: int
    device_type: str
    backed_up: bool


def b64url(raw: bytes) -> str:
    return bytes_to_base64url(raw)


def b64url_decode(value: object) -> bytes:
    """Decode base64url from the wire; anything else is a failed ceremony."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise CeremonyFailed("not base64url")
    try:
        raw = base64url_to_bytes(value)
    except ValueError as exc:
        raise CeremonyFailed("not base64url") from exc
    if not raw:
        raise CeremonyFailed("empty")
    return raw


def client_data_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge the authenticator signed over, read from ``response.clientDataJSON``.

    Only used to find the ceremony's state; py_webauthn checks it against that state again.
    """
    response = credential.get("response")
    raw = b64url_decode(response.get("clientDataJSON") if isinstance(response, dict) else None)
    try:
        client_data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CeremonyFailed("clientDataJSON is not JSON") from exc
    if not isinstance(client_data, dict):
        raise CeremonyFailed("clientDataJSON is not an object")
    return b64url_decode(client_data.get("challenge"))


def transports_clean(raw: object) -> list[str]:
    """Keep only the transports WebAuthn defines, in order, without repeats."""
    if not isinstance(raw, list):
        return []
    seen: list[str] = []
    for item in raw[:16]:
        if isinstance(item, str) and item in TRANSPORTS and item not in seen:
            seen.append(item)
    return seen


def _descriptors(
    items: list[Descriptor], *, with_transports: bool = True
) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=item.credential_id,
            transports=[AuthenticatorTransport(t) for t in item.transports if t in TRANSPORTS]
            if with_transports
            else None,
        )
        for item in items
    ]


def registration_options(
    *,
    rp: RelyingParty,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: list[Descriptor],
    timeout_ms: int,
) -> dict[str, Any]:
    """Creation options: resident key and user verification preferred, no attestation."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=SUPPORTED_ALGORITHMS,
    )
    return options_to_json_dict(options)


def authentication_options(
    *, rp: RelyingParty, challenge: bytes, allow: list[Descriptor], timeout_ms: int
) -> dict[str, Any]:
    """Request options. An empty ``allow`` asks for a discoverable credential (conditional UI).

    User verification is required: a verified passkey is two factors (possession + PIN or
    biometric) and signs in without a second step. ``allowCredentials`` carries no
    ``transports``: they would tell a real account's list from a decoy (the browser then offers
    every transport, which costs nothing but a hint).
    """
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=timeout_ms,
        allow_credentials=_descriptors(allow, with_transports=False),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options)


def registration_verify(
    *, rp: RelyingParty, credential: dict[str, Any], challenge: bytes
) -> Registered:
    """Check type, challenge, origin, rpIdHash, UP and the key algorithm of a new credential."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_presence=True,
            require_user_verification=False,
            supported_pub_key_algs=SUPPORTED_ALGORITHMS,
        )
        # Never store a key that could not verify later: it must load as a real public key.
        decoded_public_key_to_cryptography(
            decode_credential_public_key(verified.credential_public_key)
        )
    except _MALFORMED as exc:
        raise CeremonyFailed(str(exc) or type(exc).__name__) from exc
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise CeremonyFailed("credential id too long")
    return Registered(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        device_type=verified.credential_device_type.value,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def authentication_verify(
    *, rp: RelyingParty, credential: dict[str, Any], challenge: bytes, public_key: bytes
) -> Asserted:
    """Check type, challenge, origin, rpIdHash, UP, UV, backup flags and the signature.

    The sign count is deliberately *not* judged here (we pass 0 as the known count): the caller
    compares it only after the signature verified, so an unsigned forgery can never raise a
    clone alarm for somebody else's credential.
    """
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except _MALFORMED as exc:
        raise CeremonyFailed(str(exc) or type(exc).__name__) from exc
    return Asserted(
        sign_count=verified.new_sign_count,
        device_type=verified.credential_device_type.value,
        backed_up=verified.credential_backed_up,
    )


def sign_count_regressed(*, stored: int, received: int) -> bool:
    """A counter that was in use and did not increase: the key may have been cloned."""
    return stored > 0 and received <= stored


def _uniform(seed: bytes, label: str) -> float:
    digest = hmac.new(seed, label.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _pick(weighted: tuple[tuple[int, int], ...], point: float) -> int:
    """The value at ``point`` (in [0, 1)) of the weighted distribution's inverse CDF."""
    total = sum(weight for _, weight in weighted)
    threshold = point * total
    running = 0
    for value, weight in weighted:
        running += weight
        if threshold < running:
            return value
    return weighted[-1][0]


# A decoy id ends in a tag only the server can make: registration refuses an id that carries it,
# exactly as it refuses an id already registered, so registering a copied id does not tell a
# decoy (would be accepted) from a real passkey (refused). Random ids of real authenticators
# carry a valid tag with probability 2**-64.
DECOY_TAG_BYTES = 8


def _decoy_tag(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, b"passkey-decoy-tag:" + body, hashlib.sha256).digest()[:DECOY_TAG_BYTES]


def is_decoy_id(*, secret: bytes, credential_id: bytes) -> bool:
    """Whether ``credential_id`` is one that ``decoy_descriptors`` hands out."""
    if len(credential_id) < DECOY_TAG_BYTES * 2:
        return False
    body, tag = credential_id[:-DECOY_TAG_BYTES], credential_id[-DECOY_TAG_BYTES:]
    return hmac.compare_digest(_decoy_tag(secret, body), tag)


def decoy_descriptors(
    *, secret: bytes, email_key: str, model: ShapeModel = DECOY_SHAPE
) -> list[Descriptor]:
    """Stable, plausible ``allowCredentials`` for an address without passkeys.

    Derived from HMAC(secret, email) alone, so every request for the same address, on every
    worker and at any time, gets the same list, as it would for a real account, and nothing is
    stored. The number of entries and each id's length are drawn from ``model`` (a fixed table
    of what authenticators produce, ``DECOY_SHAPE``), so over many addresses decoys are
    distributed as real lists are.
    """
    seed = hmac.new(secret, b"passkey-decoy:" + email_key.encode(), hashlib.sha256).digest()
    count = min(max(_pick(model.counts, _uniform(seed, "count")), 1), MAX_DECOY_COUNT)
    descriptors = []
    for index in range(count):
        length = _pick(model.lengths, _uniform(seed, f"length:{index}"))
        length = min(max(length, DECOY_TAG_BYTES * 2), MAX_CREDENTIAL_ID_BYTES)
        material = b""
        block = 0
        while len(material) < length - DECOY_TAG_BYTES:
            material += hmac.new(seed, f"{index}:{block}".encode(), hashlib.sha256).digest()
            block += 1
        body = material[: length - DECOY_TAG_BYTES]
        descriptors.append(Descriptor(body + _decoy_tag(secret, body)))
    return descriptors
