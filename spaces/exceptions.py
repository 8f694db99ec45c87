"""Domain errors of Spaces, each with its contract code (and so its status)."""

from __future__ import annotations

from mana_auth.errors import AuthError


class InvalidSpaceType(AuthError):
    code = "INVALID_SPACE_TYPE"


class PersonalSpaceUndeletable(AuthError):
    code = "PERSONAL_SPACE_UNDELETABLE"
