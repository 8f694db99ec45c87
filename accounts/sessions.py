"""Sessions and their tokens: access tokens, rotating refresh tokens, revocation.

Every sign-in is a session row (its id is the JWT ``sid``). Refresh tokens are opaque, stored as
SHA-256, single use and rotated; a replayed one revokes its session. Revocation also marks the
session in the shared ``validate`` cache (``accounts.selectors.session_cache_forget``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto, signing_keys
from accounts.exceptions import RefreshTokenReused, SessionRevoked, TokenExpired, TokenInvalid
from accounts.models import (
    RefreshToken,
    Session,
    User,
    session_idle_ttl,
)
from accounts.notices import security_report_link
from accounts.selectors import (
    SESSION_USER_SELECT,
    live_session_for_cookie,
    session_cache_forget,
    session_user_fetch,
)
from mana_auth.clientip import RequestMeta
from mana_auth.mail import send_mail
from security.models import EventType
from security.services import security_event_record


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def access_token_mint(*, user: User, session: Session, now: datetime | None = None) -> str:
    kid, private_key = signing_keys.active_signing_key()
    claims = crypto.access_claims(
        user_id=user.id,
        email=user.email,
        role=user.role,
        tier=user.access_tier,
        session_id=session.id,
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        now=now or timezone.now(),
        ttl_seconds=settings.JWT_ACCESS_TTL_SECONDS,
    )
    return crypto.sign_access_token(private_key=private_key, kid=kid, claims=claims)


def refresh_token_new(*, session: Session, now: datetime) -> tuple[str, RefreshToken]:
    """A new refresh token for ``session`` and its row (only the hash), not yet saved."""
    token = crypto.make_opaque_token("rt_")
    row = RefreshToken(
        token_hash=crypto.hash_token(token),
        session=session,
        created_at=now,
        expires_at=min(session.expires_at, now + timedelta(days=settings.REFRESH_TTL_DAYS)),
    )
    return token, row


def _refresh_token_issue(*, session: Session, now: datetime) -> str:
    token, row = refresh_token_new(session=session, now=now)
    row.save(force_insert=True)
    return token


def token_pair(*, user: User, session: Session, now: datetime) -> TokenPair:
    return TokenPair(
        access_token=access_token_mint(user=user, session=session, now=now),
        refresh_token=_refresh_token_issue(session=session, now=now),
        expires_in=settings.JWT_ACCESS_TTL_SECONDS,
    )


def session_revoke_rows(*, sessions: Any, reason: str, now: datetime) -> list[uuid.UUID]:
    ids = list(sessions.filter(revoked_at__isnull=True).values_list("id", flat=True))
    if ids:
        Session.objects.filter(id__in=ids).update(revoked_at=now, revoked_reason=reason)
        session_cache_forget(ids)
    return ids


# A refresh in one statement, so one round trip and no transaction to open and commit: claim
# the token (the conditional UPDATE is the single-use guarantee: of two concurrent refreshes
# with the same token, exactly one gets the row) only while its session is live (not revoked,
# ``Session.live_until`` ahead: the earlier of its expiry and last use + the idle limit; the
# account active), touch the session, insert the successor token, and read the session and
# its user. Constants built from the models.
_REFRESH_SQL = (
    "WITH claimed AS ("  # noqa: S608
    " UPDATE accounts_refresh_token t SET used_at = %s"
    " FROM accounts_session s0 JOIN accounts_user u0 ON u0.id = s0.user_id"
    " WHERE t.token_hash = %s AND t.used_at IS NULL AND t.expires_at > %s"
    " AND s0.id = t.session_id AND s0.revoked_at IS NULL"
    " AND LEAST(s0.expires_at, s0.last_used_at + %s) > %s AND u0.is_active"
    " RETURNING t.session_id),"
    " touched AS (UPDATE accounts_session SET last_used_at = %s"
    " WHERE id = (SELECT session_id FROM claimed)),"
    " issued AS (INSERT INTO accounts_refresh_token"
    " (token_hash, session_id, created_at, expires_at, used_at)"
    " SELECT %s, s1.id, %s, LEAST(s1.expires_at, %s), NULL FROM accounts_session s1"
    " WHERE s1.id = (SELECT session_id FROM claimed)) "
    + SESSION_USER_SELECT
    + " WHERE s.id = (SELECT session_id FROM claimed)"
)


def _refresh_rotate(*, token_hash: str, new_hash: str, now: datetime) -> Session | None:
    """Claim, touch, issue the successor and load session and user: one statement. None when
    the token is unknown, used, expired, or its session is not live."""
    refresh_limit = now + timedelta(days=settings.REFRESH_TTL_DAYS)
    return session_user_fetch(
        _REFRESH_SQL,
        [now, token_hash, now, session_idle_ttl(), now, now, new_hash, now, refresh_limit],
    )


def session_refresh(*, refresh_token: str, meta: RequestMeta) -> tuple[User, TokenPair]:
    """Rotate a refresh token. A replayed (already used) token revokes the whole session."""
    now = timezone.now()
    if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 200:
        raise TokenInvalid()
    token_hash = crypto.hash_token(refresh_token)
    new_token = crypto.make_opaque_token("rt_")
    session = _refresh_rotate(token_hash=token_hash, new_hash=crypto.hash_token(new_token), now=now)
    if session is not None:
        pair = TokenPair(
            access_token=access_token_mint(user=session.user, session=session, now=now),
            refresh_token=new_token,
            expires_in=settings.JWT_ACCESS_TTL_SECONDS,
        )
        return session.user, pair
    record = (
        RefreshToken.objects.select_related("session", "session__user")
        .filter(token_hash=token_hash)
        .first()
    )
    if record is None:
        raise TokenInvalid()
    if record.used_at is None:
        if record.expires_at > now:  # unused and valid: its session is not live any more
            raise SessionRevoked()
        raise TokenExpired()
    _refresh_reuse_handle(session=record.session, user=record.session.user, meta=meta, now=now)
    raise RefreshTokenReused()


@transaction.atomic
def _refresh_reuse_handle(
    *, session: Session, user: User, meta: RequestMeta, now: datetime
) -> None:
    revoked = session_revoke_rows(
        sessions=Session.objects.filter(id=session.id), reason="refresh_reuse", now=now
    )
    security_event_record(
        type=EventType.REFRESH_TOKEN_REUSED,
        user=user,
        meta=meta,
        metadata={"sessionId": str(session.id)},
    )
    if revoked:
        send_mail(
            to=user.email,
            name="refresh_reuse",
            locale=user.locale,
            kind=user.kind,
            context={
                "name": user.name or user.email,
                "report_link": security_report_link(user=user),
            },
        )


@transaction.atomic
def session_revoke(
    *, user: User, session: Session, meta: RequestMeta, reason: str = "logout"
) -> None:
    revoked = session_revoke_rows(
        sessions=Session.objects.filter(id=session.id, user=user), reason=reason, now=timezone.now()
    )
    if revoked:
        security_event_record(
            type=EventType.LOGOUT if reason == "logout" else EventType.SESSION_REVOKED,
            user=user,
            meta=meta,
            metadata={"sessionId": str(session.id), "reason": reason},
        )


@transaction.atomic
def sessions_revoke_all(
    *, user: User, meta: RequestMeta, reason: str, keep: Session | None = None
) -> int:
    sessions = Session.objects.filter(user=user)
    if keep is not None:
        sessions = sessions.exclude(id=keep.id)
    revoked = session_revoke_rows(sessions=sessions, reason=reason, now=timezone.now())
    if revoked:
        security_event_record(
            type=EventType.SESSION_REVOKED,
            user=user,
            meta=meta,
            metadata={"count": len(revoked), "reason": reason},
        )
    return len(revoked)


# A cookie's use moves ``last_used_at`` at most this often: enough for a 14-day idle limit,
# without a write on every page view.
SESSION_SEEN_RESOLUTION = timedelta(minutes=5)


def session_for_cookie(raw: str, *, now: datetime | None = None) -> Session:
    """The SSO cookie's live session (SESSION_REVOKED when revoked, expired or idle). Its use
    counts as activity, as a refresh does for bearer tokens, so both ways of holding a session
    meet the same idle limit."""
    current = now or timezone.now()
    session = live_session_for_cookie(raw, now=current)
    if session.last_used_at + SESSION_SEEN_RESOLUTION <= current:
        Session.objects.filter(id=session.id, last_used_at__lt=current).update(last_used_at=current)
        session.last_used_at = current
    return session


@transaction.atomic
def session_to_token(*, session: Session) -> TokenPair:
    """Trade the SSO cookie's session for a token pair (apps on other subdomains)."""
    now = timezone.now()
    Session.objects.filter(id=session.id).update(last_used_at=now)
    return token_pair(user=session.user, session=session, now=now)


def session_mark_authenticated(*, session: Session, method: str) -> None:
    """Record a fresh first-factor check on an existing session (re-authentication)."""
    Session.objects.filter(id=session.id).update(auth_time=timezone.now(), auth_method=method)
