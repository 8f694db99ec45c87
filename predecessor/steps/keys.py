"""API keys; the signing keys that stay behind."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from accounts.api_keys import LEGACY_KEY_PREFIXES, SCOPES, better_auth_key_hash
from accounts.models import ApiKey, ApiKeyHashFormat, User
from predecessor import formats
from predecessor.report import TableReport
from predecessor.steps.base import StepBase, target_uuid

_API_KEY_HASH = re.compile(r"^[A-Za-z0-9_-]{43}$")  # unpadded base64url of 32 bytes


class KeySteps(StepBase):
    # -- API keys --------------------------------------------------------------------------------

    def api_keys(self) -> None:
        for table, batch in self.batches("apikey"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("apikey", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip(
                        "its owner is not an imported user (an organization's key?)", row["id"]
                    )
                    continue
                self._api_key_one(table, row, user)

    def _api_key_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        source_id, stored = row["id"], (row["key"] or "").strip()
        visible = (row.get("start") or row.get("prefix") or "")[:40]
        if _API_KEY_HASH.match(stored):
            key_hash = stored
        elif stored.startswith(LEGACY_KEY_PREFIXES):
            # Stored unhashed (the plugin's disableKeyHashing): only its hash is kept here.
            key_hash = better_auth_key_hash(stored)
            visible = visible or stored[:8]
            table.note("stored in clear at the predecessor: only its hash is kept", source_id)
        else:
            table.skip("the stored key is neither Better Auth's hash nor a key", source_id)
            return
        if not visible.startswith(LEGACY_KEY_PREFIXES):
            table.note(
                "not a mana_ key: valid at internal/api-keys/validate, not as a bearer token",
                source_id,
            )
        scopes, unmapped = formats.permissions_to_scopes(
            row.get("permissions"), row.get("metadata"), SCOPES
        )
        if scopes is None:
            scopes = sorted(SCOPES)
            table.note("no permissions at the predecessor: given every scope", source_id)
        if unmapped:
            table.note(
                "permissions with no scope here dropped", f"{source_id}: {','.join(unmapped)}"
            )
        revoked_at = None
        if row.get("enabled") is False:
            revoked_at = row.get("updatedAt") or self.now
            table.note("disabled at the predecessor: imported revoked", source_id)
        elif row.get("remaining") == 0:
            revoked_at = row.get("updatedAt") or self.now
            table.note("its usage limit was used up: imported revoked", source_id)
        elif isinstance(row.get("remaining"), int):
            table.note("a usage limit is not enforced here", source_id)
        api_key = ApiKey(
            id=target_uuid("apikey", source_id),
            user=user,
            name=((row.get("name") or "").strip() or f"Imported key {visible}")[:100],
            prefix=visible or "mana_",
            key_hash=key_hash,
            hash_format=ApiKeyHashFormat.BETTER_AUTH,
            scopes=scopes,
            expires_at=row.get("expiresAt"),
            revoked_at=revoked_at,
            created_at=row.get("createdAt") or self.now,
        )
        try:
            with transaction.atomic():
                api_key.save(force_insert=True)
                self.record("apikey", source_id, api_key.pk)
        except IntegrityError:
            table.skip("the same key is here already", source_id)
            return
        table.imported += 1

    # -- Left behind -----------------------------------------------------------------------------

    def jwks(self) -> None:
        if not self.source.has("jwks"):
            self.report.absent("jwks")
            return
        table = self.report.table("jwks")
        count = self.source.count("jwks")
        table.read = count
        for _ in range(count):
            table.skip(
                "signing keys stay behind: this service signs with its own, and the "
                "predecessor's sessions are not copied (everyone signs in once more)"
            )
