"""The vault's own key material. Pure: no database, no settings.

Wrapping under the KEK is the core's (``mana_auth.kek``); the vault adds the master key itself.
"""

from __future__ import annotations

import os

MASTER_KEY_BYTES = 32


def generate_master_key() -> bytearray:
    """A fresh 256-bit master key, in a buffer the caller can wipe (``kek.crypto.wipe``)."""
    return bytearray(os.urandom(MASTER_KEY_BYTES))
