"""Operator console for Spaces. Tier changes go through the service (audited: ``TIER_CHANGED``
on the Space, ``ADMIN_ACTION`` on the operator's trail; a refusal is the page's one message);
membership rules are the API's, so members are shown, not edited; secrets are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.console import ServiceSaveAdmin
from mana_auth.clientip import RequestMeta
from mana_auth.console_lookups import ConsoleModelAdmin
from spaces.models import Invitation, Membership, ModulePermission, Space, SpaceCredential
from spaces.services.spaces import space_tier_set


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields


@admin.register(Space)
class SpaceAdmin(ServiceSaveAdmin):
    list_display = ("name", "slug", "type", "tier", "created_by", "created_at")
    list_filter = ("type", "tier")
    search_fields = ("name", "slug", "created_by__email")
    fields = ("id", "name", "slug", "type", "tier", "metadata", "created_by", "created_at")
    readonly_fields = ("id", "name", "slug", "type", "metadata", "created_by", "created_at")
    inlines = [MembershipInline]
    list_select_related = ("created_by",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Spaces are created by users (and personal ones by sign-up)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A user without a personal Space must not exist; shared Spaces are deleted by their
        # owners through the API (audited).
        return False

    def save_through_service(
        self, request: HttpRequest, obj: Space, form: Any, change: bool
    ) -> None:
        if "tier" in form.changed_data:
            space_tier_set(
                actor=request.user,  # type: ignore[arg-type]
                space_id=obj.pk,
                tier=obj.tier,
                meta=RequestMeta.from_request(request),
            )


@admin.register(Membership)
class MembershipAdmin(ConsoleModelAdmin):
    list_display = ("space", "user", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("space__name", "space__slug", "user__email")
    readonly_fields = ("space", "user", "role", "created_at", "updated_at")
    list_select_related = ("space", "user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the last-owner rule lives in the services


@admin.register(Invitation)
class InvitationAdmin(ConsoleModelAdmin):
    list_display = ("email", "space", "role", "status", "created_at", "expires_at")
    list_filter = ("role",)
    search_fields = ("email", "space__name", "space__slug")
    # Never the token hash.
    fields = (
        "id",
        "space",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "declined_at",
        "revoked_at",
    )
    readonly_fields = fields
    list_select_related = ("space",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModulePermission)
class ModulePermissionAdmin(ConsoleModelAdmin):
    list_display = ("space", "role", "module", "level", "updated_at")
    list_filter = ("role", "level")
    search_fields = ("space__name", "module")
    readonly_fields = ("space", "role", "module", "level", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SpaceCredential)
class SpaceCredentialAdmin(ConsoleModelAdmin):
    list_display = ("name", "kind", "space", "kek_id", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "space__name", "space__slug")
    # Metadata only: the sealed value and its IV are never rendered.
    fields = ("id", "space", "kind", "name", "kek_id", "created_by", "created_at", "updated_at")
    readonly_fields = fields
    list_select_related = ("space",)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("ciphertext", "iv")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # owners delete credentials through the API (audited)
