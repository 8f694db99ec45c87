"""Writes for Spaces (filled in by the Spaces work)."""

from __future__ import annotations

from accounts.models import User


def personal_space_ensure(*, user: User) -> None:
    """Create the user's personal Space if it does not exist (idempotent)."""


def sync_singletons_bootstrap_for_signup(*, user: User) -> None:
    """Insert the user's sync-store singletons; never aborts sign-up."""


def spaces_delete_solely_owned(*, user: User) -> None:
    """Delete the Spaces ``user`` is the only owner of (account deletion)."""
