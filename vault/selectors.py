"""Reads of the vault, each inside the owner's row-level-security scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.models import User
from vault.models import Vault, VaultAudit
from vault.rls import vault_scope


@dataclass(frozen=True)
class VaultStatus:
    vault_exists: bool
    has_recovery_wrap: bool
    zero_knowledge: bool
    recovery_set_at: datetime | None

    @classmethod
    def of(cls, vault: Vault | None) -> VaultStatus:
        if vault is None:
            return cls(False, False, False, None)
        return cls(True, vault.has_recovery_wrap, vault.zero_knowledge, vault.recovery_set_at)


_STATUS_FIELDS = ("user_id", "recovery_wrapped_mk", "zero_knowledge", "recovery_set_at")


def vault_status_for_user(*, user: User) -> VaultStatus:
    """Cheap metadata read (one SELECT, no decryption). Writes no audit row: the settings page
    calls it on every mount."""
    with vault_scope(user.pk):
        vault = Vault.objects.filter(user_id=user.pk).only(*_STATUS_FIELDS).first()
    return VaultStatus.of(vault)


def vault_audit_for_user(*, user: User, limit: int = 100) -> list[VaultAudit]:
    """The user's most recent vault audit rows, newest first."""
    with vault_scope(user.pk):
        return list(VaultAudit.objects.filter(user_id=user.pk)[:limit])
