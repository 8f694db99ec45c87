"""DRF authentication: EdDSA bearer tokens bound to a live server-side session, and the SSO
cookie for browser pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from accounts import selectors, sessions
from accounts.api_keys import looks_like_api_key
from accounts.exceptions import TokenInvalid
from accounts.models import Session, User
from mana_auth.logging import user_id_note


@dataclass(frozen=True)
class AuthContext:
    """What ``request.auth`` carries: the session and, for bearer tokens, the claims."""

    session: Session
    claims: dict[str, Any] | None = None
    via: str = "bearer"


def bearer_token(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, AuthContext] | None:
        token = bearer_token(request)
        if token is None:
            if request.META.get("HTTP_AUTHORIZATION"):
                raise TokenInvalid()
            return None
        if looks_like_api_key(token):
            return None  # API keys are accepted only where an endpoint declares a scope
        claims = selectors.access_token_claims(token)
        session = selectors.live_session_for_claims(claims)
        user_id_note(session.user_id)
        return session.user, AuthContext(session=session, claims=claims)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mana"'


class SessionCookieAuthentication(BaseAuthentication):
    """The SSO cookie (``mana.session_token``); used by the endpoints marked "A or cookie"."""

    def authenticate(self, request: Request) -> tuple[User, AuthContext] | None:
        raw = request.COOKIES.get(settings.SSO_COOKIE_NAME)
        if not raw:
            return None
        session = sessions.session_for_cookie(raw)
        user_id_note(session.user_id)
        return session.user, AuthContext(session=session, via="cookie")

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mana"'


def authenticate_bearer_or_cookie(request: Any) -> tuple[User, AuthContext]:
    """Bearer token first, then the SSO cookie; neither → 401 TOKEN_INVALID (FastAPIView)."""
    for authenticator in (BearerTokenAuthentication(), SessionCookieAuthentication()):
        result = authenticator.authenticate(request)
        if result is not None:
            return result
    raise TokenInvalid(headers={"WWW-Authenticate": 'Bearer realm="mana"'})


def bearer_claims(request: Any) -> dict[str, Any]:
    """The verified claims of the bearer token, refused exactly as ``BearerTokenAuthentication``
    under DRF refuses (no credentials or an API key: NotAuthenticated, with the challenge).
    For the lean views (``mana_auth.fastview.LeanAPIView``), which check the session's liveness
    in their own statement."""
    token = bearer_token(request)
    if token is None:
        if request.META.get("HTTP_AUTHORIZATION"):
            raise TokenInvalid()
        raise NotAuthenticated()
    if looks_like_api_key(token):
        raise NotAuthenticated()
    return selectors.access_token_claims(token)
