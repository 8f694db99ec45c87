"""Space slugs: derivation from an email address and collision candidates. Pure functions.

A slug appears in URLs next to system routes, so some words are reserved, and it is short
enough to type. Whether a candidate is taken is the caller's question (the database's).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterator

MAX_LENGTH = 30
MAX_NUMBERED_SUFFIX = 999
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_INVALID_RUN = re.compile(r"[^a-z0-9]+")

# Words that collide with routes of this service or of the web apps.
RESERVED_SLUGS = frozenset(
    {
        "about", "account", "accounts", "admin", "administrator", "api", "app", "apps", "assets",
        "auth", "billing", "blog", "callback", "dashboard", "docs", "health", "help", "home",
        "internal", "invitations", "invite", "invites", "join", "login", "logout", "mail", "mana",
        "me", "new", "null", "oauth", "onboarding", "personal", "privacy", "profile", "public",
        "register", "reset-password", "root", "security", "settings", "signin", "signout",
        "signup", "space", "spaces", "static", "status", "support", "system", "terms",
        "undefined", "verify-email", "well-known", "www",
    }
)  # fmt: skip


def is_reserved(slug: str) -> bool:
    return slug in RESERVED_SLUGS


def is_valid_slug(slug: str, *, max_length: int = 63) -> bool:
    return isinstance(slug, str) and 0 < len(slug) <= max_length and bool(_SLUG_RE.match(slug))


def slugify(text: str, *, max_length: int = MAX_LENGTH) -> str:
    """Lower-case ASCII letters, digits and single hyphens; '' when nothing usable remains."""
    folded = unicodedata.normalize("NFKD", text or "")
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = _INVALID_RUN.sub("-", ascii_text).strip("-")
    return slug[:max_length].rstrip("-")


def random_slug() -> str:
    return f"space-{secrets.token_hex(4)}"


def base_slug_from_email(email: str) -> str:
    """The personal Space's preferred slug: the email's local part, or a random fallback."""
    local = (email or "").rpartition("@")[0] or (email or "")
    return slugify(local) or random_slug()


def _with_suffix(base: str, suffix: str, max_length: int) -> str:
    return base[: max_length - len(suffix)].rstrip("-") + suffix


def slug_candidates(base: str, *, max_length: int = MAX_LENGTH) -> Iterator[str]:
    """``base``, then ``base-2`` … ``base-999``, then random suffixes (endless).

    Every candidate fits ``max_length``; reserved words are skipped here so callers only ask
    the database about usable ones.
    """
    if not is_reserved(base):
        yield base
    for number in range(2, MAX_NUMBERED_SUFFIX + 1):
        yield _with_suffix(base, f"-{number}", max_length)
    while True:
        yield _with_suffix(base, f"-{secrets.token_hex(3)}", max_length)
