"""Writes for passkeys: registration, rename, removal (the sign-in: ``accounts.signin.passkey``).

Adding or removing a passkey is a factor change: it is recorded and the owner gets a notice
with a "this wasn't me" link (``accounts.notices``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.exceptions import PasskeyVerificationFailed
from accounts.models import Passkey, Session, User
from accounts.notices import factor_change_notify
from accounts.passkeys import ceremony, challenges, selectors
from accounts.passkeys.ceremony import CeremonyFailed, Descriptor, RelyingParty
from accounts.reauth import reauth_require
from mana_auth.clientip import RequestMeta
from mana_auth.config import rp_id_problem
from mana_auth.errors import AuthError
from security import ratelimit
from security.models import EventType
from security.services import security_event_record

logger = logging.getLogger("mana_auth.passkeys")

DEFAULT_NAME = "Passkey"
TIMEOUT_MS = challenges.CHALLENGE_TTL_SECONDS * 1000
_WHAT = {
    "added": {"en": "A passkey was added", "de": "Ein Passkey wurde hinzugefügt"},
    "removed": {"en": "A passkey was removed", "de": "Ein Passkey wurde entfernt"},
}


def relying_party() -> RelyingParty:
    """The relying party as configured now (tests and deployments may change it)."""
    return RelyingParty(
        id=settings.WEBAUTHN_RP_ID,
        name=settings.WEBAUTHN_RP_NAME,
        origins=tuple(settings.WEBAUTHN_ORIGINS),
    )


def passkey_capability() -> dict[str, Any]:
    """Whether passkeys can work here: the RP id must be BASE_URL's host or a parent domain of
    it, and of at least one trusted origin's host (else every browser refuses the ceremony)."""
    rp = relying_party()
    available = (
        bool(rp.id and rp.name and rp.origins)
        and rp_id_problem(rp.id, settings.BASE_URL) is None
        and any(rp_id_problem(rp.id, origin) is None for origin in rp.origins)
    )
    return {"available": available, "rpId": rp.id, "rpName": rp.name}


def decoy_secret() -> bytes:
    """The server key of the decoy ``allowCredentials`` (``ceremony.decoy_descriptors``)."""
    return hashlib.sha256(b"mana-auth.passkey-decoys:" + settings.SECRET_KEY.encode()).digest()


def passkey_verification_failed() -> AuthError:
    return PasskeyVerificationFailed()


# --- Registration -----------------------------------------------------------------------------


def passkey_registration_options(
    *, user: User, session: Session, password: str | None, meta: RequestMeta
) -> dict[str, Any]:
    """Creation options for ``user`` (rate-limited per IP, re-authentication required); the
    challenge is kept for this user and session only."""
    ratelimit.hit(ratelimit.PASSKEY_OPTIONS_IP, meta.ip)
    reauth_require(user=user, session=session, password=password)
    challenge = challenges.challenge_new()
    exclude = [
        Descriptor(bytes(passkey.credential_id), tuple(passkey.transports or ()))
        for passkey in selectors.passkeys_for_user(user=user)
    ]
    options = ceremony.registration_options(
        rp=relying_party(),
        user_handle=user.id.bytes,
        user_name=user.email,
        display_name=user.name or user.email,
        challenge=challenge,
        exclude=exclude,
        timeout_ms=TIMEOUT_MS,
    )
    challenges.registration_store(user_id=user.id, session_id=session.id, challenge=challenge)
    return options


class _CredentialTaken(Exception):
    """The credential id is registered already (to this account or another)."""


def passkey_register(
    *,
    user: User,
    session: Session,
    credential: dict[str, Any],
    name: str,
    meta: RequestMeta,
) -> Passkey:
    """Verify the authenticator's attestation against the pending challenge; store the key."""
    state = challenges.registration_take(user_id=user.id)
    if state is None or not hmac.compare_digest(state.session_id, str(session.id)):
        raise passkey_verification_failed()
    try:
        registered = ceremony.registration_verify(
            rp=relying_party(), credential=credential, challenge=state.challenge
        )
    except CeremonyFailed as exc:
        logger.info("passkey registration refused: %s", exc)
        raise passkey_verification_failed() from exc
    response = credential.get("response")
    transports = ceremony.transports_clean(
        response.get("transports") if isinstance(response, dict) else None
    )
    try:
        return _passkey_create(
            user=user, registered=registered, transports=transports, name=name, meta=meta
        )
    except (_CredentialTaken, IntegrityError) as exc:
        # The same answer as any other failed verification: a distinct one (it was 409) told
        # a stranger that a credential id he copied from ``allowCredentials`` is real, not a
        # decoy (an oracle over the passkey options' enumeration defence).
        logger.warning("passkey registration refused: the credential id is already registered")
        raise passkey_verification_failed() from exc


@transaction.atomic
def _passkey_create(
    *,
    user: User,
    registered: ceremony.Registered,
    transports: list[str],
    name: str,
    meta: RequestMeta,
) -> Passkey:
    credential_key = ceremony.b64url(registered.credential_id)
    # Whoever holds this id already, it is refused: a second account claiming a known
    # credential id with its own public key must never shadow the real one. A decoy's id is
    # refused alike, so a copied id is refused whether it was real or a decoy.
    if ceremony.is_decoy_id(secret=decoy_secret(), credential_id=registered.credential_id):
        raise _CredentialTaken()
    if Passkey.objects.filter(credential_id_b64=credential_key).exists():
        raise _CredentialTaken()
    passkey = Passkey.objects.create(
        user=user,
        credential_id=registered.credential_id,
        credential_id_b64=credential_key,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        aaguid=registered.aaguid,
        transports=transports,
        device_type=registered.device_type,
        backed_up=registered.backed_up,
        name=name.strip() or DEFAULT_NAME,
    )
    security_event_record(
        type=EventType.PASSKEY_ADDED,
        user=user,
        meta=meta,
        metadata={"passkeyId": str(passkey.id), "aaguid": registered.aaguid},
    )
    factor_change_notify(user=user, what=_WHAT["added"])
    return passkey


# --- Management -------------------------------------------------------------------------------


@transaction.atomic
def passkey_rename(*, user: User, passkey: Passkey, name: str, meta: RequestMeta) -> Passkey:
    passkey.name = name.strip() or DEFAULT_NAME
    Passkey.objects.filter(pk=passkey.pk, user=user).update(name=passkey.name)
    security_event_record(
        type=EventType.PASSKEY_RENAMED,
        user=user,
        meta=meta,
        metadata={"passkeyId": str(passkey.id)},
    )
    return passkey


def passkey_delete(
    *,
    user: User,
    passkey: Passkey,
    meta: RequestMeta,
    session: Session | None = None,
    password: str | None = None,
    actor: User | None = None,
) -> None:
    """Remove a passkey and tell the owner. The owner re-authenticates; an operator (``actor``,
    the admin console) does not."""
    if actor is None:
        reauth_require(user=user, session=session, password=password)
    _passkey_delete(user=user, passkey=passkey, meta=meta, actor=actor)


@transaction.atomic
def _passkey_delete(*, user: User, passkey: Passkey, meta: RequestMeta, actor: User | None) -> None:
    passkey_id = str(passkey.id)
    Passkey.objects.filter(pk=passkey.pk, user=user).delete()
    metadata: dict[str, Any] = {"passkeyId": passkey_id}
    if actor is not None and actor.pk != user.pk:
        metadata["actorId"] = str(actor.pk)
    security_event_record(type=EventType.PASSKEY_REMOVED, user=user, meta=meta, metadata=metadata)
    factor_change_notify(user=user, what=_WHAT["removed"])
