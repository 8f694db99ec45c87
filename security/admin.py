"""Operators' console for the security app: the audit trail.

Security events and login attempts are read-only lists, filterable by type, user, IP and date.
(The console's sign-in with OTP and the second-factor devices: ``accounts.admin``.)
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from mana_auth.console_lookups import ConsoleModelAdmin
from security.models import EventType, LoginAttempt, SecurityEvent

# --- The audit trail --------------------------------------------------------------------------
# Read-only: the database refuses UPDATE and DELETE on security events anyway. Filter by type,
# date, user (``?user=<id>``, linked from each account) and IP (``?ip=<address>``, or search).


class _EventTypeFilter(admin.SimpleListFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in EventType.values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(type=self.value()) if self.value() else queryset


class _ExactValueFilter(admin.SimpleListFilter):
    """A filter set from the URL (``?user=`` / ``?ip=``), shown only while it is active."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.cleaned()
        return [(value, self.label(value))] if value else []

    def cleaned(self) -> str | None:
        raise NotImplementedError

    def label(self, value: str) -> str:
        return value


class _UserFilter(_ExactValueFilter):
    title = "user"
    parameter_name = "user"

    def cleaned(self) -> str | None:
        try:
            return str(uuid.UUID(self.value() or ""))
        except ValueError:
            return None

    def label(self, value: str) -> str:
        users = get_user_model().objects
        return users.filter(pk=value).values_list("email", flat=True).first() or value

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned()
        return queryset.filter(user_id=value) if value else queryset


class _IpFilter(_ExactValueFilter):
    title = "IP address"
    parameter_name = "ip"

    def cleaned(self) -> str | None:
        try:
            return str(ipaddress.ip_address((self.value() or "").strip()))
        except ValueError:
            return None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.cleaned()
        return queryset.filter(ip_address=value) if value else queryset


class _ReadOnlyAuditAdmin(ConsoleModelAdmin):
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    ordering = ("-created_at",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(_ReadOnlyAuditAdmin):
    """What happened to which account, from where. Metadata never carries secrets
    (``security_event_record`` refuses secret-looking keys)."""

    list_display = ("created_at", "type", "user", "ip_address", "metadata")
    list_filter = (
        _EventTypeFilter,
        ("created_at", admin.DateFieldListFilter),
        _UserFilter,
        _IpFilter,
    )
    search_fields = ("user__email", "ip_address", "type")
    fields = ("id", "created_at", "type", "user", "ip_address", "user_agent", "metadata")
    readonly_fields = fields


@admin.register(LoginAttempt)
class LoginAttemptAdmin(_ReadOnlyAuditAdmin):
    """Every sign-in attempt with each factor (``method``), successful or not."""

    list_display = (
        "created_at",
        "method",
        "email_key",
        "user",
        "success",
        "reason",
        "known_device",
        "ip_address",
    )
    list_filter = (
        "method",
        "success",  # the outcome
        "reason",
        "known_device",
        ("created_at", admin.DateFieldListFilter),
        _UserFilter,
        _IpFilter,
    )
    search_fields = ("email_key", "ip_address", "user__email")
    fields = (
        "id",
        "created_at",
        "method",
        "email_key",
        "user",
        "success",
        "reason",
        "known_device",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields
