"""Signing in with a passkey (registration and management: ``accounts.passkeys``).

A passkey sign-in with user verification is two factors at once (something you have, and a PIN
or biometric), so it starts the session directly instead of passing through the MFA step.
It is a factor of its own: the password lockout never blocks it, and its failures are counted
per credential *and client address* (10 a minute → 5 minute cooldown) and per address across
credentials (20 a minute, then refused for the rest of the minute), never against the password.
Credential ids are not secret, so a count per credential alone would let a stranger freeze the
owner's passkey; per address, the stranger throttles only himself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.emails import email_key
from accounts.exceptions import EmailNotVerified
from accounts.models import Passkey
from accounts.passkeys import ceremony, challenges, selectors
from accounts.passkeys.ceremony import CeremonyFailed, Descriptor
from accounts.passkeys.services import (
    TIMEOUT_MS,
    decoy_secret,
    passkey_verification_failed,
    relying_party,
)
from accounts.signin.session import SignIn, session_start_if
from mana_auth.clientip import RequestMeta, ip_rate_key
from security import attempts, ratelimit
from security.models import AttemptMethod, EventType
from security.services import security_event_record

logger = logging.getLogger("mana_auth.passkeys")

COOLDOWN_NAME = "passkey-cred"


def passkey_sign_in_options(*, email: str | None, meta: RequestMeta) -> dict[str, Any]:
    """Request options plus a ``ceremonyId`` (clients may send it back; they need not: the
    challenge in ``clientDataJSON`` finds the ceremony).

    With an email, ``allowCredentials`` lists that account's passkeys; an unknown address (or
    one without passkeys) gets decoys derived from the address alone (the same list on every
    request and worker) and shaped like the lists authenticators produce, and neither names
    transports, so the answer does not tell whether the account exists. Without an email
    the options ask for a discoverable credential.
    """
    ratelimit.hit(ratelimit.PASSKEY_OPTIONS_IP, meta.ip)
    challenge = challenges.challenge_new()
    allow: list[Descriptor] = []
    user_id: str | None = None
    identified = bool(email)
    if email:
        key = email_key(email)
        rows = selectors.passkey_descriptors_for_email(email_key=key)
        if rows:
            user_id = rows[0][0]
            allow = [Descriptor(cid) for _, cid, _ in rows]
        else:
            allow = ceremony.decoy_descriptors(secret=decoy_secret(), email_key=key)
    options = ceremony.authentication_options(
        rp=relying_party(), challenge=challenge, allow=allow, timeout_ms=TIMEOUT_MS
    )
    ceremony_id = challenges.sign_in_store(
        challenge=challenge, identified=identified, user_id=user_id
    )
    return {**options, "ceremonyId": ceremony_id}


def _failure_ident(credential_key: str, ip: str | None) -> str:
    """Failures and the cooldown count per credential and client address together (an IPv6
    client by its /64, as every per-IP limit)."""
    address = ip_rate_key(ip) or "-"
    return hashlib.sha256(f"{credential_key}\n{address}".encode()).hexdigest()[:40]


def _user_handle_check(
    *, state: challenges.SignInState, passkey: Passkey, credential: dict[str, Any]
) -> None:
    """The assertion must come from the account the ceremony was started for."""
    if state.identified and state.user_id != str(passkey.user_id):
        raise CeremonyFailed("credential not allowed for this ceremony")
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle:
        if not hmac.compare_digest(ceremony.b64url_decode(handle), passkey.user.id.bytes):
            raise CeremonyFailed("user handle does not match the credential")
    elif not state.identified:
        raise CeremonyFailed("discoverable assertion without a user handle")


def _clone_suspected(*, passkey: Passkey, received: int, meta: RequestMeta) -> None:
    """Record the alarm in its own transaction: it must outlive the refused request."""
    with transaction.atomic():
        security_event_record(
            type=EventType.PASSKEY_CLONE_SUSPECTED,
            user=passkey.user,
            meta=meta,
            metadata={
                "passkeyId": str(passkey.id),
                "storedCount": passkey.sign_count,
                "receivedCount": received,
            },
        )


_COUNTER_SET = "UPDATE accounts_passkey SET sign_count = %s, backed_up = %s, last_used_at = %s"
_COUNTER_UP = _COUNTER_SET + " WHERE id = %s AND sign_count < %s RETURNING id"
# Authenticators without a counter send 0 every time: it stays 0 (the extra parameter is that 0).
_COUNTER_STAYS_ZERO = _COUNTER_SET + " WHERE id = %s AND sign_count = 0 AND %s = 0 RETURNING id"


def _passkey_use_guard(
    *, passkey: Passkey, asserted: ceremony.Asserted
) -> tuple[str, list[object]]:
    """The counter's conditional UPDATE (of two racing assertions, one wins), to run first in
    the sign-in's one statement (``session_start_if``)."""
    sql = _COUNTER_UP if asserted.sign_count > 0 else _COUNTER_STAYS_ZERO
    return (
        sql,
        [
            asserted.sign_count,
            asserted.backed_up,
            timezone.now(),
            passkey.pk,
            asserted.sign_count,
        ],
    )


def _sign_in_failure(*, ident: str, passkey: Passkey | None, meta: RequestMeta) -> None:
    """Count a failed assertion against the credential from this address; the 10th in a minute
    starts the cooldown there. Never touches the password lockout. The attempt is recorded
    (with ``LOGIN_FAILURE``, in one statement, when the credential is known).

    Every failure counts per (credential, address), including those only the key holder can
    cause (a sign count that did not increase, a changed backup flag): no guessing is possible
    against a signature, so nothing is gained by freezing the credential everywhere, and that
    freeze is exactly what a stranger must not be able to cause.
    """
    owner = passkey.user if passkey is not None else None
    attempts.record(
        method=AttemptMethod.PASSKEY,
        success=False,
        email_key=owner.email_key if owner is not None else "",
        user=owner,
        meta=meta,
        reason="passkey" if passkey is not None else "unknown_credential",
        event_type=EventType.LOGIN_FAILURE,
        event_metadata={"method": "passkey", "passkeyId": str(passkey.id)} if passkey else None,
    )
    if ratelimit.spent(ratelimit.PASSKEY_FAILURES_CREDENTIAL, ident):
        ratelimit.cooldown_set(COOLDOWN_NAME, ident, ratelimit.PASSKEY_COOLDOWN_SECONDS)
    # Random credential ids each fail once and each write a row: the address has its own
    # budget of failures across credentials (spent: refused until the window ends).
    ratelimit.failure_count(ratelimit.PASSKEY_FAILURES_IP, meta.ip)


def passkey_sign_in(
    *, credential: dict[str, Any], meta: RequestMeta, ceremony_id: str | None = None
) -> SignIn:
    """Verify an assertion and start a session (method ``passkey``), like a password login.

    The ceremony is the one whose challenge the authenticator signed (``clientDataJSON``); a
    ``ceremony_id``, when the client sends one, must match it. Every way the assertion can be
    wrong is one answer: 401 PASSKEY_VERIFICATION_FAILED. Infrastructure errors propagate
    untouched (503) and count nothing.
    """
    try:
        raw_id = ceremony.b64url_decode(credential.get("rawId"))
    except CeremonyFailed as exc:
        raise passkey_verification_failed() from exc
    credential_key = ceremony.b64url(raw_id)
    ident = _failure_ident(credential_key, meta.ip)
    # The credential's cooldown from this address and the address's own (too many failures
    # across credentials), in one read: the success path pays no round trip for the second.
    ratelimit.cooldowns_check(
        (COOLDOWN_NAME, ident), ratelimit.limit_cooldown(ratelimit.PASSKEY_FAILURES_IP, meta.ip)
    )
    passkey: Passkey | None = None
    try:
        passkey = selectors.passkey_for_credential(credential_id_b64=credential_key)
        state = challenges.sign_in_take(
            challenge=ceremony.client_data_challenge(credential), ceremony_id=ceremony_id
        )
        if state is None:
            raise CeremonyFailed("unknown, expired or used ceremony")
        if passkey is None:
            raise CeremonyFailed("unknown credential")
        _user_handle_check(state=state, passkey=passkey, credential=credential)
        asserted = ceremony.authentication_verify(
            rp=relying_party(),
            credential=credential,
            challenge=state.challenge,
            public_key=bytes(passkey.public_key),
        )
        if passkey.device_type and asserted.device_type != passkey.device_type:
            raise CeremonyFailed("backup eligibility changed")
        if ceremony.sign_count_regressed(stored=passkey.sign_count, received=asserted.sign_count):
            _clone_suspected(passkey=passkey, received=asserted.sign_count, meta=meta)
            raise CeremonyFailed("sign count did not increase")
        if not passkey.user.is_active:
            raise CeremonyFailed("inactive account")
    except CeremonyFailed as exc:
        logger.info("passkey sign-in refused: %s", exc)
        _sign_in_failure(ident=ident, passkey=passkey, meta=meta)
        raise passkey_verification_failed() from exc
    user = passkey.user
    if settings.REQUIRE_EMAIL_VERIFICATION and not user.email_verified:
        raise EmailNotVerified()
    # The counter, the new session and the successful attempt in one statement: one round
    # trip, no BEGIN/COMMIT; when the counter moved meanwhile, nothing is written.
    sign_in = session_start_if(
        user=user,
        meta=meta,
        method="passkey",
        attempt=AttemptMethod.PASSKEY,
        only_if=_passkey_use_guard(passkey=passkey, asserted=asserted),
    )
    if sign_in is None:
        logger.info("passkey sign-in refused: sign count moved concurrently")
        _sign_in_failure(ident=ident, passkey=passkey, meta=meta)
        raise passkey_verification_failed()
    return sign_in
