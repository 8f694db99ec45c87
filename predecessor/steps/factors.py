"""Second factors and passkeys."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from webauthn.helpers import decode_credential_public_key
from webauthn.helpers.exceptions import WebAuthnException

from accounts.models import Passkey, User
from accounts.passkeys.ceremony import MAX_CREDENTIAL_ID_BYTES, b64url, transports_clean
from accounts.passkeys.services import DEFAULT_NAME as PASSKEY_DEFAULT_NAME
from predecessor import formats
from predecessor.formats import FormatError
from predecessor.report import TableReport
from predecessor.steps.base import StepBase, target_uuid
from security.otp import crypto as otp_crypto
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.otp.services import BACKUP_DEVICE_NAME, TOTP_DEVICE_NAME


class FactorSteps(StepBase):
    # -- Two-factor ------------------------------------------------------------------------------

    def two_factor(self) -> None:
        for table, batch in self.batches("twoFactor"):
            owners = [row["userId"] for row in batch]
            users = self.users_for(owners)
            enabled = self.source.user_flag("twoFactorEnabled", owners)
            done = self.mapped("twoFactor", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                elif row.get("verified") is False:
                    table.skip("set-up never confirmed at the predecessor", row["id"])
                elif self.source.has_column("user", "twoFactorEnabled") and not enabled.get(
                    row["userId"]
                ):
                    table.skip("two-step sign-in was off for the user", row["id"])
                elif SealedTotpDevice.objects.filter(user=user).exists():
                    table.skip("the account has an authenticator here already", row["id"])
                else:
                    self._two_factor_one(table, row, user)

    def _two_factor_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        try:
            seed = formats.totp_seed(formats.symmetric_decrypt(row["secret"], self.options.secrets))
        except FormatError as exc:
            table.skip(f"the secret does not open ({exc})", row["id"])
            return
        if len(seed) < otp_crypto.SEED_BYTES:
            table.skip(
                "TOTP key shorter than 160 bits, which this service refuses: the user signs "
                "in without a second factor until they enrol an authenticator again",
                row["id"],
            )
            return
        try:
            codes = formats.backup_codes_parse(row["backupCodes"], self.options.secrets)
        except FormatError as exc:
            codes = []
            table.note(f"backup codes do not open ({exc}): authenticator only", row["id"])
        with transaction.atomic():
            device = SealedTotpDevice(
                user=user, name=TOTP_DEVICE_NAME, confirmed=True, confirmed_at=self.now
            )
            device.seed_seal(seed)
            device.save()
            if codes:
                holder, _ = BackupCodeDevice.objects.get_or_create(
                    user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True}
                )
                if holder.codes.exists():
                    table.note("the account has backup codes here already: kept", row["id"])
                else:
                    # Codes are compared case-insensitively here: two that differ only in
                    # case become one hash.
                    hashes = sorted({otp_crypto.backup_code_hash(code) for code in codes})
                    BackupCode.objects.bulk_create(
                        BackupCode(device=holder, code_hash=h) for h in hashes
                    )
            self.record("twoFactor", row["id"], device.pk)
        table.imported += 1

    # -- Passkeys --------------------------------------------------------------------------------

    def passkeys(self) -> None:
        for table, batch in self.batches("passkey"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("passkey", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                    continue
                self._passkey_one(table, row, user)

    def _passkey_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        try:
            credential_id = formats.b64_any(row["credentialID"])
            public_key = formats.b64_any(row["publicKey"])
            decode_credential_public_key(public_key)
        except (FormatError, WebAuthnException, ValueError):
            table.skip("credential id or public key does not decode", row["id"])
            return
        if len(credential_id) > MAX_CREDENTIAL_ID_BYTES:
            table.skip("credential id longer than WebAuthn allows", row["id"])
            return
        counter = row.get("counter")
        if not isinstance(counter, int) or counter < 0:
            table.skip("sign count is not a number", row["id"])
            return
        key = b64url(credential_id)
        holder = Passkey.objects.filter(credential_id_b64=key).values_list("user_id", flat=True)
        if holder:
            if holder[0] == user.pk:
                table.skip("the passkey is registered here already", row["id"])
            else:
                table.skip("the credential is registered to another account here", row["id"])
            return
        passkey = Passkey(
            id=target_uuid("passkey", row["id"]),
            user=user,
            credential_id=credential_id,
            credential_id_b64=key,
            public_key=public_key,
            sign_count=counter,
            aaguid=(row.get("aaguid") or "")[:64],
            transports=transports_clean(formats.transports_split(row.get("transports"))),
            device_type=formats.device_type(row.get("deviceType")),
            backed_up=bool(row.get("backedUp")),
            name=(row.get("name") or "").strip()[:100] or PASSKEY_DEFAULT_NAME,
            created_at=row.get("createdAt") or self.now,
        )
        try:
            with transaction.atomic():
                passkey.save(force_insert=True)
                self.record("passkey", row["id"], passkey.pk)
        except IntegrityError:
            table.skip("the credential was registered here meanwhile", row["id"])
            return
        table.imported += 1
