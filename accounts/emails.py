"""Email address normalisation: one address, one account, whatever the spelling."""

from __future__ import annotations

import unicodedata


def normalize_email(raw: str) -> str:
    """Trim, apply NFKC and lower-case the domain; the local part keeps its case for display.

    Comparison is case-insensitive everywhere (a functional unique index on ``lower(email)``).
    """
    value = unicodedata.normalize("NFKC", (raw or "").strip())
    local, sep, domain = value.rpartition("@")
    if not sep:
        return value
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = domain.lower()
    return f"{local}@{domain.lower()}"


def email_key(raw: str) -> str:
    """The case-insensitive lookup key of an address."""
    return normalize_email(raw).lower()
