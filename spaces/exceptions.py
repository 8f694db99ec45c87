"""Domain errors of Spaces, each with its contract code (and so its status)."""

from __future__ import annotations

from mana_auth.errors import AuthError


class InvalidSpaceType(AuthError):
    code = "INVALID_SPACE_TYPE"


class PersonalSpaceUndeletable(AuthError):
    code = "PERSONAL_SPACE_UNDELETABLE"


class TierInsufficient(AuthError):
    """The Space's tier is below what is asked for: a tier the caller requires, or the one a
    module needs. ``details`` say which tier was required and which the Space has."""

    code = "TIER_INSUFFICIENT"

    def __init__(self, *, required: str, actual: str, module: str | None = None) -> None:
        details = {"requiredTier": required, "tier": actual}
        if module is not None:
            details["module"] = module
        what = f"The module {module!r} needs" if module else "This needs"
        super().__init__(
            f"{what} the tier {required!r}; the Space has {actual!r}.", details=details
        )
