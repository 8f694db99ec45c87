"""Reads for personas and the Admin API: users by search, personas with their activity."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.emails import email_key
from accounts.models import Kind, Session, User
from mana_auth.errors import NotFound
from personas.models import Persona, PersonaAction, PersonaFeedback

RECENT_ACTIONS = 20
ACTIVITY_WINDOW = timedelta(days=7)


# --- Users ------------------------------------------------------------------------------------


def users_search(*, search: str = "") -> QuerySet[User]:
    """Every account, newest first; ``search`` matches part of the email or the name, or an id."""
    users = User.objects.all().order_by("-created_at", "id")
    term = search.strip()
    if term:
        # Any spelling of an address finds its account (full-width, other case, IDN).
        condition = (
            Q(email__icontains=term) | Q(name__icontains=term) | Q(email_key=email_key(term))
        )
        with contextlib.suppress(ValueError):  # not an id: match email and name only
            condition |= Q(pk=uuid.UUID(term))
        users = users.filter(condition)
    return users


def user_get_any(*, user_id: object) -> User:
    """Any account by id, for operators; a malformed or unknown id is NOT_FOUND."""
    try:
        pk = uuid.UUID(str(user_id))
    except ValueError as exc:
        raise NotFound("No such user.") from exc
    user = User.objects.filter(pk=pk).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_admin_facts(*, user: User, now: datetime | None = None) -> dict[str, Any]:
    """What an operator wants next to the profile: lock, live sessions, second factors."""
    from security import lockout
    from security.otp.models import SealedTotpDevice

    current = now or timezone.now()
    return {
        "lockedForSeconds": lockout.remaining_lock_seconds(
            lockout.scope_for(email_key(user.email), None), now=current
        ),
        "activeSessions": Session.objects.filter(
            user=user, revoked_at__isnull=True, expires_at__gt=current
        ).count(),
        "totpEnabled": SealedTotpDevice.objects.filter(user=user, confirmed=True).exists(),
        "passkeys": user.passkeys.count(),
        "isActive": user.is_active,
        "lastLoginAt": user.last_login,
        "updatedAt": user.updated_at,
    }


# --- Personas ---------------------------------------------------------------------------------


def with_activity(queryset: QuerySet[Persona], *, now: datetime | None = None) -> QuerySet[Persona]:
    """Annotate ``actions_7d`` (actions in the last 7 days) and join the user: one query."""
    since = (now or timezone.now()) - ACTIVITY_WINDOW
    return queryset.select_related("user").annotate(
        actions_7d=Count("actions", filter=Q(actions__created_at__gte=since))
    )


def personas_with_activity(*, now: datetime | None = None) -> QuerySet[Persona]:
    """Live personas with their user and 7-day action count, by email, in one query."""
    return with_activity(Persona.objects.filter(user__kind=Kind.PERSONA), now=now).order_by(
        "user__email"
    )


def persona_get(*, persona_id: object, now: datetime | None = None) -> Persona:
    """One persona (annotated like the list); a human's or unknown id is NOT_FOUND."""
    try:
        pk = uuid.UUID(str(persona_id))
    except ValueError as exc:
        raise NotFound("No such persona.") from exc
    persona = personas_with_activity(now=now).filter(pk=pk).first()
    if persona is None:
        raise NotFound("No such persona.")
    return persona


def persona_recent_actions(*, persona: Persona, limit: int = RECENT_ACTIONS) -> list[PersonaAction]:
    return list(persona.actions.order_by("-created_at", "-id")[:limit])


def persona_feedback_averages(*, persona: Persona) -> list[dict[str, Any]]:
    """Per module: the average rating (two decimals), how many ratings, the last one's time."""
    rows = (
        PersonaFeedback.objects.filter(persona=persona)
        .values("module")
        .annotate(average=Avg("rating"), count=Count("id"), last=Max("created_at"))
        .order_by("module")
    )
    return [
        {
            "module": row["module"],
            "averageRating": round(float(row["average"]), 2),
            "count": row["count"],
            "lastRatedAt": row["last"],
        }
        for row in rows
    ]
