"""What sign-in answers have in common: the token pair body and the cookies
(``accounts.cookies``)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import serializers as s
from accounts.authentication import AuthContext
from accounts.cookies import sign_in_cookies_set
from accounts.sessions import TokenPair
from accounts.signin.session import SignIn


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
    sign_in_cookies_set(response, sign_in)
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
