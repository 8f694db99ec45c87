"""The hosted pages: each validates a form, calls one service, renders one page.

Every flow that ends signed in sets the SSO cookie (and, after a password, the device cookie)
exactly as the API's sign-in does, then redirects to the flow's target: a trusted
``callbackURL``, a same-origin ``next``, else the signed-in page. Tokens from mailed links are
spent by a POST (a button), never by the GET a mail scanner makes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation

from accounts import cookies, passwords, recovery, registration, sessions
from accounts.models import TokenPurpose
from accounts.pages.base import PageView, speak
from accounts.pages.errors import error_message, page_status, password_reasons, retry_headers
from accounts.pages.forms import (
    EmailForm,
    LoginForm,
    MfaForm,
    ResetPasswordForm,
    SignupForm,
    TokenForm,
    VerifyPasswordForm,
)
from accounts.pages.targets import Target, target_from, with_status
from accounts.selectors import one_time_token_state
from accounts.signin import magic_link, second_factor
from accounts.signin.password import password_login
from accounts.signin.session import SignIn
from mana_auth.errors import AuthError
from mana_auth.mail import mail_text

# Refusals a form shows in place (anything else is a refusal page, or a 500).
_TRY_AGAIN = frozenset({"RATE_LIMITED", "SERVICE_UNAVAILABLE"})
_LOGIN_REFUSALS = _TRY_AGAIN | {"INVALID_CREDENTIALS", "EMAIL_NOT_VERIFIED", "ACCOUNT_LOCKED"}
_MFA_REFUSALS = _TRY_AGAIN | {"MFA_INVALID_CODE", "ACCOUNT_LOCKED"}
_VERIFIED = ("verified", "password_removed", "email_changed")


def _signed_in_redirect(sign_in: SignIn, target: Target) -> HttpResponse:
    response = HttpResponseRedirect(target.url)
    cookies.sign_in_cookies_set(response, sign_in)
    return response


def _passkey_context(target: Target) -> dict[str, Any]:
    return {
        "passkey_options_url": reverse("passkeys-authenticate-options"),
        "passkey_verify_url": reverse("passkeys-authenticate-verify"),
        "passkey_next": target.url,
    }


def _factors(preview: recovery.ResetPreview) -> dict[str, Any]:
    """The reset page's list. Names are shown as the mails show them (``mail_text``): someone
    who held the account may have chosen them to mislead ("Security team: visit …")."""
    factors = preview.factors
    return {
        "empty": factors.empty,
        "passkeys": [
            {
                "name": mail_text(item["name"]) or translation.gettext("Passkey"),
                "created": item["createdAt"],
                "last_used": item["lastUsedAt"],
            }
            for item in factors.passkeys
        ],
        "api_keys": [
            {
                "name": mail_text(item["name"]),
                "prefix": item["prefix"],
                "created": item["createdAt"],
            }
            for item in factors.api_keys
        ],
        "totp": factors.totp_enabled,
        "backup_codes": factors.backup_codes_remaining,
    }


class _Page(PageView):
    """Shared steps of the account pages."""

    def link_refused(
        self,
        request: HttpRequest,
        *,
        kind: str,
        state: str,
        target: Target,
        status: int = 400,
    ) -> HttpResponse:
        """A mailed link that no longer works: what became of it, and what to do instead."""
        return self.page(
            request,
            "link_invalid.html",
            {
                "kind": kind,
                "state": state,
                "target": target,
                "resend_form": EmailForm() if kind == "verification" else None,
            },
            status=status,
        )

    def login_page(
        self,
        request: HttpRequest,
        form: LoginForm,
        target: Target,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        unverified: bool = False,
        notice: str = "",
    ) -> HttpResponse:
        return self.page(
            request,
            "login.html",
            {
                "form": form,
                "target": target,
                "unverified": unverified,
                "notice": notice,
                **_passkey_context(target),
            },
            status=status,
            headers=headers,
        )

    def mfa_step(
        self,
        request: HttpRequest,
        target: Target,
        *,
        form: MfaForm | None = None,
        challenge: AuthError | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """The second step: a code from the authenticator app or a backup code."""
        if form is None:
            details = (challenge.details if challenge else None) or {}
            offered = details.get("methods", [])
            methods = [m for m in offered if m in second_factor.METHODS] or ["totp"]
            form = MfaForm(initial={"mfa_token": details.get("mfaToken", ""), "method": methods[0]})
            form.fields["method"].choices = [
                choice for choice in form.fields["method"].choices if choice[0] in methods
            ]
        return self.page(
            request, "mfa.html", {"form": form, "target": target}, status=status, headers=headers
        )


class LandingView(_Page):
    """``/``: the way in, or, signed in, who you are (and a passkey to add)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        session = self.signed_in(request)
        if session is None:
            return self.page(request, "landing.html", {"target": target_from(request.GET)})
        return self.page(
            request,
            "home.html",
            {
                "account": session.user,
                "session_to_token_url": reverse("auth-session-to-token"),
                "register_options_url": reverse("passkeys-register-options"),
                "register_verify_url": reverse("passkeys-register-verify"),
            },
        )


class SignupView(_Page):
    """``/signup``: an account, then a mail with the link that confirms the address."""

    def get(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.GET)
        return self.page(request, "signup.html", {"form": SignupForm(), "target": target})

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        form = SignupForm(request.POST)
        if not form.is_valid():
            return self.page(request, "signup.html", {"form": form, "target": target}, status=400)
        try:
            # The sign-up cookie's secret is made for every address and used only by a new
            # account: the answer looks the same either way.
            secret = self.call(
                registration.sign_up,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
                locale=translation.get_language(),
                meta=self.meta(request),
                callback_url=target.mailed(),
            )
        except AuthError as exc:
            if exc.code == "WEAK_PASSWORD":
                for reason in password_reasons(exc) or [error_message(exc)]:
                    form.add_error("password", reason)
            elif exc.code in _TRY_AGAIN | {"SIGNUP_LIMIT_REACHED"}:
                form.add_error(None, error_message(exc))
            else:
                raise
            return self.page(
                request,
                "signup.html",
                {"form": form, "target": target},
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        response = self.page(
            request,
            "mail_sent.html",
            {"kind": "signup", "email": form.cleaned_data["email"], "target": target},
        )
        cookies.signup_cookie_set(response, cookies.signup_cookie_value(request, secret))
        return response


class LoginView(_Page):
    """``/login``: email and password (then the second factor), "email me a link", passkeys
    in the address field's autofill, "send the confirmation mail again"."""

    def get(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.GET)
        if self.signed_in(request) is not None:
            return HttpResponseRedirect(target.url)
        return self.login_page(request, LoginForm(), target)

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        action = request.POST.get("action")
        if action not in ("link", "resend"):
            action = "password"
        form = LoginForm(request.POST, password_required=action == "password")
        if not form.is_valid():
            return self.login_page(request, form, target, status=400)
        email, meta = form.cleaned_data["email"], self.meta(request)
        try:
            if action == "link":
                self.call(
                    magic_link.magic_link_request,
                    email=email,
                    callback_url=target.mailed(),
                    meta=meta,
                    device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
                )
                return self.page(request, "mail_sent.html", {"kind": "magic_link", "email": email})
            if action == "resend":
                self.call(
                    registration.verification_resend,
                    email=email,
                    meta=meta,
                    callback_url=target.mailed(),
                    device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
                )
                return self.page(
                    request, "mail_sent.html", {"kind": "verification", "email": email}
                )
            sign_in = self.call(
                password_login,
                email=email,
                password=form.cleaned_data["password"],
                meta=meta,
                device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
            )
        except AuthError as exc:
            if exc.code == "MFA_REQUIRED":
                return self.mfa_step(request, target, challenge=exc)
            if exc.code not in _LOGIN_REFUSALS:
                raise
            form.add_error(None, error_message(exc))
            return self.login_page(
                request,
                form,
                target,
                status=page_status(exc),
                headers=retry_headers(exc),
                unverified=exc.code == "EMAIL_NOT_VERIFIED",
            )
        return _signed_in_redirect(sign_in, target)


class MfaView(_Page):
    """``/login/mfa``: the second step of a sign-in by password or by a magic link."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("pages:login") + target_from(request.GET).query())

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        form = MfaForm(request.POST)
        if not form.is_valid():
            return self.mfa_step(request, target, form=form, status=400)
        try:
            sign_in = self.call(
                second_factor.mfa_login_complete,
                mfa_token=form.cleaned_data["mfa_token"],
                code=form.cleaned_data["code"],
                method=form.cleaned_data["method"],
                meta=self.meta(request),
                device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
            )
        except AuthError as exc:
            if exc.code == "VERIFICATION_TOKEN_INVALID":  # too slow, or too many wrong codes
                notice = translation.gettext("The sign-in took too long. Please start again.")
                return self.login_page(request, LoginForm(), target, status=400, notice=notice)
            if exc.code not in _MFA_REFUSALS:
                raise
            form.add_error("code", error_message(exc))
            return self.mfa_step(
                request, target, form=form, status=page_status(exc), headers=retry_headers(exc)
            )
        return _signed_in_redirect(sign_in, target)


class LogoutView(_Page):
    """``/logout`` (POST): end this browser's session."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        session = self.signed_in(request)
        if session is not None:
            self.call(
                sessions.session_revoke, user=session.user, session=session, meta=self.meta(request)
            )
        response = HttpResponseRedirect(
            target.next or target.callback or reverse("pages:login") + target.query()
        )
        cookies.session_cookie_clear(response)
        return response


class ForgotPasswordView(_Page):
    """``/forgot-password``: mail a reset link (the same answer for every address)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.GET)
        return self.page(request, "forgot_password.html", {"form": EmailForm(), "target": target})

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        form = EmailForm(request.POST)
        if form.is_valid():
            try:
                self.call(
                    passwords.password_forgot,
                    email=form.cleaned_data["email"],
                    meta=self.meta(request),
                    callback_url=target.mailed(),
                    device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
                )
            except AuthError as exc:
                if exc.code not in _TRY_AGAIN:
                    raise
                form.add_error(None, error_message(exc))
                return self.page(
                    request,
                    "forgot_password.html",
                    {"form": form, "target": target},
                    status=page_status(exc),
                    headers=retry_headers(exc),
                )
            return self.page(
                request,
                "mail_sent.html",
                {"kind": "reset", "email": form.cleaned_data["email"], "target": target},
            )
        return self.page(
            request, "forgot_password.html", {"form": form, "target": target}, status=400
        )


class ResetPasswordView(_Page):
    """``/reset-password?token=…``: a new password, and what else can sign in to the account
    (passkeys, API keys, the authenticator app), with the choice to remove all of it."""

    def _preview(self, token: str) -> recovery.ResetPreview | None:
        try:
            preview = self.call(recovery.password_reset_preview, token=token)
        except AuthError as exc:
            if exc.code != "VERIFICATION_TOKEN_INVALID":
                raise
            return None
        speak(preview.user.locale)
        return preview

    def _refused(self, request: HttpRequest, token: object, target: Target) -> HttpResponse:
        state = one_time_token_state(token=token, purposes=(TokenPurpose.RESET_PASSWORD,))
        speak(state.locale)
        return self.link_refused(request, kind="reset", state=state.state, target=target)

    def _form_page(
        self,
        request: HttpRequest,
        form: ResetPasswordForm,
        preview: recovery.ResetPreview,
        target: Target,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        return self.page(
            request,
            "reset_password.html",
            {"form": form, "preview": preview, "factors": _factors(preview), "target": target},
            status=status,
            headers=headers,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        token, target = request.GET.get("token", ""), target_from(request.GET)
        preview = self._preview(token)
        if preview is None:
            return self._refused(request, token, target)
        form = ResetPasswordForm(
            initial={"token": token, "revoke_factors": preview.revokes_factors}
        )
        return self._form_page(request, form, preview, target)

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        token = request.POST.get("token", "")
        preview = self._preview(token)
        if preview is None:
            return self._refused(request, token, target)
        form = ResetPasswordForm(request.POST)
        if not form.is_valid():
            return self._form_page(request, form, preview, target, status=400)
        try:
            result = self.call(
                recovery.password_reset,
                token=form.cleaned_data["token"],
                new_password=form.cleaned_data["new_password"],
                meta=self.meta(request),
                revoke_factors=form.cleaned_data["revoke_factors"],
            )
        except AuthError as exc:
            if exc.code == "VERIFICATION_TOKEN_INVALID":
                return self._refused(request, token, target)
            if exc.code == "WEAK_PASSWORD":
                for reason in password_reasons(exc) or [error_message(exc)]:
                    form.add_error("new_password", reason)
            elif exc.code in _TRY_AGAIN:
                form.add_error(None, error_message(exc))
            else:
                raise
            return self._form_page(
                request,
                form,
                preview,
                target,
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        # Every session ended, this browser's too: the way on is to sign in again.
        response = (
            HttpResponseRedirect(with_status(target.callback, status="password_changed"))
            if target.callback
            else self.page(request, "password_changed.html", {"result": result, "target": target})
        )
        cookies.session_cookie_clear(response)
        return response


class MagicLinkView(_Page):
    """``/magic-link?token=…``: one button that signs this browser in. The GET spends
    nothing: a mail scanner that fetches the link leaves it working."""

    def _refused(self, request: HttpRequest, token: object, target: Target) -> HttpResponse:
        state = one_time_token_state(token=token, purposes=(TokenPurpose.MAGIC_LINK,))
        speak(state.locale)
        return self.link_refused(request, kind="magic_link", state=state.state, target=target)

    def get(self, request: HttpRequest) -> HttpResponse:
        token, target = request.GET.get("token", ""), target_from(request.GET)
        state = self.call(one_time_token_state, token=token, purposes=(TokenPurpose.MAGIC_LINK,))
        speak(state.locale)
        if state.state != "live":
            return self.link_refused(request, kind="magic_link", state=state.state, target=target)
        form = TokenForm(initial={"token": token})
        return self.page(
            request, "magic_link.html", {"form": form, "target": target, "claims": state.claims}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        form = TokenForm(request.POST)
        if not form.is_valid():
            return self._refused(request, "", target)
        try:
            sign_in = self.call(
                magic_link.magic_link_verify,
                token=form.cleaned_data["token"],
                meta=self.meta(request),
            )
        except AuthError as exc:
            if exc.code == "MFA_REQUIRED":
                return self.mfa_step(request, target, challenge=exc)
            if exc.code == "VERIFICATION_TOKEN_INVALID":
                return self._refused(request, form.cleaned_data["token"], target)
            if exc.code not in _TRY_AGAIN:
                raise
            form.add_error(None, error_message(exc))
            return self.page(
                request,
                "magic_link.html",
                {"form": form, "target": target},
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        return _signed_in_redirect(sign_in, target)


class VerifyEmailView(_Page):
    """``/verify-email``: where the mailed verification link lands (``status=…``), and the
    question a first verification outside the signing-up browser asks (``password_required``):
    the password chosen at sign-up, or go on without it (which claims the account)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        status = request.GET.get("status", "")
        token, target = request.GET.get("token", ""), target_from(request.GET)
        if status in _VERIFIED:
            return self.page(request, "verify_email.html", {"status": status, "target": target})
        if status == "invalid":
            reason = request.GET.get("reason", "")
            return self.link_refused(
                request,
                kind="verification",
                state=reason if reason in ("used", "expired") else "unknown",
                target=target,
                status=200,
            )
        state = self.call(
            one_time_token_state,
            token=token,
            purposes=(TokenPurpose.VERIFY_EMAIL, TokenPurpose.CHANGE_EMAIL),
        )
        speak(state.locale)
        if state.state != "live":
            return self.link_refused(request, kind="verification", state=state.state, target=target)
        form = VerifyPasswordForm(initial={"token": token})
        question = "password_required" if status == "password_required" else "confirm"
        return self.page(
            request, "verify_email.html", {"status": question, "form": form, "target": target}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        target = target_from(request.POST)
        action = request.POST.get("action", "")
        if action == "resend":
            return self._resend(request, target)
        form = VerifyPasswordForm(request.POST)
        if not form.is_valid():
            return self.link_refused(request, kind="verification", state="unknown", target=target)
        without = action == "without_password"
        password = "" if without else form.cleaned_data["password"]
        try:
            outcome, _ = self.call(
                registration.verify_token_any,
                token=form.cleaned_data["token"],
                meta=self.meta(request),
                signup_secret=cookies.signup_cookie_read(request),
                password=password or None,
                without_password=without,
            )
        except AuthError as exc:
            if exc.code == "VERIFICATION_TOKEN_INVALID":
                state = one_time_token_state(
                    token=form.cleaned_data["token"],
                    purposes=(TokenPurpose.VERIFY_EMAIL, TokenPurpose.CHANGE_EMAIL),
                )
                return self.link_refused(
                    request, kind="verification", state=state.state, target=target
                )
            if exc.code == "REAUTH_REQUIRED" and not password:
                # Opened outside the browser that signed up: ask (nothing was used up).
                return self.page(
                    request,
                    "verify_email.html",
                    {"status": "password_required", "form": form, "target": target},
                )
            if exc.code not in _TRY_AGAIN | {"REAUTH_REQUIRED"}:
                raise
            field = "password" if exc.code == "REAUTH_REQUIRED" else None
            form.add_error(field, error_message(exc))
            return self.page(
                request,
                "verify_email.html",
                {"status": "password_required", "form": form, "target": target},
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        response = (
            HttpResponseRedirect(with_status(target.callback, status=outcome))
            if target.callback
            else self.page(request, "verify_email.html", {"status": outcome, "target": target})
        )
        cookies.signup_cookie_clear(response)
        cookies.retired_signup_cookie_clear(request, response)
        return response

    def _resend(self, request: HttpRequest, target: Target) -> HttpResponse:
        """ "Send the confirmation mail again" (the same answer for every address)."""
        form = EmailForm(request.POST)
        context = {"kind": "verification", "state": "", "target": target, "resend_form": form}
        if not form.is_valid():
            return self.page(request, "link_invalid.html", context, status=400)
        try:
            self.call(
                registration.verification_resend,
                email=form.cleaned_data["email"],
                meta=self.meta(request),
                callback_url=target.mailed(),
                device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
            )
        except AuthError as exc:
            if exc.code not in _TRY_AGAIN:
                raise
            form.add_error(None, error_message(exc))
            return self.page(
                request,
                "link_invalid.html",
                context,
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        return self.page(
            request, "mail_sent.html", {"kind": "verification", "email": form.cleaned_data["email"]}
        )


class ReportCompromiseView(_Page):
    """``/report-compromise?token=…``: the "this wasn't me" link of a security notice. The
    GET explains what the report does; the button does it."""

    def get(self, request: HttpRequest) -> HttpResponse:
        token = request.GET.get("token", "")
        state = self.call(
            one_time_token_state, token=token, purposes=(TokenPurpose.REPORT_COMPROMISE,)
        )
        speak(state.locale)
        if state.state != "live":
            return self.link_refused(request, kind="report", state=state.state, target=Target())
        form = TokenForm(initial={"token": token})
        return self.page(request, "report_compromise.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TokenForm(request.POST)
        if not form.is_valid():
            return self.link_refused(request, kind="report", state="unknown", target=Target())
        try:
            report = self.call(
                recovery.compromise_report,
                token=form.cleaned_data["token"],
                meta=self.meta(request),
            )
        except AuthError as exc:
            if exc.code == "VERIFICATION_TOKEN_INVALID":
                state = one_time_token_state(
                    token=form.cleaned_data["token"], purposes=(TokenPurpose.REPORT_COMPROMISE,)
                )
                return self.link_refused(request, kind="report", state=state.state, target=Target())
            if exc.code not in _TRY_AGAIN:
                raise
            form.add_error(None, error_message(exc))
            return self.page(
                request,
                "report_compromise.html",
                {"form": form},
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        speak(report.user.locale)
        response = self.page(request, "compromise_reported.html", {"report": report})
        cookies.session_cookie_clear(response)
        return response
