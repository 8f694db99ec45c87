"""Persona passwords: derived from a server secret and the address, never stored anywhere.

The runner derives the same value on every sign-in; rotating ``PERSONA_SEED_SECRET`` and
re-running ``seed_personas`` moves every persona to its new password. Pure: no database, no
settings read here (the caller passes the secret).
"""

from __future__ import annotations

import hashlib
import hmac

from accounts.emails import email_key


def persona_password(*, email: str, secret: str) -> str:
    """HMAC-SHA256(secret, normalised lower-cased email) as 64 hex characters."""
    if not secret:
        raise ValueError("the persona seed secret is empty")
    return hmac.new(secret.encode(), email_key(email).encode(), hashlib.sha256).hexdigest()
