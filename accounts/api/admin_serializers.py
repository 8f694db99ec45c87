"""Input and output shapes of the accounts Admin API (``/admin/users``; camelCase on the wire,
unique names for OpenAPI)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.api.serializers import UserOutputSerializer, user_data
from accounts.models import Tier, User

# --- Users ------------------------------------------------------------------------------------


class AdminUserListQuerySerializer(serializers.Serializer):
    search = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")


class AdminUserDetailOutputSerializer(UserOutputSerializer):
    lockedForSeconds = serializers.IntegerField()
    activeSessions = serializers.IntegerField()
    totpEnabled = serializers.BooleanField()
    passkeys = serializers.IntegerField()
    isActive = serializers.BooleanField()
    lastLoginAt = serializers.DateTimeField(allow_null=True)
    updatedAt = serializers.DateTimeField()


def admin_user_detail_data(user: User, facts: dict[str, Any]) -> dict[str, Any]:
    return {**user_data(user), **facts}


class AdminUserTierInputSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Tier.values)


class AdminUserTierOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    tier = serializers.CharField()


class AdminUserUnlockOutputSerializer(serializers.Serializer):
    unlocked = serializers.BooleanField()
    cleared = serializers.IntegerField(help_text="lock counters removed")


class AdminUserSessionsRevokeOutputSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="sessions ended")
