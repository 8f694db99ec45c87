"""The end of every sign-in: a server-side session and its first token pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts import crypto
from accounts.models import (
    Session,
    User,
)
from accounts.sessions import TokenPair, access_token_mint, refresh_token_new
from mana_auth.clientip import RequestMeta
from mana_auth.sqlbatch import insert_together
from security import attempts
from security.models import AttemptMethod, EventType
from security.services import security_event_build


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: what the view renders and which cookies it sets."""

    user: User
    session: Session
    tokens: TokenPair
    cookie_value: str
    device_cookie: str | None = None


def session_start(
    *,
    user: User,
    meta: RequestMeta,
    method: str,
    attempt: AttemptMethod | None = None,
    known_device: bool = False,
    also: Sequence[tuple[str, list[object]]] = (),
    now: datetime | None = None,
) -> SignIn:
    """Create a server-side session and its first token pair. Records LOGIN_SUCCESS.

    ``method`` is the session's (``password+totp``); ``attempt`` the factor that completed
    the sign-in, recorded as a successful login attempt. Tools that make a session without a
    sign-in (fuzzing seeds, benchmarks) pass none.

    The session, its refresh token, the attempt and the LOGIN_SUCCESS event are written in one
    statement (one round trip, atomic on its own, or inside the caller's transaction when
    there is one), with ``also``: writes that go with the sign-in (a password sign-in's
    lockout reset, ``security.lockout.success_statement``)."""
    sign_in = session_start_if(
        user=user,
        meta=meta,
        method=method,
        attempt=attempt,
        known_device=known_device,
        now=now,
        only_if=None,
        also=also,
    )
    assert sign_in is not None
    return sign_in


def session_start_if(
    *,
    user: User,
    meta: RequestMeta,
    method: str,
    only_if: tuple[str, list[object]] | None,
    attempt: AttemptMethod | None = None,
    known_device: bool = False,
    also: Sequence[tuple[str, list[object]]] = (),
    now: datetime | None = None,
) -> SignIn | None:
    """``session_start``, with ``only_if``: a conditional write (``… RETURNING``) that runs
    first in the same statement; when it matches nothing, nothing at all is written (no
    session, no attempt, no event) and the answer is None (passkey sign-in: the counter that
    must move)."""
    current = now or timezone.now()
    cookie_value = crypto.make_opaque_token("st_")
    session = Session(
        user=user,
        cookie_hash=crypto.hash_token(cookie_value),
        ip_address=meta.ip,
        user_agent=meta.user_agent,
        auth_method=method,
        auth_time=current,
        created_at=current,
        last_used_at=current,
        expires_at=current + timedelta(days=settings.SESSION_ABSOLUTE_TTL_DAYS),
    )
    refresh_token, refresh_row = refresh_token_new(session=session, now=current)
    metadata = {"method": method, "sessionId": str(session.id)}
    if attempt is None:
        audit = [
            security_event_build(
                type=EventType.LOGIN_SUCCESS, user=user, meta=meta, metadata=metadata
            )
        ]
    else:  # the attempt's rows as security.attempts builds them: the attempt and the event
        audit = attempts.build(
            method=attempt,
            success=True,
            email_key=user.email_key,
            user=user,
            meta=meta,
            known_device=known_device,
            event_type=EventType.LOGIN_SUCCESS,
            event_metadata=metadata,
        )
    if not insert_together(session, refresh_row, *audit, only_if=only_if, also=also):
        return None
    tokens = TokenPair(
        access_token=access_token_mint(user=user, session=session, now=current),
        refresh_token=refresh_token,
        expires_in=settings.JWT_ACCESS_TTL_SECONDS,
    )
    return SignIn(user=user, session=session, tokens=tokens, cookie_value=cookie_value)
