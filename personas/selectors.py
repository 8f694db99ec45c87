"""Reads for personas: personas with their activity, their actions and feedback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import Kind
from mana_auth.lookups import scoped_get
from personas.models import Persona, PersonaAction, PersonaFeedback

RECENT_ACTIONS = 20
ACTIVITY_WINDOW = timedelta(days=7)


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
    return scoped_get(personas_with_activity(now=now), persona_id, message="No such persona.")


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
