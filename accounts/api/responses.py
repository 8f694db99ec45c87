"""What sign-in answers have in common: the token pair body and the cookies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import serializers as s
from accounts.authentication import AuthContext
from accounts.sessions import TokenPair
from accounts.signin.session import SignIn
from security.lockout import DEVICE_COOKIE_MAX_AGE


def session_cookie_set(response: Response, value: str) -> None:
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


def session_cookie_clear(response: Response) -> None:
    response.delete_cookie(
        settings.SSO_COOKIE_NAME, domain=settings.COOKIE_DOMAIN or None, path="/", samesite="Lax"
    )


def sign_in_response(sign_in: SignIn) -> Response:
    """What every successful sign-in answers: user, token pair, SSO (and device) cookie."""
    response = Response(
        {
            "user": s.user_data(sign_in.user),
            "accessToken": sign_in.tokens.access_token,
            "refreshToken": sign_in.tokens.refresh_token,
            "expiresIn": sign_in.tokens.expires_in,
            "tokenType": "Bearer",
        }
    )
    session_cookie_set(response, sign_in.cookie_value)
    if sign_in.device_cookie:
        response.set_cookie(
            settings.DEVICE_COOKIE_NAME,
            sign_in.device_cookie,
            max_age=DEVICE_COOKIE_MAX_AGE,
            secure=settings.SSO_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
            path="/",  # the hosted sign-in pages read it too (lockout-as-DoS protection)
        )
    return response


def token_pair_body(pair: TokenPair) -> dict[str, Any]:
    return {
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
        "expiresIn": pair.expires_in,
        "tokenType": "Bearer",
    }


def auth_context(request: Request) -> AuthContext:
    assert isinstance(request.auth, AuthContext)
    return request.auth
