"""Operator console for passkeys: read-only, removal goes through the service (audit + mail).

Loaded by ``accounts/admin.py`` (``from accounts.passkeys import admin as _passkey_admin``).
No key material is shown: the public key and raw credential id stay out of the console.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Passkey
from accounts.passkeys import services
from mana_auth.clientip import RequestMeta
from mana_auth.console_lookups import ConsoleModelAdmin


@admin.register(Passkey)
class PasskeyAdmin(ConsoleModelAdmin):
    list_display = ("name", "user", "device_type", "backed_up", "created_at", "last_used_at")
    list_filter = ("device_type", "backed_up")
    search_fields = ("user__email", "name", "aaguid")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "user",
        "name",
        "aaguid",
        "transports",
        "device_type",
        "backed_up",
        "sign_count",
        "created_at",
        "last_used_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Passkey) -> None:
        services.passkey_delete(
            user=obj.user,
            passkey=obj,
            meta=RequestMeta.from_request(request),
            actor=request.user,  # type: ignore[arg-type]
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Passkey]) -> None:
        for passkey in queryset.select_related("user"):
            self.delete_model(request, passkey)
