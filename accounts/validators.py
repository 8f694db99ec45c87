"""Password policy pieces Django does not ship."""

from __future__ import annotations

from django.core.exceptions import ValidationError

MAX_PASSWORD_CHARS = 256
MAX_PASSWORD_BYTES = 1024


class MaximumLengthValidator:
    """Refuse absurdly long passwords (hashing cost is bounded before the hasher runs)."""

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > MAX_PASSWORD_CHARS or len(password.encode()) > MAX_PASSWORD_BYTES:
            raise ValidationError(
                f"This password is too long (at most {MAX_PASSWORD_CHARS} characters).",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can be up to {MAX_PASSWORD_CHARS} characters long."
