"""The cookies accounts leaves in a browser, one definition each, for the API and the pages.

- the SSO cookie (``SSO_COOKIE_NAME``, ``mana.session_token``): HttpOnly, SameSite=Lax, path
  ``/``, ``Domain=COOKIE_DOMAIN``, for the session's absolute lifetime;
- the device cookie (``DEVICE_COOKIE_NAME``), after a password sign-in: signed, HttpOnly, path
  ``/`` so the API's ``login`` and the hosted ``/login`` both read it (a browser that signed
  in before keeps its own lockout counter when someone else guesses the password);
- the sign-up cookie (``SIGNUP_COOKIE_NAME``, ``__Host-mana.signup`` when secure: Secure,
  path ``/``, no ``Domain``): the secret of ``registration.sign_up``, bound to the account's
  verification links, for as long as a verification link lives. The name before it,
  ``__Secure-mana.signup`` (``RETIRED_SIGNUP_COOKIE_NAME``), is never read: ``__Secure-`` only
  demands the Secure flag, so a sibling subdomain could plant it with ``Domain=``. A browser
  still carrying it has it cleared where a verification link is opened; a sign-up in flight
  across the upgrade verifies with its password (the verification page asks).

Django's ``set_cookie`` and ``delete_cookie`` are the same on a DRF ``Response`` and on a page's
``HttpResponse``, so both take these.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request

from accounts.signin.session import SignIn
from security.lockout import DEVICE_COOKIE_MAX_AGE

# The sign-up cookie's name before ``__Host-``: cleared when seen, never read or set.
RETIRED_SIGNUP_COOKIE_NAME = "__Secure-mana.signup"


def session_cookie_set(response: HttpResponseBase, value: str) -> None:
    response.set_cookie(
        settings.SSO_COOKIE_NAME,
        value,
        max_age=settings.SESSION_ABSOLUTE_TTL_DAYS * 86400,
        domain=settings.COOKIE_DOMAIN or None,
        secure=settings.SSO_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def session_cookie_clear(response: HttpResponseBase) -> None:
    response.delete_cookie(
        settings.SSO_COOKIE_NAME, domain=settings.COOKIE_DOMAIN or None, path="/", samesite="Lax"
    )


def device_cookie_set(response: HttpResponseBase, value: str) -> None:
    response.set_cookie(
        settings.DEVICE_COOKIE_NAME,
        value,
        max_age=DEVICE_COOKIE_MAX_AGE,
        secure=settings.SSO_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def sign_in_cookies_set(response: HttpResponseBase, sign_in: SignIn) -> None:
    """What a sign-in leaves in the browser: the SSO cookie, and after a password the device
    cookie."""
    session_cookie_set(response, sign_in.cookie_value)
    if sign_in.device_cookie:
        device_cookie_set(response, sign_in.device_cookie)


def signup_cookie_set(response: HttpResponseBase, secret: str) -> None:
    """The sign-up binding's secret (``registration.sign_up``), as ``register`` and the sign-up
    page set it."""
    response.set_cookie(
        settings.SIGNUP_COOKIE_NAME,
        secret,
        max_age=settings.EMAIL_VERIFICATION_TTL_HOURS * 3600,
        # A __Host- cookie must be Secure, on path / and without Domain, or browsers drop it.
        secure=settings.SSO_COOKIE_SECURE or settings.SIGNUP_COOKIE_NAME.startswith("__Host-"),
        httponly=True,
        samesite="Lax",
        path="/",
    )


def signup_cookie_read(request: HttpRequest | Request) -> str | None:
    """The sign-up secret this browser carries, under the current name only."""
    return request.COOKIES.get(settings.SIGNUP_COOKIE_NAME) or None


SIGNUP_SECRETS_KEPT = 3


def signup_cookie_value(request: HttpRequest | Request, secret: str) -> str:
    """The sign-up cookie's value after a sign-up whose secret is ``secret``: it first, then up
    to ``SIGNUP_SECRETS_KEPT - 1`` secrets the browser already carries, dot-separated. A second
    submit (double click, retry) must not unbind the first submit's verification link from the
    browser that made both (attack2 F14). Anything that does not look like a secret is dropped."""
    carried = (signup_cookie_read(request) or "").split(".")
    kept = [part for part in carried if _looks_like_signup_secret(part) and part != secret]
    return ".".join([secret, *kept[: SIGNUP_SECRETS_KEPT - 1]])


def _looks_like_signup_secret(value: str) -> bool:
    body = value.removeprefix("su_")
    return (
        body != value
        and 0 < len(body) <= 64
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in body)
    )


def signup_cookie_clear(response: HttpResponseBase) -> None:
    # No Domain, as it was set; delete_cookie marks __Host-/__Secure- names Secure itself.
    response.delete_cookie(settings.SIGNUP_COOKIE_NAME, path="/", samesite="Lax")


def retired_signup_cookie_clear(request: HttpRequest | Request, response: HttpResponseBase) -> None:
    """Clear the retired ``__Secure-mana.signup`` from a browser that still sends it (host-only,
    as the previous release set it). It is never read."""
    if RETIRED_SIGNUP_COOKIE_NAME in request.COOKIES:
        response.delete_cookie(RETIRED_SIGNUP_COOKIE_NAME, path="/", samesite="Lax")
