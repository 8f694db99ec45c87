"""What every page shares: its language, its headers, the signed-in session, refusals.

- Language: the account's ``locale`` when the page knows the account (the SSO cookie's user, a
  link's owner), else the browser's ``Accept-Language``; German or English.
- Headers: a strict Content-Security-Policy (no inline script or style, scripts and styles
  only from this origin, forms only to this origin and the trusted origins a flow may end on),
  ``Cache-Control: no-store`` (pages hold tokens and personal details), plus the security
  headers every response of the service carries (``SecurityMiddleware``).
- Failures of our own dependencies render a "try again" page with 503; anything else that is
  not a known refusal propagates (Django's 500), never disguised as a user's mistake.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views import View

from accounts.exceptions import SessionRevoked
from accounts.models import Session
from accounts.pages.errors import error_message, page_status, retry_headers
from accounts.sessions import session_for_cookie
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    AuthError,
    ServiceUnavailable,
    capture,
    is_infrastructure_error,
    log_unexpected,
)

LANGUAGES = tuple(code for code, _ in settings.LANGUAGES)
T = TypeVar("T")


def content_security_policy() -> str:
    form_targets = " ".join(["'self'", *settings.TRUSTED_ORIGINS])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action {form_targets}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def speak(locale: str | None) -> None:
    """Switch the page to an account's language (for the rest of this request)."""
    if locale in LANGUAGES:
        translation.activate(locale)


def page_headers(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = content_security_policy()
    response["Content-Language"] = translation.get_language()
    add_never_cache_headers(response)
    patch_vary_headers(response, ("Cookie", "Accept-Language"))
    return response


class PageView(View):
    """A server-rendered page: see the module docstring."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self._session: Session | bool | None = False
        language = translation.get_language_from_request(request)
        with translation.override(language if language in LANGUAGES else "en"):
            try:
                response = super().dispatch(request, *args, **kwargs)
            except AuthError as exc:  # a refusal the view did not turn into a form message
                response = self.refusal(request, exc)
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                error = ServiceUnavailable()
                log_unexpected(exc, error)
                capture(exc, error)
                response = self.refusal(request, error)
            return page_headers(response)

    # --- helpers for the views ---------------------------------------------------------------

    @staticmethod
    def meta(request: HttpRequest) -> RequestMeta:
        return RequestMeta.from_request(request)

    def signed_in(self, request: HttpRequest) -> Session | None:
        """The SSO cookie's live session (with its user), or None; speaks the user's language."""
        if self._session is False:
            raw = request.COOKIES.get(settings.SSO_COOKIE_NAME)
            session = None
            if raw:
                with contextlib.suppress(SessionRevoked):  # ended, expired or unknown
                    session = session_for_cookie(raw)
            self._session = session
            if session is not None:
                speak(session.user.locale)
        return self._session or None

    @staticmethod
    def page(
        request: HttpRequest,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        response = render(request, f"pages/{template}", context or {}, status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def refusal(
        self, request: HttpRequest, error: AuthError, context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A page that says why, with the refusal's status and retry hint."""
        return self.page(
            request,
            "refused.html",
            {"message": error_message(error), "code": error.code, **(context or {})},
            status=page_status(error),
            headers=retry_headers(error),
        )

    @staticmethod
    def call(service: Callable[..., T], **kwargs: Any) -> T:
        """Call a service; a failure of our own dependencies becomes SERVICE_UNAVAILABLE (logged
        and reported once), so a page can say "try again" where the form is."""
        try:
            return service(**kwargs)
        except AuthError:
            raise
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            error = ServiceUnavailable()
            log_unexpected(exc, error)
            capture(exc, error)
            raise error from exc
