"""Operators' console for accounts: users, JWT signing keys, API keys, second-factor devices
(passkeys: own module; the console's own sign-in: ``accounts.signin.admin_console``).

Every action goes through a service and writes an ``ADMIN_ACTION`` event. Nothing secret is
rendered or even loaded: no password hash, no cookie or key hash, no wrapped private key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Concat, Lower
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import mfa, operators
from accounts.console import ServiceSaveAdmin
from accounts.models import ApiKey, Session, SigningKey, SigningKeyStatus, Tier, User
from accounts.passkeys import admin as _passkey_admin  # noqa: F401
from accounts.signin import admin_console as _admin_console  # noqa: F401
from accounts.signing_keys import published_keys_queryset
from mana_auth.clientip import RequestMeta
from mana_auth.console_lookups import ConsoleModelAdmin
from mana_auth.errors import AuthError
from security.models import LoginThrottle, SecurityEvent
from security.otp.models import BackupCodeDevice, SealedTotpDevice

RECENT_EVENTS = 20

# Operators are made with the "Grant operator access" action (role, staff and superuser
# together); Django's groups and per-model permissions are not used.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


def _meta(request: HttpRequest) -> RequestMeta:
    return RequestMeta.from_request(request)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Users ------------------------------------------------------------------------------------


class VerifiedFilter(admin.SimpleListFilter):
    title = "email verified"
    parameter_name = "verified"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Verified"), ("no", "Not verified")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() in ("yes", "no"):
            return queryset.filter(email_verified_at__isnull=self.value() == "no")
        return queryset


def _account_locked() -> Exists:
    """Whether the account's password sign-in is locked right now (its account-wide scope)."""
    return Exists(
        LoginThrottle.objects.filter(
            scope=Concat(Value("acct:"), Lower(OuterRef("email"))),
            locked_until__gt=timezone.now(),
        )
    )


class LockedFilter(admin.SimpleListFilter):
    title = "password lock"
    parameter_name = "locked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Locked now"), ("no", "Not locked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.filter(_account_locked())
        if self.value() == "no":
            return queryset.exclude(_account_locked())
        return queryset


class RecentSecurityEventInline(ReadOnlyInline):
    model = SecurityEvent
    fk_name = "user"
    verbose_name_plural = f"recent security events (last {RECENT_EVENTS})"
    fields = ("created_at", "type", "ip_address", "user_agent", "metadata")
    readonly_fields = fields
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SecurityEvent]:
        recent = (
            SecurityEvent.objects.filter(user=OuterRef("user"))
            .order_by("-created_at")
            .values("id")[:RECENT_EVENTS]
        )
        return super().get_queryset(request).filter(id__in=Subquery(recent))


class LiveSessionInline(ReadOnlyInline):
    model = Session
    verbose_name_plural = "live sessions"
    # Never the cookie hash.
    fields = ("id", "auth_method", "ip_address", "user_agent", "created_at", "last_used_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        return (
            super()
            .get_queryset(request)
            .defer("cookie_hash")
            .live(timezone.now())
            .order_by("-last_used_at")
        )


def _tier_action(tier: str) -> Callable[..., None]:
    def set_tier(model_admin: UserAdmin, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = 0
        for user in queryset:
            if user.access_tier != tier:
                operators.user_tier_set(
                    user=user, tier=tier, actor=request.user, meta=_meta(request)
                )
                changed += 1
        model_admin.message_user(request, f"Tier set to {tier} for {changed} account(s).")

    set_tier.__name__ = f"set_tier_{tier}"
    return admin.action(description=f"Set tier to {tier}")(set_tier)


@admin.register(User)
class UserAdmin(ServiceSaveAdmin):
    """Accounts. Only the tier is edited here (through the service); everything else is
    changed by its owner or through the actions (operator access with a confirmation step)."""

    list_display = (
        "email",
        "name",
        "kind",
        "role",
        "access_tier",
        "verified",
        "locked",
        "is_staff",
        "created_at",
    )
    list_filter = ("access_tier", "kind", "role", VerifiedFilter, LockedFilter, "is_staff")
    search_fields = ("email", "name")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    # No "password", no groups/permissions widgets: nothing here renders a hash.
    fields = (
        "id",
        "email",
        "name",
        "locale",
        "kind",
        "role",
        "access_tier",
        "email_verified_at",
        "onboarding_completed_at",
        "locked",
        "is_active",
        "is_staff",
        "is_superuser",
        "last_login",
        "created_at",
        "updated_at",
        "security_events",
    )
    readonly_fields = tuple(field for field in fields if field != "access_tier")
    inlines = (RecentSecurityEventInline, LiveSessionInline)
    actions = (
        *(_tier_action(tier) for tier in Tier.values),
        "unlock_accounts",
        "revoke_sessions",
        "mark_verified",
        "grant_operator",
        "revoke_operator",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).defer("password").annotate(is_locked=_account_locked())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are made by sign-up; personas by seed_personas

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # erasure is DELETE /api/v1/admin/users/{id}/data (audited, outbox)

    @admin.display(boolean=True, description="verified", ordering="email_verified_at")
    def verified(self, user: User) -> bool:
        return user.email_verified_at is not None

    @admin.display(boolean=True, description="locked")
    def locked(self, user: User) -> bool:
        return bool(getattr(user, "is_locked", False))

    @admin.display(description="security events")
    def security_events(self, user: User) -> str:
        url = reverse("admin:security_securityevent_changelist")
        return format_html(
            '<a href="{}?user={}">All security events of this account</a>', url, user.pk
        )

    def save_through_service(
        self, request: HttpRequest, obj: User, form: Any, change: bool
    ) -> None:
        if "access_tier" in form.changed_data:
            operators.user_tier_set(
                user=obj, tier=obj.access_tier, actor=request.user, meta=_meta(request)
            )

    @admin.action(description="Unlock password sign-in")
    def unlock_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        cleared = sum(
            operators.user_unlock(user=user, actor=request.user, meta=_meta(request))
            for user in queryset
        )
        self.message_user(request, f"Unlocked {queryset.count()} account(s) ({cleared} counters).")

    @admin.action(description="Revoke all sessions")
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        revoked = sum(
            operators.user_sessions_revoke(user=user, actor=request.user, meta=_meta(request))
            for user in queryset
        )
        self.message_user(request, f"Revoked {revoked} session(s).")

    @admin.action(description="Mark email verified")
    def mark_verified(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        marked = sum(
            operators.user_mark_verified(user=user, actor=request.user, meta=_meta(request))
            for user in queryset
        )
        self.message_user(request, f"Marked {marked} address(es) verified.")

    @admin.action(description="Grant operator access (admin role, staff)")
    def grant_operator(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._operator_access(request, queryset, grant=True)

    @admin.action(description="Take away operator access")
    def revoke_operator(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._operator_access(request, queryset, grant=False)

    def _operator_access(
        self, request: HttpRequest, queryset: QuerySet[User], *, grant: bool
    ) -> HttpResponse | None:
        """First a confirmation page (like Django's delete), then the service per account."""
        users = list(queryset.order_by("email"))
        action = "grant_operator" if grant else "revoke_operator"
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Grant operator access" if grant else "Take away operator access",
                "queryset": users,
                "grant": grant,
                "action": action,
                "self_included": any(user.pk == request.user.pk for user in users),
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/mana/operator_confirmation.html", context)
        service = operators.user_operator_grant if grant else operators.user_operator_revoke
        changed, refused = 0, 0
        for user in users:
            try:
                changed += service(user=user, actor=request.user, meta=_meta(request))
            except AuthError as exc:
                refused += 1
                self.message_user(request, f"{user.email}: {exc.message}", level=messages.ERROR)
        if changed or not refused:
            verb = "Granted" if grant else "Took away"
            self.message_user(request, f"{verb} operator access for {changed} account(s).")
        return None


# --- JWT signing keys -------------------------------------------------------------------------


@admin.register(SigningKey)
class SigningKeyAdmin(ConsoleModelAdmin):
    """Status only: the private half stays wrapped and is never loaded here."""

    list_display = ("kid", "status", "published", "kek_id", "created_at", "retired_at")
    list_filter = ("status",)
    ordering = ("-created_at",)
    fields = ("kid", "status", "published", "kek_id", "created_at", "retired_at")
    readonly_fields = fields
    actions = ("rotate",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SigningKey]:
        return (
            super()
            .get_queryset(request)
            .defer("private_wrapped", "private_iv", "public_key")
            .annotate(is_published=Exists(published_keys_queryset().filter(kid=OuterRef("kid"))))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="in JWKS")
    def published(self, key: SigningKey) -> bool:
        return key.status == SigningKeyStatus.ACTIVE or bool(getattr(key, "is_published", False))

    @admin.action(description="Rotate: retire the active key and sign with a new one")
    def rotate(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        key = operators.signing_key_rotate_by_admin(actor=request.user, meta=_meta(request))
        self.message_user(
            request,
            f"New active signing key {key.kid}; the previous one stays published until its "
            "tokens expire.",
            level=messages.SUCCESS,
        )


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ConsoleModelAdmin):
    """Prefix and metadata; the key exists only as a hash, which is never shown."""

    list_display = (
        "prefix",
        "name",
        "user",
        "scopes",
        "state",
        "created_at",
        "last_used_at",
        "expires_at",
    )
    list_filter = (ApiKeyStateFilter,)
    list_select_related = ("user",)
    search_fields = ("prefix", "name", "user__email")
    ordering = ("-created_at",)
    fields = (
        "id",
        "user",
        "name",
        "prefix",
        "scopes",
        "state",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        return super().get_queryset(request).defer("key_hash")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by their owners and shown to them once

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row stays for the audit trail

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str:
        if key.revoked_at is not None:
            return "revoked"
        return "active" if key.is_usable() else "expired"

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(
            operators.api_key_revoke_by_admin(api_key=key, actor=request.user, meta=_meta(request))
            for key in queryset.select_related("user")
        )
        self.message_user(request, f"Revoked {revoked} API key(s).")


# --- Second-factor devices (security.otp) -----------------------------------------------------
# django-otp's own TOTP and static plugins keep secrets in clear; they are not installed
# (settings.INSTALLED_APPS), so neither their tables nor their admin pages exist here.


class _ReadOnlyDeviceAdmin(ConsoleModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        # Through the service: the owner gets the notice and the audit trail the event.
        mfa.totp_disable(user=obj.user, meta=RequestMeta.from_request(request), actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset.select_related("user"):
            self.delete_model(request, obj)


@admin.register(SealedTotpDevice)
class SealedTotpDeviceAdmin(_ReadOnlyDeviceAdmin):
    """Deleting an authenticator turns two-step sign-in off for its owner (lost phone)."""


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(_ReadOnlyDeviceAdmin):
    """How many backup codes a user has left (the codes exist only as hashes)."""

    list_display = (*_ReadOnlyDeviceAdmin.list_display, "remaining")

    @admin.display(description="unused codes")
    def remaining(self, obj: BackupCodeDevice) -> int:
        return obj.codes.count()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # remove the authenticator instead: that voids the codes too
