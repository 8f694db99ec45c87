"""Notifications to other Mana services (filled in by the API keys/GDPR work)."""

from __future__ import annotations

from accounts.models import User


def outbox_enqueue_signup(*, user: User) -> None:
    """Tell other services about a new account (no-op while none is configured)."""
