"""Signing in with email and password.

Unknown email and wrong password look the same, in body and time. Only genuine credential
failures count toward the lockout (``accounts.signin.failures``); a broken database is a 503.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password

from accounts import crypto
from accounts.emails import email_key
from accounts.exceptions import AccountLocked, EmailNotVerified, InvalidCredentials
from accounts.models import (
    User,
)
from accounts.signin.failures import sign_in_failure_record
from accounts.signin.second_factor import first_factor_passed
from accounts.signin.session import SignIn
from mana_auth.clientip import RequestMeta
from security import lockout, ratelimit
from security.models import AttemptMethod


@lru_cache(maxsize=1)
def _dummy_hash(params: tuple[int, int, int]) -> str:
    return make_password(crypto.make_opaque_token())


def _burn_password_check(password: str) -> None:
    """Run the hasher once for an unknown account, so timing does not tell it is unknown."""
    check_password(
        password,
        _dummy_hash(
            (
                settings.ARGON2_MEMORY_COST_KIB,
                settings.ARGON2_TIME_COST,
                settings.ARGON2_PARALLELISM,
            )
        ),
    )


def password_login(
    *, email: str, password: str, meta: RequestMeta, device_cookie: str | None = None
) -> SignIn:
    """Email + password. Unknown email and wrong password look the same, in body and time."""
    key = email_key(email)
    ratelimit.hit(ratelimit.LOGIN_IP, meta.ip)
    ratelimit.check(ratelimit.LOGIN_FAILURES_IP, meta.ip)
    user = User.objects.filter_email(email).first() if key else None
    epoch = lockout.credential_epoch(user.password) if user is not None else None
    device_id = lockout.device_id_from_cookie(device_cookie, key, epoch)
    # A browser that signed in to this account before has its own per-address budget, as it
    # has its own lockout counter: a stranger who spends the address's budget from many
    # addresses must not keep the owner out on their own device (and a known device's own
    # attempts still count toward its budget and its counter). Only under the current
    # credential epoch, and only the address's few most recent devices (security.lockout).
    ratelimit.hit(ratelimit.LOGIN_EMAIL, f"{key}\ndevice:{device_id}" if device_id else key)
    scope = lockout.scope_for(key, device_id)
    # The check is counted before it runs, and the lock decided with the count, in one
    # statement: concurrent guesses cannot all pass a lock check none of them has tripped yet.
    # Anything but a wrong password (the right one, a failure of ours) gives it back.
    reason = ""
    with lockout.check_reserved(scope=scope, email_key=key) as attempt:
        if attempt.refused:
            raise AccountLocked(details={"remainingSeconds": attempt.remaining_seconds()})
        if user is None or not isinstance(password, str):
            _burn_password_check(password if isinstance(password, str) else "")
            user, reason = None, "unknown"
        elif not user.check_password(password) or not user.is_active:
            reason = "password"
        else:
            if settings.REQUIRE_EMAIL_VERIFICATION and not user.email_verified:
                raise EmailNotVerified()
            sign_in = first_factor_passed(
                user=user,
                meta=meta,
                method=AttemptMethod.PASSWORD,
                lockout_scope=scope,
                known_device=device_id is not None,
                lockout_reset=True,
            )
    if reason:
        sign_in_failure_record(
            key=key,
            scope=scope,
            user=user,
            meta=meta,
            method=AttemptMethod.PASSWORD,
            reason=reason,
            known_device=device_id is not None,
            counted=attempt,
        )
        raise InvalidCredentials()
    # Only a completed sign-in resets the count (in the session's own statement,
    # ``lockout_reset``): with a second factor pending (MFA_REQUIRED was raised above, the
    # reservation given back), the count stands until ``login/mfa`` succeeds, so wrong codes
    # add up.
    return SignIn(
        user=sign_in.user,
        session=sign_in.session,
        tokens=sign_in.tokens,
        cookie_value=sign_in.cookie_value,
        # The epoch of the hash now stored (a sign-in may have upgraded it).
        device_cookie=lockout.device_remember(
            device_cookie, key, lockout.credential_epoch(sign_in.user.password)
        ),
    )
