"""The vault's part of the GDPR documents: whether a vault exists, its mode, its audit trail.

Registered from ``VaultConfig.ready()`` (``mana_auth.gdpr``). The master key and its wraps
are secrets: never exported. Both documents read through the owner's row-level-security scope.
"""

from __future__ import annotations

from rest_framework import serializers

from mana_auth import gdpr
from mana_auth.gdpr import Context, Section
from mana_auth.records import Field, Record
from vault.models import Vault, VaultAudit
from vault.selectors import vault_audit_for_user, vault_status_for_user

# The vault selector takes a limit; the export wants the whole trail.
_VAULT_AUDIT_ALL = 1_000_000

VAULT_STATUS = Record(
    "GdprVaultOutput",
    vaultExists=Field(serializers.BooleanField(), "vault_exists"),
    hasRecoveryWrap=Field(serializers.BooleanField(), "has_recovery_wrap"),
    zeroKnowledge=Field(serializers.BooleanField(), "zero_knowledge"),
    recoverySetAt=Field(serializers.DateTimeField(allow_null=True), "recovery_set_at"),
)

VAULT_AUDIT = Record(
    "GdprVaultAuditExport",
    action=Field(serializers.CharField(), "action"),
    httpStatus=Field(serializers.IntegerField(), "status"),
    at=Field(serializers.DateTimeField(), "created_at"),
    ipAddress=Field(serializers.IPAddressField(allow_null=True), "ip_address"),
    userAgent=Field(serializers.CharField(), "user_agent"),
    details=Field(serializers.DictField(), "context"),
)


def _vault(ctx: Context) -> Section:
    status = VAULT_STATUS.build(vault_status_for_user(user=ctx.user))
    audit = vault_audit_for_user(user=ctx.user, limit=_VAULT_AUDIT_ALL)
    data = {
        **status,
        "note": "The master key and its wraps are secrets and are not part of this export.",
        "auditTrail": VAULT_AUDIT.build_many(audit),
    }
    section = Section("encryptionVault", data)
    section.add(Vault._meta.label, [ctx.user.pk] if status["vaultExists"] else [])
    section.add(VaultAudit._meta.label, (row.pk for row in audit))
    return section


def register() -> None:
    """The vault's part of the GDPR registry (``VaultConfig.ready()``)."""
    gdpr.register_export(position=60, labels=gdpr.labels(Vault, VaultAudit), build=_vault)
    gdpr.register_summary(
        position=50,
        key="encryptionVault",
        build=lambda ctx: VAULT_STATUS.build(vault_status_for_user(user=ctx.user)),
        schema=VAULT_STATUS.serializer(),
    )
