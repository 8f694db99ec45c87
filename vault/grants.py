"""Mission key grants: both ends. Pure: no database, no settings; the clock is passed in.

A grant lets the AI service (mana-ai) decrypt one mission's data without ever holding the
user's master key:

1. Derive the mission data key: ``HKDF-SHA256(ikm=master key, salt=SALT,
   info="mission:<missionId>", length=32)``.
2. Wrap it with RSA-OAEP under mana-ai's public key (2048 bits or more). The grant's
   ``derivation`` states every parameter a receiver needs, ``wrap`` included:

   - ``RSA-OAEP-SHA256`` (the contract's default, what every contract client unwraps): hash
     SHA-256, MGF1-SHA-256, **no label** (JWA's ``RSA-OAEP-256``).
   - ``RSA-OAEP-SHA256-LABEL`` (opt-in, ``MISSION_GRANT_BIND_CONTEXT``): the same with an OAEP
     label that binds the grant's context, stated in ``derivation.label``::

         mana-mission-grant/v1 \\n <userId> \\n <missionId> \\n <issuedAt> \\n <expiresAt>

     (UTF-8, timestamps as Unix seconds). A grant whose ``expiresAt`` (or user, or mission)
     was edited in transit no longer decrypts, so whoever carries it cannot stretch it. Only
     for receivers that build the label; a contract-only receiver fails to decrypt it.

``unwrap_mission_grant`` is the receiving side, for a Python service holding the private key; it
opens both kinds (and grants issued before ``wrap`` said which: labelled, named plainly).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

GRANT_VERSION = 1
SALT = "mana-mission-grant/v1"
KEY_BYTES = 32
MIN_RSA_BITS = 2048
MIN_TTL_SECONDS = 3600
MAX_TTL_SECONDS = 30 * 86400
DEFAULT_TTL_SECONDS = 86400
MISSION_ID_MAX_LENGTH = 200
_MISSION_ID = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MISSION_ID_MAX_LENGTH}}}")

# The wrap a grant declares in ``derivation.wrap``.
WRAP_PLAIN = "RSA-OAEP-SHA256"  # SHA-256, MGF1-SHA-256, no label: the contract's default
WRAP_LABELLED = "RSA-OAEP-SHA256-LABEL"  # the same, the OAEP label binding the grant's context
Wrap = Literal["RSA-OAEP-SHA256", "RSA-OAEP-SHA256-LABEL"]
# How a receiver builds the label of a labelled grant: the placeholders are the grant's own
# fields, ``issuedAt``/``expiresAt`` as Unix seconds; the text is encoded as UTF-8.
LABEL_TEMPLATE = f"{SALT}\n{{userId}}\n{{missionId}}\n{{issuedAt}}\n{{expiresAt}}"

FailureReason = Literal["not-configured", "expired", "malformed", "wrap-rejected"]


class GrantKeyError(ValueError):
    """The configured RSA key cannot be used for grants (not RSA, too small, not a key)."""


def clamp_ttl(ttl_seconds: int | None) -> int:
    """A grant lives at least an hour and at most thirty days."""
    if ttl_seconds is None:
        return DEFAULT_TTL_SECONDS
    return max(MIN_TTL_SECONDS, min(MAX_TTL_SECONDS, int(ttl_seconds)))


def valid_mission_id(mission_id: str) -> bool:
    return bool(_MISSION_ID.fullmatch(mission_id))


def mission_info(mission_id: str) -> str:
    return f"mission:{mission_id}"


def derive_mission_key(master_key: bytes | bytearray, mission_id: str) -> bytes:
    """The per-mission data key: HKDF-SHA256 over the master key, naming the mission."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=SALT.encode(),
        info=mission_info(mission_id).encode(),
    ).derive(bytes(master_key))


def derivation_description(mission_id: str, wrap: Wrap = WRAP_PLAIN) -> dict[str, Any]:
    """What the ``derivation`` field of a grant says: everything a receiver needs to unwrap
    the key and to re-derive it from the master key."""
    description: dict[str, Any] = {
        "kdf": "HKDF-SHA256",
        "salt": SALT,
        "info": mission_info(mission_id),
        "length": KEY_BYTES,
        "wrap": wrap,
    }
    if wrap == WRAP_LABELLED:
        description["label"] = {
            "template": LABEL_TEMPLATE,
            "encoding": "utf-8",
            "timestamps": "unix-seconds",
        }
    return description


def grant_label(*, user_id: str, mission_id: str, issued_at: int, expires_at: int) -> bytes:
    """The OAEP label of a labelled grant: ``LABEL_TEMPLATE`` filled in, UTF-8."""
    return LABEL_TEMPLATE.format(
        userId=user_id, missionId=mission_id, issuedAt=issued_at, expiresAt=expires_at
    ).encode()


def _oaep(label: bytes | None) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


@functools.lru_cache(maxsize=4)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Parse mana-ai's public key; refuse anything but RSA of 2048 bits or more."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise GrantKeyError("not a PEM-encoded public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise GrantKeyError("not an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        raise GrantKeyError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed")
    return key


@dataclass(frozen=True)
class MissionGrant:
    wrapped_key: bytes
    user_id: str
    mission_id: str
    issued_at: datetime
    expires_at: datetime
    wrap: Wrap = WRAP_PLAIN

    @property
    def ttl_seconds(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    @property
    def derivation(self) -> dict[str, Any]:
        return derivation_description(self.mission_id, self.wrap)


def issue_mission_grant(
    *,
    master_key: bytes | bytearray,
    public_key: rsa.RSAPublicKey,
    user_id: str,
    mission_id: str,
    ttl_seconds: int | None,
    now: datetime,
    bind_context: bool = False,
) -> MissionGrant:
    """Derive the mission key and wrap it for mana-ai. With ``bind_context`` the wrap's OAEP
    label binds user, mission and times (``WRAP_LABELLED``); by default there is no label, as
    the contract states (``WRAP_PLAIN``)."""
    issued_at = now.astimezone(UTC).replace(microsecond=0)
    expires_at = issued_at + timedelta(seconds=clamp_ttl(ttl_seconds))
    mission_key = bytearray(derive_mission_key(master_key, mission_id))
    wrap: Wrap = WRAP_LABELLED if bind_context else WRAP_PLAIN
    label = (
        grant_label(
            user_id=user_id,
            mission_id=mission_id,
            issued_at=int(issued_at.timestamp()),
            expires_at=int(expires_at.timestamp()),
        )
        if bind_context
        else None
    )
    try:
        wrapped = public_key.encrypt(bytes(mission_key), _oaep(label))
    finally:
        mission_key[:] = bytes(len(mission_key))
    return MissionGrant(
        wrapped_key=wrapped,
        user_id=user_id,
        mission_id=mission_id,
        issued_at=issued_at,
        expires_at=expires_at,
        wrap=wrap,
    )


# --- The receiving side -----------------------------------------------------------------------


@dataclass(frozen=True)
class GrantUnwrapped:
    key: bytes = field(repr=False)
    user_id: str
    mission_id: str
    expires_at: datetime
    # Whether the wrap itself vouches for user, mission and times (a labelled grant). A plain
    # grant's fields are only as trustworthy as whoever carried the grant.
    context_bound: bool = False
    ok: Literal[True] = True


@dataclass(frozen=True)
class GrantRejected:
    reason: FailureReason
    ok: Literal[False] = False


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        pem.encode() if isinstance(pem, str) else pem, password=None
    )
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise GrantKeyError("not an RSA private key of 2048 bits or more")
    return key


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def unwrap_mission_grant(
    grant: Mapping[str, Any] | Any,
    *,
    private_key: rsa.RSAPrivateKey | str | bytes | None,
    now: datetime | None = None,
) -> GrantUnwrapped | GrantRejected:
    """Open a grant as issued by ``POST /api/v1/me/ai-mission-grant``.

    Opens plain grants (no OAEP label, the contract's default) and labelled ones, as
    ``derivation.wrap`` says; a grant that names no wrap, or the plain one, and does not open
    without a label is tried with the context label once more (grants issued before ``wrap``
    told the two apart were labelled).

    Never raises for a bad grant: the reason is one of ``not-configured`` (no usable private
    key), ``malformed`` (missing or ill-typed fields), ``expired`` and ``wrap-rejected`` (the
    key, or for a labelled grant its user, mission or times, do not match the wrap).
    """
    if private_key is None or private_key in ("", b""):
        return GrantRejected("not-configured")
    if not isinstance(private_key, rsa.RSAPrivateKey):
        try:
            private_key = load_private_key(private_key)
        except (ValueError, TypeError):
            return GrantRejected("not-configured")

    if not isinstance(grant, Mapping):
        return GrantRejected("malformed")
    derivation = grant.get("derivation")
    if derivation is None:
        wrap: Any = None
    elif isinstance(derivation, Mapping):
        wrap = derivation.get("wrap")
    else:
        return GrantRejected("malformed")
    if wrap not in (None, WRAP_PLAIN, WRAP_LABELLED):
        return GrantRejected("malformed")
    wrapped_b64, user_id, mission_id = (
        grant.get("wrappedKey"),
        grant.get("userId"),
        grant.get("missionId"),
    )
    issued_at, expires_at = _timestamp(grant.get("issuedAt")), _timestamp(grant.get("expiresAt"))
    if (
        grant.get("version", GRANT_VERSION) != GRANT_VERSION
        or not isinstance(wrapped_b64, str)
        or not isinstance(user_id, str)
        or not isinstance(mission_id, str)
        or not valid_mission_id(mission_id)
        or issued_at is None
        or expires_at is None
        or expires_at <= issued_at
    ):
        return GrantRejected("malformed")
    try:
        wrapped = base64.b64decode(wrapped_b64, validate=True)
    except (binascii.Error, ValueError):
        return GrantRejected("malformed")
    if not wrapped:
        return GrantRejected("malformed")

    current = now or datetime.now(UTC)
    if current >= expires_at:
        return GrantRejected("expired")

    label = grant_label(
        user_id=user_id,
        mission_id=mission_id,
        issued_at=int(issued_at.timestamp()),
        expires_at=int(expires_at.timestamp()),
    )
    attempts = [label] if wrap == WRAP_LABELLED else [None, label]
    for attempt in attempts:
        try:
            key = private_key.decrypt(wrapped, _oaep(attempt))
        except ValueError:
            continue
        if len(key) != KEY_BYTES:
            return GrantRejected("wrap-rejected")
        return GrantUnwrapped(
            key=key,
            user_id=user_id,
            mission_id=mission_id,
            expires_at=expires_at,
            context_bound=attempt is not None,
        )
    return GrantRejected("wrap-rejected")
