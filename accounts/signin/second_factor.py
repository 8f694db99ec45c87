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
) -> SignIn:
    """A first factor (``method``: password or magic link) checked out: finish the sign-in,
    or demand the second factor. Either way the factor's success is a login attempt.

    ``lockout_scope`` is the lockout counter the first factor was checked against; wrong
    second-factor codes count toward it, and ``login/mfa`` refuses while it is locked.
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
    return session_start(
        user=user, meta=meta, method=method, attempt=method, known_device=known_device
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


def _challenge_lock(token: Any, now: datetime) -> OneTimeToken:
    """The live challenge row for ``token``, locked; unknown, used or expired → one error."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise VerificationTokenInvalid()
    challenge = (
        OneTimeToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(
            token_hash=token_crypto.hash_token(token),
            purpose=TokenPurpose.MFA,
            used_at__isnull=True,
            expires_at__gt=now,
        )
        .first()
    )
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
    with transaction.atomic():
        challenge = _challenge_lock(mfa_token, current)
        user = challenge.user
        scope = _challenge_scope(challenge, user)
        remaining_lock = lockout.remaining_lock_seconds(scope, now=current)
        if remaining_lock:  # not an attempt: nothing counted, the code is not even looked at
            raise AccountLocked(details={"remainingSeconds": remaining_lock})
        device = _device_for(user=user, method=method)
        if device is not None:
            allowed, extra = device.verify_is_allowed()
            if not allowed:
                raise DeviceThrottled(extra)  # not an attempt: nothing counted
        if device is not None and device.verify_token(code):
            one_time_token_consume(token=mfa_token, purpose=TokenPurpose.MFA, now=current)
            key = email_key(user.email)
            lockout.success_record(scope=scope)  # the sign-in is complete: now the count resets
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
    # Counted after the token's own count committed, in the recorder's transaction: the counts
    # must survive the error response. The lockout counter is the first factor's.
    sign_in_failure_record(
        key=email_key(user.email),
        scope=scope,
        user=user,
        meta=meta,
        method=AttemptMethod(method),
        reason="mfa",
        known_device=scope.startswith("dev:"),
        metadata={"method": method},
        events=[(EventType.MFA_CHALLENGE_FAILED, {"method": method, "attempts": attempts})],
        now=current,
    )
    raise MfaInvalidCode(
        details={"attemptsRemaining": max(0, MFA_TOKEN_MAX_ATTEMPTS - attempts)},
    )
