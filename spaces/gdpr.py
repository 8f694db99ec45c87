"""Spaces' part of the GDPR documents: Spaces, memberships, invitations, the sync store.

Registered from ``SpacesConfig.ready()`` (``mana_auth.gdpr``). A Space the user manages (owns
or administers, or that goes with the account) is exported with its members, invitations,
overrides and credential metadata; other Spaces only as far as the user's own membership.
Credential values are write-only and never exported.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from rest_framework import serializers

from accounts.emails import email_key
from accounts.models import User
from mana_auth import gdpr
from mana_auth.gdpr import Context, Section
from mana_auth.records import Field, Record
from spaces.models import (
    Invitation,
    Membership,
    ModulePermission,
    Space,
    SpaceCredential,
    SpaceRole,
    SpaceType,
)
from spaces.selectors import sole_space_ids, sync_store_counts
from spaces.sync_store.models import SyncChange

SPACE_MANAGER_ROLES = (SpaceRole.OWNER, SpaceRole.ADMIN)
_UUID = serializers.UUIDField
_TEXT = serializers.CharField
_TIME = serializers.DateTimeField

# --- Records -----------------------------------------------------------------------------------

# An invitation as the user may see it: ``spaceName`` only while the Space is visible to them,
# the outcome (status, who accepted, when) only while they may follow it.
INVITATION = Record(
    "GdprInvitationOutput",
    invitationId=Field(_UUID(), "pk"),
    spaceId=Field(_UUID(), "space_id"),
    invitedEmail=Field(serializers.EmailField(), "email"),
    role=Field(_TEXT(), "role"),
    invitedByUserId=Field(_UUID(allow_null=True), "invited_by_id"),
    createdAt=Field(_TIME(), "created_at"),
    expiresAt=Field(_TIME(), "expires_at"),
    status=Field(_TEXT(), "status"),
    acceptedAt=Field(_TIME(allow_null=True), "accepted_at"),
    acceptedByUserId=Field(_UUID(allow_null=True), "accepted_by_id"),
    declinedAt=Field(_TIME(allow_null=True), "declined_at"),
    revokedAt=Field(_TIME(allow_null=True), "revoked_at"),
    spaceName=Field(_TEXT(), "space.name"),
)
_OUTCOME = ("status", "acceptedAt", "acceptedByUserId", "declinedAt", "revokedAt")


def invitation_record(
    invitation: Invitation, *, space_name: bool = True, outcome: bool = True
) -> dict[str, Any]:
    omit = (() if outcome else _OUTCOME) + (() if space_name else ("spaceName",))
    return INVITATION.build(invitation, omit=omit)


SPACE = Record(
    "GdprSpaceExport",
    spaceId=Field(_UUID(), "space.id"),
    name=Field(_TEXT(), "space.name"),
    slug=Field(_TEXT(), "space.slug"),
    type=Field(_TEXT(), "space.type"),
    accessTier=Field(_TEXT(), "space.tier"),
    metadata=Field(serializers.DictField(), "space.metadata"),
    createdByYou=Field(
        serializers.BooleanField(), lambda part: part["space"].created_by_id == part["user"].pk
    ),
    createdAt=Field(_TIME(), "space.created_at"),
    updatedAt=Field(_TIME(), "space.updated_at"),
    yourRole=Field(
        _TEXT(allow_null=True), lambda part: part["membership"].role if part["membership"] else None
    ),
    youJoinedAt=Field(
        _TIME(allow_null=True),
        lambda part: part["membership"].created_at if part["membership"] else None,
    ),
    deletedWithYourAccount=Field(
        serializers.BooleanField(), lambda part: part["space"].id in part["sole"]
    ),
)

MEMBER = Record(
    "GdprMemberExport",
    userId=Field(_UUID(), "user_id"),
    email=Field(_TEXT(), "user.email"),
    displayName=Field(_TEXT(), "user.name"),
    role=Field(_TEXT(), "role"),
    joinedAt=Field(_TIME(), "created_at"),
)

MODULE_OVERRIDE = Record(
    "GdprModuleOverrideExport",
    role=Field(_TEXT(), "role"),
    module=Field(_TEXT(), "module"),
    accessLevel=Field(_TEXT(), "level"),
    updatedAt=Field(_TIME(), "updated_at"),
)

CREDENTIAL = Record(
    "GdprCredentialExport",
    credentialId=Field(_UUID(), "pk"),
    kind=Field(_TEXT(), "kind"),
    name=Field(_TEXT(), "name"),
    createdByUserId=Field(_UUID(allow_null=True), "created_by_id"),
    createdAt=Field(_TIME(), "created_at"),
    updatedAt=Field(_TIME(), "updated_at"),
    note=Field(_TEXT(), lambda _: "The value is write-only and not part of this export."),
)

SPACE_SUMMARY = Record(
    "GdprSpaceOutput",
    spaceId=Field(_UUID(), "membership.space_id"),
    name=Field(_TEXT(), "membership.space.name"),
    slug=Field(_TEXT(), "membership.space.slug"),
    type=Field(_TEXT(), "membership.space.type"),
    accessTier=Field(_TEXT(), "membership.space.tier"),
    yourRole=Field(_TEXT(), "membership.role"),
    youJoinedAt=Field(_TIME(), "membership.created_at"),
    memberCount=Field(serializers.IntegerField(), "membership.member_count"),
    ownerCount=Field(serializers.IntegerField(), "membership.owner_count"),
    deletedWithYourAccount=Field(
        serializers.BooleanField(
            help_text="You are its only owner: deleting your account deletes this Space."
        ),
        lambda part: part["membership"].space_id in part["sole"],
    ),
)

INVITATIONS_SUMMARY = Record(
    "GdprInvitationsOutput",
    sentTotal=Field(serializers.IntegerField(), "total"),
    sentPending=Field(serializers.IntegerField(), "pending"),
    receivedPending=Field(
        INVITATION.serializer(many=True),
        lambda part: [invitation_record(inv) for inv in part["received"]],
    ),
)

SYNC_STORE_SUMMARY = Record(
    "GdprSyncStoreOutput",
    available=Field(
        serializers.BooleanField(
            help_text="False when the sync store could not be asked; the counts are then null."
        ),
        "available",
    ),
    totalRecords=Field(
        serializers.IntegerField(allow_null=True),
        lambda counts: counts.total if counts.available else None,
    ),
    recordsByAppAndTable=Field(
        serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()), allow_null=True
        ),
        lambda counts: counts.by_app if counts.available else None,
    ),
)


def _sole(ctx: Context) -> list[Any]:
    return ctx.once("spaces.sole_space_ids", lambda: sole_space_ids(user=ctx.user))


def _received_invitations(user: User) -> Any:
    return Invitation.objects.filter(email_key=email_key(user.email))


# --- Export ------------------------------------------------------------------------------------


def _spaces(ctx: Context) -> Section:
    user = ctx.user
    sole = _sole(ctx)
    memberships = {
        m.space_id: m for m in Membership.objects.filter(user=user).select_related("space")
    }
    # A Space the user created but no longer belongs to is the other members' now: the export
    # says only that they created it (its id), nothing of what it has become.
    left = list(
        Space.objects.filter(created_by=user)
        .exclude(id__in=list(memberships))
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    spaces = [m.space for m in memberships.values()]
    spaces.sort(key=lambda s: (s.type != SpaceType.PERSONAL, s.created_at, str(s.id)))
    owned = [
        s.id for s in spaces if getattr(memberships.get(s.id), "role", None) == SpaceRole.OWNER
    ]
    managed = set(owned) | set(sole)
    members: dict[Any, list[Membership]] = {}
    # Ordered: the export is the same document every time (its shape is pinned byte for byte).
    for m in (
        Membership.objects.filter(space_id__in=managed)
        .select_related("user")
        .order_by("created_at", "id")
    ):
        members.setdefault(m.space_id, []).append(m)
    invitations: dict[Any, list[Invitation]] = {}
    for inv in Invitation.objects.filter(space_id__in=managed).order_by("-created_at"):
        invitations.setdefault(inv.space_id, []).append(inv)
    overrides: dict[Any, list[ModulePermission]] = {}
    for override in ModulePermission.objects.filter(space_id__in=managed).order_by(
        "role", "module"
    ):
        overrides.setdefault(override.space_id, []).append(override)
    credentials: dict[Any, list[SpaceCredential]] = {}
    for credential in SpaceCredential.objects.filter(space_id__in=managed).defer(
        "ciphertext", "iv"
    ):
        credentials.setdefault(credential.space_id, []).append(credential)

    items = []
    for space in spaces:
        membership = memberships.get(space.id)
        item = SPACE.build({"space": space, "user": user, "membership": membership, "sole": sole})
        if space.id in managed:
            item["members"] = MEMBER.build_many(members.get(space.id, []))
            item["invitations"] = [
                invitation_record(inv, space_name=False) for inv in invitations.get(space.id, [])
            ]
            item["moduleAccessOverrides"] = MODULE_OVERRIDE.build_many(overrides.get(space.id, []))
            item["credentials"] = CREDENTIAL.build_many(credentials.get(space.id, []))
        items.append(item)
    items.extend(
        {
            "spaceId": space_id,
            "createdByYou": True,
            "yourRole": None,
            "note": "You created this Space and are no longer a member; its contents belong "
            "to its members and are not part of your export.",
        }
        for space_id in left
    )

    section = Section("spaces", items)
    section.add(Space._meta.label, [*(s.id for s in spaces), *left])
    section.add(Membership._meta.label, (m.pk for m in memberships.values()))
    section.add(Membership._meta.label, (m.pk for group in members.values() for m in group))
    section.add(Invitation._meta.label, (i.pk for group in invitations.values() for i in group))
    section.add(ModulePermission._meta.label, (o.pk for group in overrides.values() for o in group))
    section.add(
        SpaceCredential._meta.label, (c.pk for group in credentials.values() for c in group)
    )
    return section


def _invitations(ctx: Context) -> Section:
    user = ctx.user
    roles = dict(Membership.objects.filter(user=user).values_list("space_id", "role"))
    managed = {space_id for space_id, role in roles.items() if role in SPACE_MANAGER_ROLES}
    sent = list(
        Invitation.objects.filter(invited_by=user).select_related("space").order_by("-created_at")
    )
    received = list(
        Invitation.objects.filter(Q(accepted_by=user) | Q(email_key=email_key(user.email)))
        .select_related("space")
        .order_by("-created_at")
    )
    section = Section(
        "invitations",
        {
            # What the user did, always; the Space's name while they are in it; what became
            # of the invitation while they may still manage the Space's invitations.
            "sentByYou": [
                invitation_record(
                    inv, space_name=inv.space_id in roles, outcome=inv.space_id in managed
                )
                for inv in sent
            ],
            # Addressed to them: a still open invitation shows the Space it invites to.
            "receivedByYou": [
                invitation_record(inv, space_name=inv.space_id in roles or inv.status == "pending")
                for inv in received
            ],
        },
    )
    section.add(Invitation._meta.label, (inv.pk for inv in sent + received))
    return section


def _sync_store(ctx: Context) -> Section:
    counts = sync_store_counts(user=ctx.user, space_ids=_sole(ctx), with_ids=True)
    section = Section(
        "syncedAppData",
        {
            "available": counts.available,
            "totalRecords": counts.total,
            "recordsByAppAndTable": counts.by_app,
            "note": (
                "What the Mana apps synchronise is held by the Mana sync service, end-to-end "
                "encrypted where the app encrypts it; this lists how much there is. Export the "
                "content from the apps themselves."
            ),
        },
    )
    section.add(SyncChange._meta.label, counts.ids)
    return section


# --- Summary -----------------------------------------------------------------------------------


def _spaces_summary(ctx: Context) -> list[dict[str, Any]]:
    sole = set(_sole(ctx))
    # One query for every Space, however many: counts are aggregated in SQL.
    memberships = (
        Membership.objects.filter(user=ctx.user)
        .select_related("space")
        .annotate(
            member_count=Count("space__memberships", distinct=True),
            owner_count=Count(
                "space__memberships",
                filter=Q(space__memberships__role=SpaceRole.OWNER),
                distinct=True,
            ),
        )
        .order_by("space__created_at", "space__id")
    )
    items = [SPACE_SUMMARY.build({"membership": m, "sole": sole}) for m in memberships]
    items.sort(key=lambda item: item["type"] != SpaceType.PERSONAL)
    return items


def _invitations_summary(ctx: Context) -> dict[str, Any]:
    now = ctx.now
    received = list(
        _received_invitations(ctx.user)
        .filter(accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True)
        .filter(expires_at__gt=now)
        .select_related("space")
        .order_by("-created_at")
    )
    sent = Invitation.objects.filter(invited_by=ctx.user).aggregate(
        total=Count("id"),
        pending=Count(
            "id",
            filter=Q(
                accepted_at__isnull=True,
                declined_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            ),
        ),
    )
    return INVITATIONS_SUMMARY.build({**sent, "received": received})


def register() -> None:
    """Spaces' part of the GDPR registry (``SpacesConfig.ready()``)."""
    gdpr.register_export(
        position=70,
        labels=gdpr.labels(Space, Membership, ModulePermission, SpaceCredential),
        build=_spaces,
    )
    gdpr.register_export(position=80, labels=gdpr.labels(Invitation), build=_invitations)
    gdpr.register_export(position=110, labels=gdpr.labels(SyncChange), build=_sync_store)
    gdpr.register_summary(
        position=60, key="spaces", build=_spaces_summary, schema=SPACE_SUMMARY.serializer(many=True)
    )
    gdpr.register_summary(
        position=70,
        key="invitations",
        build=_invitations_summary,
        schema=INVITATIONS_SUMMARY.serializer(),
    )
    gdpr.register_summary(
        position=110,
        key="syncedAppData",
        build=lambda ctx: SYNC_STORE_SUMMARY.build(sync_store_counts(user=ctx.user)),
        schema=SYNC_STORE_SUMMARY.serializer(),
    )
    gdpr.register_retained(
        "sync_store.SyncChange",
        "Changes the user made inside a Space that lives on (another owner remains) belong to "
        "that Space's shared history; they keep only the bare account id.",
    )
