"""Re-authentication for sensitive actions: one check, called inside every service that needs it.

A sensitive action needs the current password in the request, or a sign-in (password or
passkey) on this session within ``REAUTH_WINDOW_SECONDS``; otherwise 401 REAUTH_REQUIRED.
Wrong passwords count per user (``REAUTH_USER``): a stolen access token is no password oracle.
Each check is counted before it runs and given back when the password is right, so requests
sent at once get no more checks than the budget.
A wrong password's count survives the refusal wherever the check runs: without Redis the counter
is a row, written (``durable``) on a connection of its own when the check runs inside a
transaction that the refusal then rolls back (the vault's recovery wrap in zero-knowledge mode,
``verify-email`` with the sign-up password).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.exceptions import ReauthRequired
from accounts.models import (
    Session,
    User,
)
from security import ratelimit


def password_recheck(*, user: User, password: str | None) -> bool:
    """Check a signed-in user's password (re-authentication, password/email change, account
    deletion). Wrong guesses are counted per user: a stolen access token must not become an
    unlimited password oracle.

    The check is reserved before it runs (counted, refused over the budget) and given back
    when the password is right: concurrent requests never get more checks than the budget."""
    reservation = ratelimit.reserve(ratelimit.REAUTH_USER, str(user.pk), durable=True)
    if isinstance(password, str) and password and user.check_password(password):
        ratelimit.refund(reservation)
        return True
    return False


def reauth_require(*, user: User, session: Session | None, password: str | None) -> None:
    """Sensitive actions need the current password now, or a sign-in within the window."""
    if password:
        if not password_recheck(user=user, password=password):
            raise ReauthRequired(message="The password is not correct.")
        return
    if session is not None:
        window = timedelta(seconds=settings.REAUTH_WINDOW_SECONDS)
        if session.auth_time + window > timezone.now():
            return
    raise ReauthRequired()
