"""Organizations become Spaces; members, invitations, personal Spaces."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from accounts.crypto import hash_token
from accounts.emails import normalize_email
from accounts.models import Tier, User
from predecessor import formats
from predecessor.models import ImportedRecord
from predecessor.report import TableReport
from predecessor.steps.base import ROLE_RANK, StepBase, constraint_name, target_uuid
from spaces import selectors as space_selectors
from spaces import slugs
from spaces.models import (
    PERSONAL_UNIQUE_CONSTRAINT,
    SLUG_UNIQUE_CONSTRAINT,
    Invitation,
    Membership,
    Space,
    SpaceRole,
    SpaceType,
)
from spaces.services.spaces import personal_space_ensure

SPACE_METADATA_MAX_BYTES = 16 * 1024


class SpaceSteps(StepBase):
    # -- Organizations → Spaces ----------------------------------------------------------------

    def organizations(self) -> None:
        owners = self.source.organization_owners()
        for table, batch in self.batches("organization"):
            done = self.mapped("organization", [row["id"] for row in batch])
            users = self.users_for(owners.get(row["id"], "") for row in batch)
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                self._organization_one(table, row, users.get(owners.get(row["id"], "")))

    def _organization_one(
        self, table: TableReport, row: dict[str, Any], owner: User | None
    ) -> None:
        source_id = row["id"]
        metadata = formats.json_object(row.get("metadata"))
        space_type = metadata.pop("type", None)
        if space_type not in SpaceType.values:
            table.note("no valid metadata.type: imported as a team Space", source_id)
            space_type = SpaceType.TEAM
        tier = metadata.pop("tier", None)
        if space_type == SpaceType.PERSONAL:
            if owner is None:
                table.skip("personal Space whose owner was not imported", source_id)
                return
            existing = space_selectors.personal_space_for(user=owner)
            if existing is not None:
                self._organization_merged(table, source_id, existing)
                return
        if tier not in Tier.values:
            tier = owner.access_tier if space_type == SpaceType.PERSONAL and owner else Tier.PUBLIC
        if row.get("logo"):
            metadata["logo"] = row["logo"]
        if len(json.dumps(metadata, default=str)) > SPACE_METADATA_MAX_BYTES:
            table.note("metadata over 16 KiB: left out", source_id)
            metadata = {}
        space = Space(
            id=target_uuid("organization", source_id),
            name=(row.get("name") or "").strip()[:200] or "Space",
            type=space_type,
            tier=tier,
            metadata=json.loads(json.dumps(metadata, default=str)),
            created_by=owner,
            created_at=row.get("createdAt") or self.now,
        )
        if owner is None:
            table.note("no owner among its members", source_id)
        try:
            self._space_insert(table, space, source_id, row.get("slug") or "")
        except IntegrityError as exc:
            if constraint_name(exc) == PERSONAL_UNIQUE_CONSTRAINT and owner is not None:
                existing = space_selectors.personal_space_for(user=owner)
                if existing is not None:
                    self._organization_merged(table, source_id, existing)
                    return
            table.skip("its id is taken here", source_id)
            return
        table.imported += 1

    def _organization_merged(self, table: TableReport, source_id: str, space: Space) -> None:
        self.record("organization", source_id, space.pk)
        table.imported += 1
        table.note("a second personal Space of its owner: merged into the first", source_id)

    def _space_insert(self, table: TableReport, space: Space, source_id: str, slug: str) -> None:
        """Save under the predecessor's slug when it is valid here, else a reported rename."""
        reason = None
        if not slugs.is_valid_slug(slug):
            reason = "not a valid slug here"
        elif slugs.is_reserved(slug):
            reason = "reserved here"
        elif Space.objects.filter(slug=slug).exists():
            reason = "taken here"
        if reason is None:
            candidates: Iterable[str] = [slug]
        else:
            base = slugs.slugify(slug) or slugs.slugify(space.name) or slugs.random_slug()
            candidates = slugs.slug_candidates(base)
        for attempt, candidate in enumerate(candidates):
            if attempt > slugs.MAX_NUMBERED_SUFFIX + 50:
                break
            if reason is not None and Space.objects.filter(slug=candidate).exists():
                continue
            space.slug = candidate
            try:
                with transaction.atomic():
                    space.save(force_insert=True)
                    self.record("organization", source_id, space.pk)
            except IntegrityError as exc:
                if constraint_name(exc) != SLUG_UNIQUE_CONSTRAINT:
                    raise
                reason = reason or "taken here"
                continue
            if reason is not None:
                table.note(f"slug {reason}: renamed", f"{slug or '(none)'} → {candidate}")
            return
        raise IntegrityError("no free slug")

    def members(self) -> None:
        for table, batch in self.batches("member"):
            spaces = self.spaces_for(row["organizationId"] for row in batch)
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("member", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                space, user = spaces.get(row["organizationId"]), users.get(row["userId"])
                if space is None:
                    table.skip("its organization was not imported", row["id"])
                elif user is None:
                    table.skip("its user was not imported", row["id"])
                elif space.is_personal and space.created_by_id != user.pk:
                    table.skip("a personal Space has no other members", row["id"])
                else:
                    self._member_one(table, row, space, user)

    def _member_one(
        self, table: TableReport, row: dict[str, Any], space: Space, user: User
    ) -> None:
        role, unknown = formats.best_role(row.get("role"), ROLE_RANK)
        if unknown:
            table.note("role(s) unknown here ignored", f"{row['id']}: {','.join(unknown)}")
        if role is None:
            role = SpaceRole.MEMBER
        membership, created = Membership.objects.get_or_create(
            space=space,
            user=user,
            defaults={"role": role, "created_at": row.get("createdAt") or self.now},
        )
        self.record("member", row["id"], membership.pk)
        if created:
            table.imported += 1
        else:
            table.unchanged += 1

    def invitations(self) -> None:
        for table, batch in self.batches("invitation"):
            spaces = self.spaces_for(row["organizationId"] for row in batch)
            inviters = self.users_for(row.get("inviterId") or "" for row in batch)
            done = self.mapped("invitation", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                status = row.get("status") or "pending"
                space = spaces.get(row["organizationId"])
                if status != "pending":
                    table.skip(f"{status}: only pending invitations are carried over", row["id"])
                elif row.get("expiresAt") is None or row["expiresAt"] <= self.now:
                    table.skip("expired", row["id"])
                elif space is None:
                    table.skip("its organization was not imported", row["id"])
                elif space.is_personal:
                    table.skip("a personal Space takes no invitations", row["id"])
                else:
                    self._invitation_one(table, row, space, inviters.get(row.get("inviterId")))

    def _invitation_one(
        self, table: TableReport, row: dict[str, Any], space: Space, inviter: User | None
    ) -> None:
        address = normalize_email(row["email"] or "")
        if "@" not in address:
            table.skip("no usable email address", row["id"])
            return
        invitee = User.objects.filter_email(address).first()
        if invitee is not None and Membership.objects.filter(space=space, user=invitee).exists():
            table.skip("the invitee is a member already", row["id"])
            return
        role, _ = formats.best_role(row.get("role"), ROLE_RANK)
        invitation = Invitation(
            id=target_uuid("invitation", row["id"]),
            space=space,
            email=address,
            role=role or SpaceRole.MEMBER,
            # The link the invitee holds carries Better Auth's invitation id: it stays the
            # token (POST /api/v1/invitations/accept {token: <that id>}).
            token_hash=hash_token(row["id"]),
            invited_by=inviter,
            created_at=row.get("createdAt") or self.now,
            expires_at=row["expiresAt"],
        )
        try:
            with transaction.atomic():
                invitation.save(force_insert=True)
                self.record("invitation", row["id"], invitation.pk)
        except IntegrityError:
            table.skip("its id or token is taken here", row["id"])
            return
        table.imported += 1

    def personal_spaces(self) -> None:
        """Every imported user has a personal Space, as every user who signs up here does."""
        table = self.report.table("personal space (created)")
        targets = ImportedRecord.objects.filter(source_table="user").order_by("pk")
        after = 0
        while True:
            page = list(targets.filter(pk__gt=after).values_list("pk", "target_id")[:500])
            if not page:
                return
            after = page[-1][0]
            with transaction.atomic():
                missing = User.objects.filter(pk__in=[t for _, t in page]).exclude(
                    created_spaces__type=SpaceType.PERSONAL
                )
                for user in missing:
                    personal_space_ensure(user=user)
                    table.imported += 1
