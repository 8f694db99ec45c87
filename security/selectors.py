"""Reads for the security app."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from security.models import SecurityEvent


def security_events_for_user(*, user: AbstractBaseUser) -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.filter(user=user).order_by("-created_at")
