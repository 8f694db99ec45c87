"""Operators' console for accounts (users are registered by the personas/admin work)."""

from accounts.passkeys import admin as _passkey_admin  # noqa: F401
