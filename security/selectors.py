"""Reads for the security app."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from security.models import SecurityEvent


def security_events_for_user(*, user: User) -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.filter(user=user).order_by("-created_at")
