"""The cookies a page sets: the same names and attributes as the API's (accounts.api.views)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from accounts.signin.session import SignIn
from security.lockout import DEVICE_COOKIE_MAX_AGE


def sign_in_cookies_set(response: HttpResponse, sign_in: SignIn) -> None:
    """What a sign-in leaves in the browser: the SSO cookie, and after a password the device
    cookie (path ``/``, so the sign-in page sees it: this browser keeps its own lockout
    counter when someone else guesses the password)."""
    response.set_cookie(
        settings.SSO_COOKIE_NAME,
        sign_in.cookie_value,
        max_age=settings.SESSION_ABSOLUTE_TTL_DAYS * 86400,
        domain=settings.COOKIE_DOMAIN or None,
        secure=settings.SSO_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    if sign_in.device_cookie:
        response.set_cookie(
            settings.DEVICE_COOKIE_NAME,
            sign_in.device_cookie,
            max_age=DEVICE_COOKIE_MAX_AGE,
            secure=settings.SSO_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
            path="/",
        )


def session_cookie_clear(response: HttpResponse) -> None:
    response.delete_cookie(
        settings.SSO_COOKIE_NAME, domain=settings.COOKIE_DOMAIN or None, path="/", samesite="Lax"
    )


def signup_cookie_set(response: HttpResponse, secret: str) -> None:
    """The sign-up binding (``accounts.registration.sign_up``), as ``register`` sets it."""
    response.set_cookie(
        settings.SIGNUP_COOKIE_NAME,
        secret,
        max_age=settings.EMAIL_VERIFICATION_TTL_HOURS * 3600,
        secure=settings.SSO_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def signup_cookie_clear(response: HttpResponse) -> None:
    response.delete_cookie(settings.SIGNUP_COOKIE_NAME, path="/", samesite="Lax")
