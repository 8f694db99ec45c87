"""The operators' console sign-in: OTP for staff (django-otp's admin site) and the lockout.

The admin site becomes django-otp's ``OTPAdminSite`` (while ``ADMIN_TOTP_ENFORCED``): a staff
account without a confirmed authenticator cannot enter, however right its password. Enrol the
first admin with ``manage.py enroll_admin_totp <email>``. The login form is rate-limited per IP,
gives one answer for every failure and counts failures toward the account's lockout, exactly
like the API's sign-in (``accounts.signin.failures``): every attempt, failed or not, is a login
attempt with the method ``admin_console``, and a completed one writes ``LOGIN_SUCCESS``.
Imported by ``accounts.admin``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from accounts.emails import email_key
from accounts.models import User
from accounts.signin.failures import sign_in_failure_record
from mana_auth.clientip import RequestMeta, client_ip
from mana_auth.errors import AuthError
from security import attempts, lockout, ratelimit
from security.models import AttemptMethod, EventType
from security.otp.models import SealedTotpDevice

_INVALID_LOGIN = (
    "Please enter the correct email, password and authenticator code of a staff account. "
    "All fields may be case-sensitive."
)
_INVALID_LOGIN_NO_OTP = (
    "Please enter the correct email and password of a staff account. "
    "Both fields may be case-sensitive."
)
_LOCKED = "Too many failed sign-ins: this account is locked for {minutes} more minute(s)."


class _LockoutAuthenticationMixin:
    """One answer for every failure, the account lockout and the audit trail.

    django-otp's form answered "enter your OTP token" (listing the account's devices and
    echoing the password back) only when the password was right: an oracle outside the
    lockout. Here the password and the code are checked together; any failure — wrong
    password, unknown email, no staff account, missing or wrong code — gets the same message,
    counts toward the account's lockout and writes ``LOGIN_FAILURE`` exactly like a failed
    API sign-in; a lock refuses before anything is checked; only a complete sign-in resets
    the count. ``get_user()`` stays ``None`` until everything checked out, so the page never
    changes shape with a right password.
    """

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    user_cache: Any
    invalid_message = _INVALID_LOGIN_NO_OTP

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data  # the required-field errors say enough
        key = email_key(email)
        scope = lockout.scope_for(key, None)
        request_meta = RequestMeta.from_request(self.request) if self.request else RequestMeta()
        remaining = lockout.remaining_lock_seconds(scope)
        if remaining:
            raise ValidationError(
                _LOCKED.format(minutes=max(1, -(-remaining // 60))), code="locked"
            )
        user = authenticate(self.request, username=email, password=password)
        reason = ""
        if user is None or not user.is_active or not user.is_staff:
            reason = "admin_password"
        elif not self.second_factor_ok(user):
            reason = "admin_otp"
        if reason:
            account = user or User.objects.filter_email(email).first()
            sign_in_failure_record(
                key=key,
                scope=scope,
                user=account,
                meta=request_meta,
                method=AttemptMethod.ADMIN_CONSOLE,
                reason=reason,
                known_device=False,
            )
            raise ValidationError(self.invalid_message, code="invalid_login")
        with transaction.atomic():
            lockout.success_record(scope=scope)
            attempts.record(
                method=AttemptMethod.ADMIN_CONSOLE,
                success=True,
                email_key=key,
                user=user,
                meta=request_meta,
                event_type=EventType.LOGIN_SUCCESS,
                event_metadata={"method": AttemptMethod.ADMIN_CONSOLE.value},
            )
        self.user_cache = user
        return self.cleaned_data

    def second_factor_ok(self, user: Any) -> bool:
        return True


class ManaAdminAuthenticationForm(_LockoutAuthenticationMixin, AdminAuthenticationForm):
    """The password-only form (``ADMIN_TOTP_ENFORCED=false``, development), with the lockout."""


class ManaOTPAdminAuthenticationForm(_LockoutAuthenticationMixin, OTPAdminAuthenticationForm):
    """django-otp's admin form, checking the code together with the password.

    Without a chosen device the code is checked against the account's confirmed
    authenticator; a chosen device counts only when it is the account's own and confirmed
    (django-otp does not check the latter).
    """

    invalid_message = _INVALID_LOGIN

    def second_factor_ok(self, user: Any) -> bool:
        token = self.cleaned_data.get("otp_token")
        device = self._chosen_device(user) if self.cleaned_data.get("otp_device") else None
        if device is None:
            device = SealedTotpDevice.objects.filter(user=user, confirmed=True).first()
        if not token or device is None:
            return False
        with transaction.atomic():
            allowed, _ = device.verify_is_allowed()
            if not allowed or not device.verify_token(token):
                return False
        user.otp_device = device  # django-otp's login signal marks the session verified
        return True

    def _chosen_device(self, user: Any) -> Any:
        device = super()._chosen_device(user)
        return device if device is not None and device.confirmed else None


class ManaAdminSite(OTPAdminSite):
    """The admin site with OTP for staff and a per-IP limit on sign-in attempts."""

    @property  # type: ignore[override]
    def login_form(self) -> type[AdminAuthenticationForm]:
        if settings.ADMIN_TOTP_ENFORCED:
            return ManaOTPAdminAuthenticationForm
        return ManaAdminAuthenticationForm

    @property  # type: ignore[override]
    def login_template(self) -> str | None:
        return OTPAdminSite.login_template if settings.ADMIN_TOTP_ENFORCED else None

    def has_permission(self, request: HttpRequest) -> bool:
        if settings.ADMIN_TOTP_ENFORCED:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method != "POST":
            return super().login(request, extra_context)
        try:
            ip = client_ip(request)
            ratelimit.hit(ratelimit.ADMIN_LOGIN_IP, ip)
            # The API's per-IP budget of failed sign-ins, shared: an address that spent it
            # guessing at the API does not go on at the console (and the other way round).
            ratelimit.check(ratelimit.LOGIN_FAILURES_IP, ip)
            # The form's failure recorder spends that budget too, and may refuse (RATE_LIMITED)
            # after the failure is recorded: a plain answer, never a server error.
            return super().login(request, extra_context)
        except AuthError as exc:  # RATE_LIMITED, or SERVICE_UNAVAILABLE without a cache
            response = HttpResponse(exc.message, status=exc.status, content_type="text/plain")
            for header, value in exc.headers.items():
                response[header] = value
            return response


# Swap the class of the default site in place: every ModelAdmin already registered on it (and
# the URLs built from it later) use the OTP-aware site. Set ADMIN_TOTP_ENFORCED=false only for
# local development.
admin.site.__class__ = ManaAdminSite
