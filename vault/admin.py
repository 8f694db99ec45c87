"""Operators' view of the vault: metadata only, read-only, one user at a time.

Wrapped keys, IVs and recovery blobs are never rendered. Under row-level security (the service
running as an ordinary database role) only the scoped user's rows exist, so the lists ask for a
user: search by email or user id, or open a user's vault from its URL.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from mana_auth.console_lookups import ConsoleModelAdmin
from vault.models import Vault, VaultAudit
from vault.rls import vault_scope


def _user_id_for(term: str) -> str | None:
    term = term.strip()
    if not term:
        return None
    try:
        return str(uuid.UUID(term))
    except ValueError:
        pk = get_user_model().objects.filter_email(term).values_list("pk", flat=True).first()
        return str(pk) if pk else None


def _rendered(response: HttpResponse) -> HttpResponse:
    # Template responses query lazily; render inside the scope or the rows are invisible.
    if isinstance(response, TemplateResponse):
        response.render()
    return response


class ScopedReadOnlyAdmin(ConsoleModelAdmin):
    search_help_text = "Row-level security shows one user at a time: search an email or user id."
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        user_id = _user_id_for(search_term)
        return queryset.filter(user_id=user_id) if user_id else queryset.none(), False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user_id = _user_id_for(request.GET.get("q", ""))
        if user_id is None:
            return super().changelist_view(request, extra_context)
        with vault_scope(user_id):
            return _rendered(super().changelist_view(request, extra_context))


@admin.register(Vault)
class VaultAdmin(ScopedReadOnlyAdmin):
    list_display = (
        "user",
        "zero_knowledge",
        "server_wrap",
        "recovery_wrap",
        "kek_id",
        "format_version",
        "created_at",
        "rotated_at",
    )
    list_filter = ("zero_knowledge",)
    search_fields = ("user__email",)
    fields = (
        "user",
        "zero_knowledge",
        "server_wrap",
        "kek_id",
        "format_version",
        "created_at",
        "rotated_at",
        "recovery_wrap",
        "recovery_format_version",
        "recovery_set_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        # Never load the wrapped key material, not even into memory.
        return (
            super()
            .get_queryset(request)
            .defer("wrapped_mk", "wrap_iv", "recovery_wrapped_mk", "recovery_iv")
        )

    @admin.display(boolean=True, description="server wrap")
    def server_wrap(self, vault: Vault) -> bool:
        return bool(vault.kek_id)

    @admin.display(boolean=True, description="recovery wrap")
    def recovery_wrap(self, vault: Vault) -> bool:
        return vault.recovery_set_at is not None

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        user_id = _user_id_for(object_id)  # a vault's id is its user's id
        if user_id is None:
            return super().change_view(request, object_id, form_url, extra_context)
        with vault_scope(user_id):
            return _rendered(super().change_view(request, object_id, form_url, extra_context))


@admin.register(VaultAudit)
class VaultAuditAdmin(ScopedReadOnlyAdmin):
    list_display = ("created_at", "user", "action", "status", "ip_address", "user_agent", "context")
    list_filter = ("action", "status")
    search_fields = ("user__email",)
    list_display_links = None  # every column is in the list; rows are not opened one by one
