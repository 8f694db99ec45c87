"""The operators' console sign-in: OTP for staff (django-otp's admin site) and the lockout.

The admin site becomes django-otp's ``OTPAdminSite`` (while ``ADMIN_TOTP_ENFORCED``): a staff
account without a confirmed authenticator cannot enter, however right its password. Enrol the
first admin with ``manage.py enroll_admin_totp <email>``. The login form is rate-limited per IP,
gives one answer for every failure and counts failures toward the account's lockout, exactly
like the API's sign-in (``accounts.signin.failures``), on the same counter: the account's, or a
known device's when the browser carries the account's device cookie (which a console sign-in
sets, as ``/login`` does): every attempt, failed or not, is a login
attempt with the method ``admin_console``, and a completed one writes ``LOGIN_SUCCESS``.
Imported by ``accounts.admin``.

It reads as Mana's operators' console: its own header and title, a sign-in form with one code
field (the account's one authenticator, or a backup code; no device picker), the dashboard on
the index (``accounts.console``). It is for operators only: a staff account without the
``admin`` role gets a page that says so (403), never a console whose saves the services refuse.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import authenticate
from django.core.exceptions import BadRequest, ValidationError
from django.db import transaction
from django.forms import CharField, TextInput
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from accounts.console import console_dashboard
from accounts.cookies import device_cookie_set
from accounts.emails import email_key
from accounts.models import User
from accounts.operators import is_operator
from accounts.signin.failures import sign_in_failure_record
from mana_auth.clientip import RequestMeta, client_ip
from mana_auth.errors import AuthError
from security import attempts, lockout, ratelimit
from security.models import AttemptMethod, EventType, LoginThrottle
from security.otp.crypto import totp_code_normalize
from security.otp.models import BackupCodeDevice, SealedTotpDevice

_INVALID_LOGIN = (
    "Please enter the correct email, password and authenticator code of a staff account. "
    "All fields may be case-sensitive."
)
_INVALID_LOGIN_NO_OTP = (
    "Please enter the correct email and password of a staff account. "
    "Both fields may be case-sensitive."
)
_LOCKED = "Too many failed sign-ins: this account is locked for {minutes} more minute(s)."
_KEY_MAX_LENGTH = LoginThrottle._meta.get_field("email_key").max_length


class _LockoutAuthenticationMixin:
    """One answer for every failure, the account lockout and the audit trail.

    django-otp's form answered "enter your OTP token" (listing the account's devices and
    echoing the password back) only when the password was right: an oracle outside the
    lockout. Here the password and the code are checked together; any failure — wrong
    password, unknown email, no staff account, missing or wrong code — gets the same message,
    counts toward the account's lockout and writes ``LOGIN_FAILURE`` exactly like a failed
    API sign-in; the check is counted before it runs (``lockout.check_reserved``, shared with
    the API), so a lock refuses before anything is checked, even for posts sent at once; only
    a complete sign-in resets the count. ``get_user()`` stays ``None`` until everything
    checked out, so the page never changes shape with a right password.
    """

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    user_cache: Any
    invalid_message = _INVALID_LOGIN_NO_OTP

    def clean_username(self) -> str | None:
        # An address whose comparison key (NFKC, case folding: "ﬃ" → "ffi") outgrows the
        # lockout's column is no one's: the one answer, nothing looked up or counted (it would
        # not fit the row). Django's field sets max_length without a validator.
        email = self.cleaned_data.get("username")
        if email and len(email_key(email)) > _KEY_MAX_LENGTH:
            self.add_error(None, ValidationError(self.invalid_message, code="invalid_login"))
            return None
        return email

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data  # the required-field errors say enough
        key = email_key(email)
        # A browser that signed in to this account before (the device cookie the API and the
        # pages set, and the console sets too) has its own counter, as at ``/login``: whoever
        # knows an operator's address and spends the account's failures (here or at the API)
        # must not keep the operator out of the console on their own device, and failures
        # from that device still lock it.
        cookie = self.request.COOKIES.get(settings.DEVICE_COOKIE_NAME) if self.request else None
        account = User.objects.filter_email(email).first()
        epoch = lockout.credential_epoch(account.password) if account is not None else None
        device_id = lockout.device_id_from_cookie(cookie, key, epoch)
        scope = lockout.scope_for(key, device_id)
        request_meta = RequestMeta.from_request(self.request) if self.request else RequestMeta()
        reason = ""
        # Counted before it is checked, like the API's password sign-in (``lockout``): posts
        # sent at once get exactly the threshold of checks; a locked account is refused
        # unchecked. Anything but a failed check (a failure of ours) gives the count back.
        with lockout.check_reserved(scope=scope, email_key=key) as attempt:
            if attempt.refused:
                minutes = max(1, -(-attempt.remaining_seconds() // 60))
                raise ValidationError(_LOCKED.format(minutes=minutes), code="locked")
            user = authenticate(self.request, username=email, password=password)
            if user is None or not user.is_active or not user.is_staff:
                reason = "admin_password"
            elif not self.second_factor_ok(user):
                reason = "admin_otp"
        if reason:
            account = user or account
            sign_in_failure_record(
                key=key,
                scope=scope,
                user=account,
                meta=request_meta,
                method=AttemptMethod.ADMIN_CONSOLE,
                reason=reason,
                known_device=device_id is not None,
                counted=attempt,
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
                known_device=device_id is not None,
                event_type=EventType.LOGIN_SUCCESS,
                event_metadata={"method": AttemptMethod.ADMIN_CONSOLE.value},
            )
        self.user_cache = user
        if self.request is not None:  # the console's ``login`` sets it on the redirect
            self.request.mana_device_cookie = (  # type: ignore[attr-defined]
                lockout.device_remember(cookie, key, lockout.credential_epoch(user.password))
            )
        return self.cleaned_data

    def second_factor_ok(self, user: Any) -> bool:
        return True


class ManaAdminAuthenticationForm(_LockoutAuthenticationMixin, AdminAuthenticationForm):
    """The password-only form (``ADMIN_TOTP_ENFORCED=false``, development), with the lockout."""


class ManaOTPAdminAuthenticationForm(_LockoutAuthenticationMixin, OTPAdminAuthenticationForm):
    """Email, password and one code, checked together.

    An account has at most one authenticator, so there is nothing to pick: django-otp's
    device select and its "Get OTP Challenge" button (meaningless for TOTP) are gone, and a
    ``otp_device`` sent anyway is ignored. Six digits are checked against the account's
    confirmed authenticator, anything else as one of its backup codes (spent on success); only
    that one device is tried, so a wrong code never throttles the other.
    """

    invalid_message = _INVALID_LOGIN

    otp_device = None  # type: ignore[assignment]
    otp_challenge = None  # type: ignore[assignment]
    otp_token = CharField(
        label="Authenticator code",
        required=False,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def second_factor_ok(self, user: Any) -> bool:
        token = (self.cleaned_data.get("otp_token") or "").strip()
        if not token:
            return False
        model = SealedTotpDevice if totp_code_normalize(token) else BackupCodeDevice
        with transaction.atomic():
            device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
            if device is None:
                return False
            allowed, _ = device.verify_is_allowed()
            if not allowed or not device.verify_token(token):
                return False
        user.otp_device = device  # django-otp's login signal marks the session verified
        return True


def _selection_check(request: HttpRequest, model_admin: Any) -> None:
    """An action's selection (``_selected_action``) names rows by primary key: an id that is
    no key of the model (not a UUID, for most) is a bad request (400), not the server error
    Django's admin answers when the action's queryset is evaluated. Only a hand-made post
    sends one; nothing has run yet."""
    if request.method != "POST" or not isinstance(model_admin, admin.ModelAdmin):
        return
    pk = model_admin.model._meta.pk
    for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
        try:
            pk.to_python(value)
        except ValidationError as exc:
            raise BadRequest("The selection names no such record.") from exc


class ManaAdminSite(OTPAdminSite):
    """Mana's operators' console: OTP for staff, a per-IP limit on sign-in attempts, entry
    for operators only, the dashboard on the index."""

    site_header = "Mana operators' console"
    site_title = "Mana operators' console"
    index_title = "Dashboard"
    site_url = None  # no "View site": the console is not a page of the product
    index_template = "admin/mana/index.html"

    @property  # type: ignore[override]
    def login_form(self) -> type[AdminAuthenticationForm]:
        if settings.ADMIN_TOTP_ENFORCED:
            return ManaOTPAdminAuthenticationForm
        return ManaAdminAuthenticationForm

    @property  # type: ignore[override]
    def login_template(self) -> str | None:
        return "admin/mana/login.html" if settings.ADMIN_TOTP_ENFORCED else None

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        # Inside Django's wrapper: signed-in, verified staff only reach this check, and the
        # refusal gets the same never_cache and CSRF protection as any console page.
        def operators_only(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            logout = reverse("admin:logout", current_app=self.name)
            if request.path != logout and not is_operator(request.user):  # type: ignore[arg-type]
                return self.not_an_operator(request)
            _selection_check(request, getattr(view, "__self__", None))
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(operators_only, view), cacheable)

    def not_an_operator(self, request: HttpRequest) -> HttpResponse:
        """Staff without the ``admin`` role: one page that says why, instead of a console
        whose every save the services would refuse."""
        context = {
            **self.each_context(request),
            "title": "This console is for operators",
            "has_permission": False,  # no app list, no links into what is closed
            "logout_url": reverse("admin:logout", current_app=self.name),
        }
        return TemplateResponse(request, "admin/mana/not_operator.html", context, status=403)

    def password_change(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # Django's form would set the password without the audit event, the notice mail and
        # the session revocation of ``accounts.passwords``: operators change theirs where
        # every account does.
        raise Http404("Change your password on the account pages.")

    def password_change_done(self, request: HttpRequest, extra_context: Any = None) -> Any:
        raise Http404("Change your password on the account pages.")

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().index(request, {"dashboard": console_dashboard(), **(extra_context or {})})

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
            response = super().login(request, extra_context)
        except AuthError as exc:  # RATE_LIMITED, or SERVICE_UNAVAILABLE without a cache
            response = HttpResponse(exc.message, status=exc.status, content_type="text/plain")
            for header, value in exc.headers.items():
                response[header] = value
            return response
        # Signed in: the browser becomes a known device of the account, as after ``/login``.
        device_cookie = getattr(request, "mana_device_cookie", None)
        if device_cookie and request.user.is_authenticated:
            device_cookie_set(response, device_cookie)
        return response


# Swap the class of the default site in place: every ModelAdmin already registered on it (and
# the URLs built from it later) use the OTP-aware site. Set ADMIN_TOTP_ENFORCED=false only for
# local development.
admin.site.__class__ = ManaAdminSite
