"""Django's own error views (handler400/403/404/500, the CSRF failure view), in the envelope.

Django answers some errors before any view runs, with HTML: a ``Host`` header outside
``ALLOWED_HOSTS`` (``DisallowedHost``), a body that cannot be parsed as a form or multipart
(``TooManyFieldsSent``, ``MultiPartParserError``), any other ``SuspiciousOperation`` or
``BadRequest`` raised in a middleware, and a failed CSRF check. On API paths (``/api/``,
``/.well-known/``, ``/health``) these are the contract's envelope too; on other paths (the
operators' console) Django's own HTML pages stay, since a browser shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.views import csrf, defaults

from mana_auth.errors import AuthError, ValidationFailed, classify, json_error
from mana_auth.middleware import is_api_path


def _answer(
    request: HttpRequest, error: Callable[[], AuthError], fallback: Callable[[], HttpResponse]
) -> HttpResponse:
    return json_error(error()) if is_api_path(request.path) else fallback()


def _refused(exception: Exception | None) -> AuthError:
    if isinstance(exception, DisallowedHost):
        return ValidationFailed({"host": ["This host is not served here."]}, "Unknown host.")
    error = classify(exception) if exception is not None else None
    if error is None or not 400 <= (error.status or 500) < 500:
        # Django decided this is the client's fault (a bad multipart body, a BadRequest).
        return ValidationFailed({}, "The request was refused.")
    return error


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(
        request, lambda: _refused(exception), lambda: defaults.bad_request(request, exception)
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(
        request,
        lambda: AuthError(code="FORBIDDEN"),
        lambda: defaults.permission_denied(request, exception),
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(
        request,
        lambda: AuthError(code="NOT_FOUND"),
        lambda: defaults.page_not_found(request, exception),
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _answer(
        request, lambda: AuthError(code="INTERNAL"), lambda: defaults.server_error(request)
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``. The API authenticates with bearer tokens and is CSRF-exempt; a
    failure can only come from a plain view on an API path (health, JWKS) sent a POST."""
    return _answer(
        request,
        lambda: AuthError("The request was refused (CSRF).", code="FORBIDDEN"),
        lambda: csrf.csrf_failure(request, reason),
    )
