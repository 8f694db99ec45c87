"""The error taxonomy in words a person reads, and the status a page answers with.

A page shows the same refusal the API gives (same service, same code), in the page's language.
401 becomes 400 (a form refusal carries no ``WWW-Authenticate`` challenge); 429 keeps its
``Retry-After``; a failure of our own dependencies is 503 and says "try again", never "wrong
password".
"""

from __future__ import annotations

import math

from django.utils.translation import gettext, gettext_noop, ngettext

from mana_auth.errors import AuthError

# The policy's own reasons that are not Django's (already translated when a page runs).
POLICY_REASONS = (
    gettext_noop("This password is too long."),
    gettext_noop("This password has appeared in a data breach."),
)


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _wait(seconds: int) -> str:
    if seconds <= 90:
        return ngettext(
            "Try again in %(count)d second.", "Try again in %(count)d seconds.", seconds
        ) % {"count": seconds}
    minutes = _minutes(seconds)
    return ngettext(
        "Try again in %(count)d minute.", "Try again in %(count)d minutes.", minutes
    ) % {"count": minutes}


def _detail(error: AuthError, key: str) -> int:
    value = (error.details or {}).get(key)
    return int(value) if isinstance(value, int | float) else 0


def error_message(error: AuthError) -> str:
    """One sentence (or two) for ``error``, in the active language."""
    code = error.code
    if code == "INVALID_CREDENTIALS":
        return gettext("The email address or the password is not correct.")
    if code == "EMAIL_NOT_VERIFIED":
        return gettext(
            "Confirm your email address first: open the link we mailed you when you signed up."
        )
    if code == "ACCOUNT_LOCKED":
        minutes = _minutes(_detail(error, "remainingSeconds"))
        return ngettext(
            "Too many failed attempts: signing in with the password is locked for %(count)d "
            "more minute. A passkey or a link by email still works.",
            "Too many failed attempts: signing in with the password is locked for %(count)d "
            "more minutes. A passkey or a link by email still works.",
            minutes,
        ) % {"count": minutes}
    if code == "RATE_LIMITED":
        return gettext("Too many requests.") + " " + _wait(_detail(error, "retryAfter") or 60)
    if code == "MFA_INVALID_CODE":
        left = _detail(error, "attemptsRemaining")
        if error.details and "attemptsRemaining" in error.details:
            return ngettext(
                "The code is not correct. %(count)d attempt left.",
                "The code is not correct. %(count)d attempts left.",
                left,
            ) % {"count": left}
        return gettext("The code is not correct.")
    if code == "REAUTH_REQUIRED":
        return gettext("The password is not correct.")
    if code == "VERIFICATION_TOKEN_INVALID":
        return gettext(
            "This link does not work any more: it was used already, it has expired, or a newer "
            "one replaced it."
        )
    if code == "WEAK_PASSWORD":
        return gettext("Choose a different password.")
    if code == "SIGNUP_LIMIT_REACHED":
        return gettext("No more sign-ups today. Please try again tomorrow.")
    if code == "FORBIDDEN":
        return gettext("You are not allowed to do this.")
    if code == "CONFLICT":
        return gettext("This cannot be done in the current state.")
    if code == "SERVICE_UNAVAILABLE" or (error.status or 500) >= 500:
        return gettext("The service is unavailable for a moment. Please try again shortly.")
    return gettext("The request could not be completed.")


def password_reasons(error: AuthError) -> list[str]:
    """WEAK_PASSWORD's reasons, each in the active language."""
    reasons = (error.details or {}).get("reasons")
    if not isinstance(reasons, list):
        return []
    return [gettext(str(reason)) for reason in reasons]


def page_status(error: AuthError) -> int:
    status = error.status or 500
    if status == 401:
        return 400
    if status >= 500:
        return 503
    return status


def retry_headers(error: AuthError) -> dict[str, str]:
    if error.code in ("RATE_LIMITED", "ACCOUNT_LOCKED"):
        seconds = _detail(error, "retryAfter") or _detail(error, "remainingSeconds")
        if seconds:
            return {"Retry-After": str(seconds)}
    if page_status(error) == 503:
        return {"Retry-After": "5"}
    return {}
