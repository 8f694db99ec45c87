"""The end of every sign-in: a server-side session and its first token pair."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto
from accounts.models import (
    Session,
    User,
)
from accounts.sessions import TokenPair, token_pair
from mana_auth.clientip import RequestMeta
from security import attempts
from security.models import AttemptMethod, EventType
from security.services import security_event_record


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: what the view renders and which cookies it sets."""

    user: User
    session: Session
    tokens: TokenPair
    cookie_value: str
    device_cookie: str | None = None


# savepoint=False: callers that open their own transaction (passkey sign-in) get one commit,
# not a SAVEPOINT round trip on top; an error here still rolls the whole transaction back.
@transaction.atomic(savepoint=False)
def session_start(
    *,
    user: User,
    meta: RequestMeta,
    method: str,
    attempt: AttemptMethod | None = None,
    known_device: bool = False,
    now: datetime | None = None,
) -> SignIn:
    """Create a server-side session and its first token pair. Records LOGIN_SUCCESS.

    ``method`` is the session's (``password+totp``); ``attempt`` the factor that completed
    the sign-in, recorded as a successful login attempt in the same statement as the event.
    Tools that make a session without a sign-in (fuzzing seeds, benchmarks) pass none.
    """
    current = now or timezone.now()
    cookie_value = crypto.make_opaque_token("st_")
    session = Session.objects.create(
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
    tokens = token_pair(user=user, session=session, now=current)
    metadata = {"method": method, "sessionId": str(session.id)}
    if attempt is None:
        security_event_record(type=EventType.LOGIN_SUCCESS, user=user, meta=meta, metadata=metadata)
    else:
        attempts.record(
            method=attempt,
            success=True,
            email_key=user.email_key,
            user=user,
            meta=meta,
            known_device=known_device,
            event_type=EventType.LOGIN_SUCCESS,
            event_metadata=metadata,
        )
    return SignIn(user=user, session=session, tokens=tokens, cookie_value=cookie_value)
