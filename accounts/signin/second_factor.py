"""The second step of a sign-in: which factors a user has, the challenge, and finishing it.

A first factor (password, magic link) that checks out for a user with a confirmed authenticator
ends in 401 MFA_REQUIRED carrying an ``mfaToken``: a one-time token (purpose ``mfa``, only its
hash stored) bound to the user and to the first factor, valid ``MFA_TOKEN_TTL_SECONDS``.

A wrong code does not burn the token: a mistyped code should not send the user back to the
password. It counts instead, three ways: toward the lockout counter the first factor was
checked against, exactly like a wrong password (the account's, a known device's, or for magic
links their own), toward django-otp's per-device back-off, and toward the token's own budget
of ``MFA_TOKEN_MAX_ATTEMPTS``, after which the token is void. While that counter is locked,
``login/mfa`` refuses with ACCOUNT_LOCKED before looking at the code. The right code consumes
the token (single use, by a conditional UPDATE), starts the session and only then resets the
counter: a correct password alone never does, or guessing codes would never lock.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto as token_crypto
from accounts.emails import email_key
from accounts.exceptions import AccountLocked, MfaInvalidCode, MfaRequired, VerificationTokenInvalid
from accounts.models import OneTimeToken, TokenPurpose, User
from accounts.one_time_tokens import one_time_token_consume, one_time_token_issue
from accounts.signin.failures import sign_in_failure_record
from accounts.signin.session import SignIn, session_start
from mana_auth.clientip import RequestMeta
from security import attempts, lockout, ratelimit
from security.exceptions import DeviceThrottled
from security.models import AttemptMethod, EventType
from security.otp.models import BackupCodeDevice, SealedTotpDevice
from security.otp.selectors import mfa_methods

MFA_TOKEN_MAX_ATTEMPTS = 5
METHODS = ("totp", "backup_code")


def first_factor_passed(
    *,
    user: User,
    meta: RequestMeta,
    method: AttemptMethod,
    lockout_scope: str | None = None,
    known_device: bool = False,
    lockout_reset: bool = False,
) -> SignIn:
    """A first factor (``method``: password or magic link) checked out: finish the sign-in,
    or demand the second factor. Either way the factor's success is a login attempt.

    ``lockout_scope`` is the lockout counter the first factor was checked against; wrong
    second-factor codes count toward it, and ``login/mfa`` refuses while it is locked. With
    ``lockout_reset``, a completed sign-in clears that counter in the statement that writes the
    session (a pending second factor leaves it standing, so wrong codes add up).
    """
    methods = mfa_methods(user=user)
    if methods:
        mfa_token = mfa_challenge_issue(
            user=user,
            first_factor=method,
            lockout_scope=lockout_scope or lockout.scope_for(email_key(user.email), None),
        )
        # The one statement this answer adds: no event and no session is written here, so the
        # row is the only trace of the first factor (and a lone row tells an operator that a
        # password was right while its code was not). Not a transaction with the token: a row
        # without its token, or a token without its row, harms no one.
        attempts.record(
            method=method,
            success=True,
            email_key=user.email_key,
            user=user,
            meta=meta,
            known_device=known_device,
        )
        raise MfaRequired(details={"mfaToken": mfa_token, "methods": methods})
    reset = lockout_reset and lockout_scope is not None
    return session_start(
        user=user,
        meta=meta,
        method=method,
        attempt=method,
        known_device=known_device,
        also=[lockout.success_statement(scope=lockout_scope)] if reset else (),
    )


def mfa_challenge_issue(*, user: User, first_factor: str, lockout_scope: str) -> str:
    """Issue the token that lets the holder of ``user``'s first factor present a code.

    ``lockout_scope`` is the counter the first factor was checked against: wrong codes count
    there, and a lock there refuses the second step.
    """
    return one_time_token_issue(
        user=user,
        purpose=TokenPurpose.MFA,
        ttl=timedelta(seconds=settings.MFA_TOKEN_TTL_SECONDS),
        payload={"firstFactor": first_factor, "attempts": 0, "scope": lockout_scope},
    )


def _challenge_scope(challenge: OneTimeToken, user: User) -> str:
    scope = challenge.payload.get("scope")
    return (
        scope
        if isinstance(scope, str) and scope
        else lockout.scope_for(email_key(user.email), None)
    )


def _challenge_lock(token: Any, now: datetime, *, lock: bool = True) -> OneTimeToken:
    """The live challenge row for ``token``, locked (``lock``); unknown, used or expired → one
    error. Unlocked, it only tells which lockout counter a code for it would count on."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise VerificationTokenInvalid()
    rows = OneTimeToken.objects.select_related("user")
    if lock:
        rows = rows.select_for_update(of=("self",))
    challenge = rows.filter(
        token_hash=token_crypto.hash_token(token),
        purpose=TokenPurpose.MFA,
        used_at__isnull=True,
        expires_at__gt=now,
    ).first()
    if challenge is None or not challenge.user.is_active:
        raise VerificationTokenInvalid()
    return challenge


def _device_for(*, user: User, method: str) -> SealedTotpDevice | BackupCodeDevice | None:
    model = SealedTotpDevice if method == "totp" else BackupCodeDevice
    return model.objects.select_for_update().filter(user=user, confirmed=True).first()


def _attempt_count(*, challenge: OneTimeToken, now: datetime) -> int:
    """Count one wrong code against the token; the last allowed one voids it. Returns the
    token's remaining attempts."""
    attempts = int(challenge.payload.get("attempts", 0)) + 1
    OneTimeToken.objects.filter(pk=challenge.pk).update(
        payload={**challenge.payload, "attempts": attempts},
        used_at=now if attempts >= MFA_TOKEN_MAX_ATTEMPTS else None,
    )
    return attempts


def mfa_login_complete(
    *,
    mfa_token: str,
    code: str,
    method: str,
    meta: RequestMeta,
    device_cookie: str | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Finish a sign-in with a TOTP or backup code; start the session on success.

    After a password first factor the browser becomes a known device, as after a password
    sign-in without a second step (its own lockout counter, see ``security.lockout``).
    """
    ratelimit.hit(ratelimit.MFA_IP, meta.ip)
    current = now or timezone.now()
    if method not in METHODS:
        raise MfaInvalidCode()
    # The counter a code for this challenge counts on (the first factor's), read without a
    # lock: the code check is reserved on it before it runs, as a password check is
    # (``lockout.check_reserved``), so codes sent at once on many challenges get exactly the
    # threshold of checks. Anything but a wrong code (the right one, a used or expired token,
    # the device's back-off, a failure of ours) gives the reservation back.
    peeked = _challenge_lock(mfa_token, current, lock=False)
    scope = _challenge_scope(peeked, peeked.user)
    key = email_key(peeked.user.email)
    with lockout.check_reserved(scope=scope, email_key=key) as attempt:
        if attempt.refused:  # not an attempt: nothing counted, the code is not even looked at
            raise AccountLocked(details={"remainingSeconds": attempt.remaining_seconds()})
        with transaction.atomic():
            challenge = _challenge_lock(mfa_token, current)
            user = challenge.user
            device = _device_for(user=user, method=method)
            if device is not None:
                allowed, extra = device.verify_is_allowed()
                if not allowed:
                    raise DeviceThrottled(extra)  # not an attempt: the reservation given back
            if device is not None and device.verify_token(code):
                one_time_token_consume(token=mfa_token, purpose=TokenPurpose.MFA, now=current)
                lockout.success_record(scope=scope)  # the sign-in is complete: the count resets
                first_factor = str(challenge.payload.get("firstFactor") or "password")
                sign_in = session_start(
                    user=user,
                    meta=meta,
                    method=f"{first_factor}+{method}",
                    attempt=AttemptMethod(method),
                    known_device=scope.startswith("dev:"),
                )
                if first_factor != "password":
                    return sign_in
                epoch = lockout.credential_epoch(user.password)
                return dataclasses.replace(
                    sign_in, device_cookie=lockout.device_remember(device_cookie, key, epoch)
                )
            attempts = _attempt_count(challenge=challenge, now=current)
    # Recorded after the token's own count committed, in the recorder's transaction: the counts
    # must survive the error response. The lockout counter is the first factor's, and the
    # failure was counted there when its check was reserved.
    sign_in_failure_record(
        key=key,
        scope=scope,
        user=user,
        meta=meta,
        method=AttemptMethod(method),
        reason="mfa",
        known_device=scope.startswith("dev:"),
        metadata={"method": method},
        events=[(EventType.MFA_CHALLENGE_FAILED, {"method": method, "attempts": attempts})],
        now=current,
        counted=attempt,
    )
    raise MfaInvalidCode(
        details={"attemptsRemaining": max(0, MFA_TOKEN_MAX_ATTEMPTS - attempts)},
    )
