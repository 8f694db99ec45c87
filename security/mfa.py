"""Second-factor hooks used by the sign-in flows (filled in by the MFA work)."""

from __future__ import annotations

from accounts.models import User


def mfa_methods_for_user(*, user: User) -> list[str]:
    """The confirmed second factors of ``user`` (empty: no second step)."""
    return []


def mfa_challenge_issue(*, user: User, first_factor: str) -> str:
    raise NotImplementedError
