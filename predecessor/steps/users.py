"""Users and their passwords."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from accounts.emails import normalize_email
from accounts.hashers import BetterAuthScryptPasswordHasher, better_auth_hash_to_django
from accounts.models import Kind, Locale, Role, Tier, User
from predecessor.models import ImportedRecord
from predecessor.report import TableReport
from predecessor.steps.base import StepBase, target_uuid


class UserSteps(StepBase):
    # -- Users and their passwords -------------------------------------------------------------

    def users(self) -> None:
        accounts = self.report.table("account")
        providers = self.source.account_providers()
        accounts.read = sum(providers.values())
        for provider, count in providers.items():
            if provider != "credential":
                for _ in range(count):
                    accounts.skip(
                        f"sign-in with {provider!r} is not offered here (the user is imported "
                        "and signs in with a magic link, a passkey or a new password)"
                    )
        for table, batch in self.batches("user"):
            ids = [row["id"] for row in batch]
            done = self.mapped("user", ids)
            passwords = self.source.credential_passwords(ids)
            for row in batch:
                table.read += 1
                stored = passwords.get(row["id"])
                if row["id"] in done:
                    self._user_again(table, accounts, row, done[row["id"]], stored)
                else:
                    self._user_new(table, accounts, row, stored)

    def _user_again(
        self,
        table: TableReport,
        accounts: TableReport,
        row: dict[str, Any],
        target: str,
        stored: str | None,
    ) -> None:
        """An imported user: refresh a password changed at the predecessor meanwhile, as long
        as it was never used here (the straggler run between the two)."""
        user = User.objects.filter(pk=target).first()
        if user is None:
            table.skip("deleted here after an earlier import; not brought back", row["id"])
            if stored is not None:
                accounts.skip("its user was deleted here", row["id"])
            return
        encoded = better_auth_hash_to_django(stored) if stored else None
        prefix = BetterAuthScryptPasswordHasher.algorithm + "$"
        if encoded and user.password.startswith(prefix) and user.password != encoded:
            User.objects.filter(pk=user.pk).update(password=encoded)
            table.updated += 1
            table.note("password changed at the predecessor since the last run", row["id"])
            accounts.updated += 1
            return
        table.unchanged += 1
        if stored is not None:
            accounts.unchanged += 1

    def _user_new(
        self, table: TableReport, accounts: TableReport, row: dict[str, Any], stored: str | None
    ) -> None:
        source_id = row["id"]
        address = normalize_email(row["email"] or "")
        local, _, domain = address.rpartition("@")
        if not local or not domain:
            table.skip("no usable email address", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        existing = User.objects.filter_email(address).first()
        if existing is not None:
            earlier = (
                ImportedRecord.objects.filter(source_table="user", target_id=str(existing.pk))
                .values_list("source_id", flat=True)
                .first()
            )
            if earlier is not None:
                table.skip(
                    "address collides, after normalisation, with another predecessor user "
                    "imported first",
                    f"{source_id} vs {earlier}",
                )
            else:
                table.skip("an account with this address exists here already", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        target_id = target_uuid("user", source_id)
        if User.objects.filter(pk=target_id).exists():
            table.skip("its id is taken here by another account", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        user = self._user_build(table, row, target_id, address)
        encoded = better_auth_hash_to_django(stored) if stored else None
        if encoded:
            user.password = encoded
        else:
            user.set_unusable_password()
            if stored:
                table.note(
                    "password hash not in Better Auth's scrypt format: the user signs in with "
                    "a magic link or a passkey, or sets a new password",
                    source_id,
                )
        try:
            with transaction.atomic():
                user.save(force_insert=True)
                self.record("user", source_id, user.pk)
        except IntegrityError:
            table.skip("its address or id was taken here meanwhile", source_id)
            return
        table.imported += 1
        if stored is not None:
            if encoded:
                accounts.imported += 1
            else:
                accounts.skip("password hash in an unknown format", source_id)

    def _user_build(
        self, table: TableReport, row: dict[str, Any], target_id: uuid.UUID, address: str
    ) -> User:
        source_id = row["id"]
        roles = {r.strip() for r in (row.get("role") or "").split(",") if r.strip()}
        if roles - {Role.USER, Role.ADMIN}:
            table.note("role unknown here: imported as user", source_id)
        tier = row.get("accessTier") or Tier.PUBLIC
        if tier not in Tier.values:
            table.note(f"tier {tier!r} unknown here: imported as public", source_id)
            tier = Tier.PUBLIC
        kind = row.get("kind") or Kind.HUMAN
        if kind not in Kind.values:
            table.note(f"kind {kind!r} unknown here: imported as human", source_id)
            kind = Kind.HUMAN
        image = (row.get("image") or "").strip()
        if image and (not image.startswith(("https://", "http://")) or len(image) > 2000):
            table.note("image is not a web address: left out", source_id)
            image = ""
        locale = row.get("locale") if row.get("locale") in Locale.values else Locale.EN
        created = row.get("createdAt") or self.now
        banned = bool(row.get("banned")) and (
            row.get("banExpires") is None or row["banExpires"] > self.now
        )
        if banned:
            table.note("banned at the predecessor: imported inactive", source_id)
        name = (row.get("name") or "").strip()
        if len(name) > 200:
            table.note("name longer than 200 characters: shortened", source_id)
        return User(
            id=target_id,
            email=address,
            name=name[:200],
            image=image,
            locale=locale,
            email_verified_at=created if row.get("emailVerified") else None,
            onboarding_completed_at=row.get("onboardingCompletedAt"),
            role=Role.ADMIN if Role.ADMIN in roles else Role.USER,
            access_tier=tier,
            kind=kind,
            is_active=not banned,
            created_at=created,
        )
