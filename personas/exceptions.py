"""Domain errors of personas, each with its contract code (and so its status)."""

from __future__ import annotations

from mana_auth.errors import AuthError


class NotAPersona(AuthError):
    """Persona operations refuse any other account, so a typo cannot run a human through them."""

    code = "NOT_A_PERSONA"

    def __init__(self) -> None:
        super().__init__("This account is not a persona; it is left untouched.")
