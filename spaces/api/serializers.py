"""Input and output shapes of the Spaces API (camelCase on the wire).

Credential values are accepted on input and appear in no user-facing output serializer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import NewAddressField
from spaces import modules
from spaces.models import (
    CredentialKind,
    Invitation,
    Membership,
    ModulePermission,
    Space,
    SpaceCredential,
    SpaceRole,
    SpaceType,
)
from spaces.services.credentials import CREDENTIAL_VALUE_MAX_CHARS

# --- Spaces -----------------------------------------------------------------------------------


class SpaceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    type = serializers.CharField()
    tier = serializers.CharField()
    metadata = serializers.DictField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class MySpaceOutputSerializer(SpaceOutputSerializer):
    role = serializers.CharField()


def space_data(space: Space, role: str | None = None) -> dict[str, Any]:
    data = dict(SpaceOutputSerializer(space).data)
    if role is not None:
        data["role"] = role
    return data


def my_space_data(membership: Membership) -> dict[str, Any]:
    return space_data(membership.space, membership.role)


@extend_schema_field(
    {"type": "string", "enum": [t for t in SpaceType.values if t != SpaceType.PERSONAL]}
)
class SharedSpaceTypeField(serializers.CharField):
    """A plain string on input: an unknown type is INVALID_SPACE_TYPE (the service decides), not
    a generic validation error. The schema names the types a client may create."""


class SpaceCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    type = SharedSpaceTypeField(max_length=32)
    slug = serializers.CharField(max_length=63, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)


class SpaceUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.CharField(max_length=63, required=False)
    metadata = serializers.DictField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "type" in self.initial_data:
            raise serializers.ValidationError({"type": ["The type of a Space cannot change."]})
        return attrs


class SpaceTypeOutputSerializer(serializers.Serializer):
    type = serializers.CharField()
    userCreatable = serializers.BooleanField()
    modules = serializers.ListField(child=serializers.CharField())


class ModuleOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    requiredTier = serializers.CharField()
    built = serializers.BooleanField()


class SpaceTypesOutputSerializer(serializers.Serializer):
    types = SpaceTypeOutputSerializer(many=True)
    modules = ModuleOutputSerializer(many=True)
    tiers = serializers.ListField(child=serializers.CharField())
    levels = serializers.ListField(child=serializers.CharField())


class SpaceAccessOutputSerializer(serializers.Serializer):
    spaceId = serializers.UUIDField()
    type = serializers.CharField()
    role = serializers.CharField()
    tier = serializers.CharField()
    modules = serializers.DictField(child=serializers.ChoiceField(choices=modules.LEVELS))


class SpaceAccessQuerySerializer(serializers.Serializer):
    module = serializers.ChoiceField(
        choices=modules.MODULE_IDS,
        required=False,
        help_text="Open this module: 403 TIER_INSUFFICIENT when the Space's tier is below what "
        "it needs (and the Space's type offers it).",
    )


class SpaceTierInputSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=modules.TIERS)


# --- Members ----------------------------------------------------------------------------------


class SpaceMemberOutputSerializer(serializers.Serializer):
    userId = serializers.UUIDField(source="user_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    image = serializers.CharField(source="user.image")
    role = serializers.CharField()
    joinedAt = serializers.DateTimeField(source="created_at")


def member_data(membership: Membership) -> dict[str, Any]:
    return dict(SpaceMemberOutputSerializer(membership).data)


class SpaceMemberRoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=SpaceRole.values)


# --- Invitations ------------------------------------------------------------------------------


class SpaceInvitationCreateInputSerializer(serializers.Serializer):
    email = NewAddressField(max_length=254)
    role = serializers.ChoiceField(choices=SpaceRole.values, default=SpaceRole.MEMBER)


class SpaceInvitationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    spaceId = serializers.UUIDField(source="space_id")
    email = serializers.EmailField()
    role = serializers.CharField()
    status = serializers.CharField()
    invitedBy = serializers.UUIDField(source="invited_by_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at")


def invitation_data(invitation: Invitation) -> dict[str, Any]:
    return dict(SpaceInvitationOutputSerializer(invitation).data)


class InvitationTokenInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)


class InvitationAcceptOutputSerializer(serializers.Serializer):
    space = MySpaceOutputSerializer()


# --- Module permissions -----------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "enum": [r for r in SpaceRole.values if r != SpaceRole.OWNER]}
)
class RestrictableRoleField(serializers.ChoiceField):
    """Owners cannot be restricted (the service says so per item); the schema says it upfront."""


@extend_schema_field({"type": "string", "enum": list(modules.MODULE_IDS)})
class ModuleIdField(serializers.CharField):
    """A module of the registry; the service checks it and whether the Space type allows it."""


class ModulePermissionItemSerializer(serializers.Serializer):
    role = RestrictableRoleField(choices=SpaceRole.values)
    module = ModuleIdField(max_length=64)
    level = serializers.ChoiceField(choices=modules.LEVELS)


class ModulePermissionsInputSerializer(serializers.Serializer):
    overrides = ModulePermissionItemSerializer(many=True, max_length=2000)


class ModulePermissionsOutputSerializer(serializers.Serializer):
    spaceId = serializers.UUIDField()
    allowedModules = serializers.ListField(child=serializers.CharField())
    roleDefaults = serializers.DictField(child=serializers.CharField())
    overrides = ModulePermissionItemSerializer(many=True)


def module_permissions_data(space: Space, overrides: list[ModulePermission]) -> dict[str, Any]:
    return {
        "spaceId": str(space.id),
        "allowedModules": list(modules.modules_for_type(space.type)),
        "roleDefaults": dict(modules.ROLE_DEFAULT_LEVEL),
        "overrides": [
            {"role": item.role, "module": item.module, "level": item.level} for item in overrides
        ],
    }


# --- Credentials ------------------------------------------------------------------------------


class SpaceCredentialCreateInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CredentialKind.values)
    name = serializers.CharField(max_length=100)
    value = serializers.CharField(
        max_length=CREDENTIAL_VALUE_MAX_CHARS, trim_whitespace=False, write_only=True
    )


class SpaceCredentialOutputSerializer(serializers.Serializer):
    """Metadata only: there is deliberately no value field."""

    id = serializers.UUIDField()
    spaceId = serializers.UUIDField(source="space_id")
    kind = serializers.CharField()
    name = serializers.CharField()
    createdBy = serializers.UUIDField(source="created_by_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


def credential_data(credential: SpaceCredential) -> dict[str, Any]:
    return dict(SpaceCredentialOutputSerializer(credential).data)


class InternalSpaceCredentialOutputSerializer(SpaceCredentialOutputSerializer):
    value = serializers.CharField()


class InternalMembershipQuerySerializer(serializers.Serializer):
    requiredTier = serializers.ChoiceField(
        choices=modules.TIERS,
        required=False,
        help_text="A member's Space must have at least this tier, else 403 TIER_INSUFFICIENT.",
    )
    module = serializers.ChoiceField(
        choices=modules.MODULE_IDS,
        required=False,
        help_text="A member's Space must have the tier this module needs (when its type offers "
        "the module), else 403 TIER_INSUFFICIENT; the answer carries the member's level in it.",
    )


class InternalMembershipOutputSerializer(serializers.Serializer):
    isMember = serializers.BooleanField()
    role = serializers.CharField(allow_null=True)
    moduleLevel = serializers.ChoiceField(
        choices=modules.LEVELS,
        required=False,
        help_text="The member's level in the asked ``module`` (only with ``module``, for a "
        "member).",
    )


# --- Singletons -------------------------------------------------------------------------------


class BootstrappedSerializer(serializers.Serializer):
    userContext = serializers.BooleanField()
    spaces = serializers.DictField(child=serializers.BooleanField())


class BootstrapSingletonsOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    bootstrapped = BootstrappedSerializer()
