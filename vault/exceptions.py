"""Domain errors of the vault, each with its contract code and status."""

from __future__ import annotations

from mana_auth.errors import AuthError


class VaultNotFound(AuthError):
    code = "VAULT_NOT_FOUND"


class RecoveryWrapMissing(AuthError):
    code = "RECOVERY_WRAP_MISSING"


class ZeroKnowledgeActive(AuthError):
    code = "ZK_ACTIVE"


class ZeroKnowledgeRotateForbidden(AuthError):
    code = "ZK_ROTATE_FORBIDDEN"


class GrantNotConfigured(AuthError):
    """A known configuration state (no AI public key), not a fault: kept out of Sentry."""

    code = "GRANT_NOT_CONFIGURED"
    expected = True


class VaultUnreadable(AuthError):
    """The stored wrap does not open: a missing KEK, or a wrap that belongs to another row.
    A server fault, never the caller's: it goes to error tracking."""

    code = "INTERNAL"
    expected = False

    def __init__(self) -> None:
        super().__init__("The encryption vault could not be opened.")
