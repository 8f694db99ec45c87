"""The per-user encryption vault and its audit trail.

Both tables are under PostgreSQL row-level security (migration 0002): a query sees only the
rows of the user named by ``app.current_user_id``, which ``vault.rls.vault_scope`` sets for the
length of one transaction. Read and write them only through ``vault.services`` and
``vault.selectors``; a bare ORM query outside a scope sees nothing (as the application role).

The link to the user is a database-level ``ON DELETE CASCADE`` (migration 0002), not Django's
collector: the collector's SELECT would run under the policy and miss the rows, while a
referential action in PostgreSQL is exempt from row security. Deleting a user therefore
removes their vault and audit rows whichever role deletes it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

FORMAT_VERSION = 1


class Vault(models.Model):
    """One user's master key, wrapped by the KEK (standard mode) and/or by a key only the user
    holds (the recovery wrap). In zero-knowledge mode the server wrap is gone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    wrapped_mk = models.BinaryField(null=True, blank=True)
    wrap_iv = models.BinaryField(null=True, blank=True)
    format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)
    kek_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    # Built by the client; stored and returned verbatim (base64 text), never opened here.
    # NULL, not '', means "absent": the CHECK constraints below pair and count wraps by NULL.
    recovery_wrapped_mk = models.TextField(null=True, blank=True)  # noqa: DJ001
    recovery_iv = models.TextField(null=True, blank=True)  # noqa: DJ001
    recovery_format_version = models.PositiveSmallIntegerField(default=FORMAT_VERSION)
    recovery_set_at = models.DateTimeField(null=True, blank=True)
    zero_knowledge = models.BooleanField(default=False)

    class Meta:
        db_table = "encryption_vaults"
        constraints = [
            models.CheckConstraint(
                condition=Q(wrapped_mk__isnull=False) | Q(recovery_wrapped_mk__isnull=False),
                name="encryption_vaults_has_wrap",
            ),
            models.CheckConstraint(
                condition=(
                    (Q(wrapped_mk__isnull=True) & Q(wrap_iv__isnull=True))
                    | (Q(wrapped_mk__isnull=False) & Q(wrap_iv__isnull=False))
                )
                & (
                    (Q(recovery_wrapped_mk__isnull=True) & Q(recovery_iv__isnull=True))
                    | (Q(recovery_wrapped_mk__isnull=False) & Q(recovery_iv__isnull=False))
                ),
                name="encryption_vaults_wrap_iv_pair",
            ),
            models.CheckConstraint(
                condition=Q(zero_knowledge=False)
                | (Q(wrapped_mk__isnull=True) & Q(recovery_wrapped_mk__isnull=False)),
                name="encryption_vaults_zk_consistency",
            ),
            models.CheckConstraint(
                condition=Q(recovery_wrapped_mk__isnull=True, recovery_set_at__isnull=True)
                | Q(recovery_wrapped_mk__isnull=False, recovery_set_at__isnull=False),
                name="encryption_vaults_recovery_set_at",
            ),
            # A server wrap without the id of the KEK that made it could never be opened.
            models.CheckConstraint(
                condition=Q(wrapped_mk__isnull=True) | ~Q(kek_id=""),
                name="encryption_vaults_wrap_kek_id",
            ),
        ]

    def __str__(self) -> str:
        mode = "zero-knowledge" if self.zero_knowledge else "standard"
        return f"vault of {self.user_id} ({mode})"

    @property
    def has_server_wrap(self) -> bool:
        return self.wrapped_mk is not None

    @property
    def has_recovery_wrap(self) -> bool:
        return self.recovery_wrapped_mk is not None


class VaultAction(models.TextChoices):
    INIT = "init", "Init"
    FETCH = "fetch", "Fetch"
    ROTATE = "rotate", "Rotate"
    RECOVERY_SET = "recovery_set", "Recovery wrap set"
    RECOVERY_CLEAR = "recovery_clear", "Recovery wrap cleared"
    ZK_ENABLE = "zk_enable", "Zero-knowledge enabled"
    ZK_DISABLE = "zk_disable", "Zero-knowledge disabled"
    GRANT = "grant", "Mission grant"
    DISCARD = "discard", "Discarded (address claimed)"


class VaultAudit(models.Model):
    """One row per vault action, failures included, so probing leaves a trail. The database
    refuses UPDATE and DELETE (migration 0002), except the cascade from deleting the user."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (user, -created_at) index serves lookups by user
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=VaultAction.choices)
    status = models.PositiveSmallIntegerField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "encryption_vault_audit"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="encryption_vault_audit_user"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"
