"""Encryption vaults and their audit trail."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from accounts.models import User
from mana_auth.kek.crypto import associated_data, wipe
from mana_auth.kek.keyring import seal
from predecessor import formats
from predecessor.formats import FormatError
from predecessor.models import ImportedRecord
from predecessor.report import TableReport
from predecessor.steps.base import StepBase
from vault.models import FORMAT_VERSION, Vault, VaultAction, VaultAudit
from vault.rls import scope_set, vault_scope


class VaultSteps(StepBase):
    # -- Vaults ----------------------------------------------------------------------------------

    def vaults(self) -> None:
        for table, batch in self.batches("encryption_vaults"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("encryption_vaults", [row["userId"] for row in batch])
            for row in batch:
                table.read += 1
                if row["userId"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["userId"])
                    continue
                self._vault_one(table, row, user)

    def _vault_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        source_id = row["userId"]
        zero_knowledge = bool(row.get("zeroKnowledge"))
        server = (row.get("wrappedMk"), row.get("wrapIv"))
        recovery = (row.get("recoveryWrappedMk"), row.get("recoveryIv"))
        if bool(server[0]) != bool(server[1]) or bool(recovery[0]) != bool(recovery[1]):
            table.skip("a wrap without its IV", source_id)
            return
        if zero_knowledge and (server[0] or not recovery[0]):
            table.skip("zero-knowledge, yet not exactly one recovery wrap", source_id)
            return
        if not server[0] and not recovery[0]:
            table.skip("no wrap at all", source_id)
            return
        fields: dict[str, Any] = {
            "format_version": row.get("formatVersion") or FORMAT_VERSION,
            "created_at": row.get("createdAt") or self.now,
            "rotated_at": row.get("rotatedAt"),
            "zero_knowledge": zero_knowledge,
        }
        if recovery[0]:
            # The client's own wrap: the server never could open it; copied verbatim.
            fields.update(
                recovery_wrapped_mk=recovery[0],
                recovery_iv=recovery[1],
                recovery_format_version=row.get("recoveryFormatVersion") or FORMAT_VERSION,
                recovery_set_at=row.get("recoverySetAt") or fields["created_at"],
            )
        if server[0]:
            try:
                master_key = bytearray(
                    formats.vault_unwrap(
                        wrapped_mk=server[0], wrap_iv=server[1], keks=self.options.keks
                    )
                )
            except FormatError as exc:
                table.skip(f"the server wrap does not open ({exc})", source_id)
                return
            try:
                wrapped = seal(master_key, aad=associated_data("vault-mk", user.pk))
            finally:
                wipe(master_key)
            fields.update(wrapped_mk=wrapped.ciphertext, wrap_iv=wrapped.iv, kek_id=wrapped.kek_id)
        with vault_scope(user.pk):
            if Vault.objects.filter(user_id=user.pk).exists():
                table.skip("the account has a vault here already", source_id)
                return
            Vault.objects.create(user_id=user.pk, **fields)
            self.record("encryption_vaults", source_id, user.pk)
        table.imported += 1
        if zero_knowledge:
            table.note("zero-knowledge: copied as it is", source_id)

    def vault_audit(self) -> None:
        for table, batch in self.batches("encryption_vault_audit"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("encryption_vault_audit", [row["id"] for row in batch])
            by_user: dict[uuid.UUID, list[tuple[str, VaultAudit]]] = {}
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                    continue
                if row["action"] not in VaultAction.values:
                    table.skip(f"action {row['action']!r} unknown here", row["id"])
                    continue
                by_user.setdefault(user.pk, []).append((row["id"], self._audit_row(row, user)))
            for user_id, items in by_user.items():
                scope_set(user_id)  # this batch's transaction; the policies admit the user
                created = VaultAudit.objects.bulk_create([audit for _, audit in items])
                ImportedRecord.objects.bulk_create(
                    ImportedRecord(
                        source_table="encryption_vault_audit",
                        source_id=str(source_id),
                        target_id=str(audit.pk),
                    )
                    for (source_id, _), audit in zip(items, created, strict=True)
                )
                table.imported += len(items)

    def _audit_row(self, row: dict[str, Any], user: User) -> VaultAudit:
        ip = row.get("ipAddress")
        try:
            ip = str(ipaddress.ip_address((ip or "").split(",")[0].strip())) if ip else None
        except ValueError:
            ip = None
        context = formats.json_object(row.get("context"))
        if not context and row.get("context"):
            context = {"detail": str(row["context"])[:2000]}
        context["source"] = "predecessor"
        status = row.get("status")
        return VaultAudit(
            user_id=user.pk,
            action=row["action"],
            status=status if isinstance(status, int) and 0 <= status < 1000 else 0,
            ip_address=ip,
            user_agent=(row.get("userAgent") or "")[:512],
            context=context,
            created_at=row.get("createdAt") or self.now,
        )
