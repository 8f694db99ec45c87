"""Reads for Spaces. Every lookup is scoped to the caller's memberships: a Space the caller
is not a member of does not exist for them (404, never its data)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import (
    Case,
    Count,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)

from accounts.models import User
from mana_auth.errors import is_infrastructure_error
from mana_auth.lookups import parse_uuid, scoped_get
from spaces import modules
from spaces.exceptions import TierInsufficient
from spaces.models import (
    Invitation,
    Membership,
    ModulePermission,
    Space,
    SpaceCredential,
    SpaceRole,
    SpaceType,
)
from spaces.routers import sync_alias
from spaces.sync_store.models import SyncChange


def membership_get(*, user: User, space_id: object) -> Membership:
    """The caller's membership (with its Space); a Space they are not in is NOT_FOUND."""
    memberships = Membership.objects.select_related("space").filter(user=user)
    return scoped_get(memberships, space_id, field="space_id", message="No such Space.")


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    """The caller's Spaces, personal first, then oldest first."""
    return (
        Membership.objects.select_related("space")
        .filter(user=user)
        .annotate(
            _personal=Case(
                When(space__type=SpaceType.PERSONAL, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("_personal", "space__created_at", "space__id")
    )


def personal_space_for(*, user: User) -> Space | None:
    return Space.objects.filter(created_by=user, type=SpaceType.PERSONAL).first()


def members_of(*, space: Space) -> QuerySet[Membership]:
    role_order = Case(
        When(role=SpaceRole.OWNER, then=Value(0)),
        When(role=SpaceRole.ADMIN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        Membership.objects.select_related("user")
        .filter(space=space)
        .annotate(_role_order=role_order)
        .order_by("_role_order", "created_at", "id")
    )


def owner_count(*, space: Space) -> int:
    return Membership.objects.filter(space=space, role=SpaceRole.OWNER).count()


def target_membership_get(*, space: Space, user_id: object) -> Membership:
    members = Membership.objects.select_related("user").filter(space=space)
    return scoped_get(members, user_id, field="user_id", message="No such member.")


def invitations_of(*, space: Space) -> QuerySet[Invitation]:
    return (
        Invitation.objects.select_related("invited_by").filter(space=space).order_by("-created_at")
    )


def invitation_get(*, space: Space, invitation_id: object) -> Invitation:
    invitations = Invitation.objects.filter(space=space)
    return scoped_get(invitations, invitation_id, message="No such invitation.")


def module_overrides_of(*, space: Space) -> QuerySet[ModulePermission]:
    return ModulePermission.objects.filter(space=space).order_by("role", "module")


def module_levels(
    *, space: Space, role: str, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """Every registered module with the level ``role`` has in ``space``."""
    if overrides is None:
        overrides = dict(
            ModulePermission.objects.filter(space=space, role=role).values_list("module", "level")
        )
    return {
        module_id: modules.effective_level(
            module_id=module_id,
            space_type=space.type,
            space_tier=space.tier,
            role=role,
            override=overrides.get(module_id),
        )
        for module_id in modules.MODULE_IDS
    }


@functools.lru_cache(maxsize=4096)
def _module_levels_memo(
    space_type: str, space_tier: str, role: str, overrides: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    override = dict(overrides)
    return tuple(
        (
            module_id,
            modules.effective_level(
                module_id=module_id,
                space_type=space_type,
                space_tier=space_tier,
                role=role,
                override=override.get(module_id),
            ),
        )
        for module_id in modules.MODULE_IDS
    )


def module_levels_for(
    *, space_type: str, space_tier: str, role: str, overrides: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """Every registered module with its level: a pure function of the module registry (code)
    and its arguments, so memoised per process."""
    return dict(_module_levels_memo(space_type, space_tier, role, overrides))


def tier_require(
    *, space: Space, required_tier: str | None = None, module_id: str | None = None
) -> None:
    """TIER_INSUFFICIENT when ``space``'s tier is below ``required_tier``, or below the tier
    ``module_id`` needs. A module the Space's type does not offer is no tier question (its
    level is ``none`` whatever the tier): the gate is the tier, and only the tier."""
    if required_tier is not None and not modules.tier_meets(space.tier, required_tier):
        raise TierInsufficient(required=required_tier, actual=space.tier)
    module_tier_require(space_type=space.type, space_tier=space.tier, module_id=module_id)


def module_tier_require(*, space_type: str, space_tier: str, module_id: str | None) -> None:
    """``tier_require``'s module gate from the Space's type and tier alone (the access
    endpoint has them from its one statement or its cache, never a ``Space``)."""
    if module_id is None or not modules.is_module_allowed(module_id, space_type):
        return
    needed = modules.MODULES[module_id].required_tier
    if not modules.tier_meets(space_tier, needed):
        raise TierInsufficient(required=needed, actual=space_tier, module=module_id)


def credentials_of(*, space: Space) -> QuerySet[SpaceCredential]:
    return (
        SpaceCredential.objects.filter(space=space).defer("ciphertext", "iv").order_by("name", "id")
    )


def credential_get(*, space: Space, credential_id: object) -> SpaceCredential:
    credentials = SpaceCredential.objects.filter(space=space)
    return scoped_get(credentials, credential_id, message="No such credential.")


def space_types_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "type": space_type,
            "userCreatable": space_type != SpaceType.PERSONAL,
            "modules": list(modules.modules_for_type(space_type)),
        }
        for space_type in modules.SPACE_TYPES
    ]


def module_catalogue() -> list[dict[str, Any]]:
    return [
        {"id": module.id, "requiredTier": module.required_tier, "built": module.built}
        for module in modules.MODULES.values()
    ]


@dataclass(frozen=True)
class MembershipCheck:
    is_member: bool
    role: str | None
    module_level: str | None = None  # asked for with a module, and a member


def membership_check(
    *,
    space_id: object,
    user_id: object,
    required_tier: str | None = None,
    module_id: str | None = None,
) -> MembershipCheck:
    """For other services: is this user a member of this Space, and with which role?

    With ``required_tier`` or ``module_id``, a member's Space must also have that tier, or the
    tier the module needs (TIER_INSUFFICIENT otherwise); with ``module_id`` the answer carries
    the member's level in it. A non-member is simply not a member: nothing about the Space.
    """
    sid, uid = parse_uuid(space_id), parse_uuid(user_id)
    if sid is None or uid is None:
        return MembershipCheck(False, None)
    if required_tier is None and module_id is None:
        role = (
            Membership.objects.filter(space_id=sid, user_id=uid)
            .values_list("role", flat=True)
            .first()
        )
        return MembershipCheck(role is not None, role)
    membership = (
        Membership.objects.select_related("space").filter(space_id=sid, user_id=uid).first()
    )
    if membership is None:
        return MembershipCheck(False, None)
    space = membership.space
    tier_require(space=space, required_tier=required_tier, module_id=module_id)
    if module_id is None:
        return MembershipCheck(True, membership.role)
    override = (
        ModulePermission.objects.filter(space=space, role=membership.role, module=module_id)
        .values_list("level", flat=True)
        .first()
    )
    level = modules.effective_level(
        module_id=module_id,
        space_type=space.type,
        space_tier=space.tier,
        role=membership.role,
        override=override,
    )
    return MembershipCheck(True, membership.role, level)


def space_get_any(*, space_id: object) -> Space:
    """An operator's or a service's lookup: any Space by id."""
    return scoped_get(Space.objects.all(), space_id, message="No such Space.")


def sole_space_ids(*, user: User) -> list[Any]:
    """The Spaces ``user`` is the only owner of, their personal Space included: what goes with
    the account."""
    owned_alone = (
        Membership.objects.filter(user=user, role=SpaceRole.OWNER)
        .annotate(
            owners=Count("space__memberships", filter=Q(space__memberships__role=SpaceRole.OWNER))
        )
        .filter(owners=1)
        .values("space_id")
    )
    return list(
        Space.objects.filter(
            Q(id__in=owned_alone) | Q(created_by=user, type=SpaceType.PERSONAL)
        ).values_list("id", flat=True)
    )


@dataclass(frozen=True)
class SyncCounts:
    available: bool
    total: int = 0
    by_app: dict[str, dict[str, int]] = field(default_factory=dict)
    ids: tuple[int, ...] = ()


def sync_store_counts(
    *, user: User, space_ids: Iterable[Any] = (), with_ids: bool = False
) -> SyncCounts:
    """The user's rows in the sync store (and those of ``space_ids``), per app and table.

    The sync store is another service's database: when it cannot answer, the count is
    reported unavailable instead of failing the caller.
    """
    alias = sync_alias()
    condition = Q(user_id=str(user.pk))
    spaces = [str(space_id) for space_id in space_ids]
    if spaces:
        condition |= Q(space_id__in=spaces)
    rows = SyncChange.objects.using(alias).filter(condition)
    try:
        # A savepoint when the sync store shares the main database: a failure here must not
        # poison the caller's transaction.
        with transaction.atomic(using=alias):
            if with_ids:
                fetched = list(rows.values_list("id", "app_id", "table_name"))
                grouped = Counter((app, table) for _, app, table in fetched)
                ids = tuple(row_id for row_id, _, _ in fetched)
            else:
                grouped = Counter(
                    {
                        (row["app_id"], row["table_name"]): row["n"]
                        for row in rows.values("app_id", "table_name").annotate(n=Count("id"))
                    }
                )
                ids = ()
    except DatabaseError as exc:
        if not is_infrastructure_error(exc):
            raise
        return SyncCounts(available=False)
    by_app: dict[str, dict[str, int]] = {}
    for (app, table), n in sorted(grouped.items()):
        by_app.setdefault(app, {})[table] = n
    return SyncCounts(available=True, total=sum(grouped.values()), by_app=by_app, ids=ids)
