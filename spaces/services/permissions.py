"""Module permissions: per-Space overrides that narrow a role's default level."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    ValidationFailed,
)
from security.models import EventType
from spaces import modules
from spaces.access import space_access_changed
from spaces.models import (
    ModulePermission,
    Space,
    SpaceRole,
)
from spaces.services.base import membership_lock, role_require, space_event


@transaction.atomic
def module_permissions_set(
    *, user: User, space_id: object, overrides: list[dict[str, str]], meta: RequestMeta
) -> Space:
    """Replace the Space's overrides. An override only narrows a role's default level."""
    membership = membership_lock(user=user, space_id=space_id)
    role_require(membership, SpaceRole.OWNER)
    space = membership.space
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(overrides):
        role, module_id, level = item["role"], item["module"], item["level"]
        if role == SpaceRole.OWNER:
            errors[f"overrides.{index}.role"] = ["Owners cannot be restricted."]
        if module_id not in modules.MODULES:
            errors[f"overrides.{index}.module"] = ["Unknown module."]
        elif not modules.is_module_allowed(module_id, space.type):
            errors[f"overrides.{index}.module"] = ["Not available in this Space type."]
        if (role, module_id) in seen:
            errors[f"overrides.{index}"] = ["Duplicate role and module."]
        seen.add((role, module_id))
        if level not in modules.LEVELS:
            errors[f"overrides.{index}.level"] = ["Unknown level."]
    if errors:
        raise ValidationFailed(errors)
    space_access_changed(space.id)  # bulk_create sends no signal (see spaces/wiring.py)
    ModulePermission.objects.filter(space=space).delete()
    ModulePermission.objects.bulk_create(
        ModulePermission(space=space, role=item["role"], module=item["module"], level=item["level"])
        for item in overrides
    )
    space_event(
        EventType.SPACE_MODULE_PERMISSIONS_CHANGED,
        user=user,
        meta=meta,
        spaceId=space.id,
        count=len(overrides),
    )
    return space
