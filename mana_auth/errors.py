"""The error taxonomy, the base error services raise, and the one handler that renders them.

Every error leaves this service as ``{"code", "message", "details"?}``. Infrastructure failures
(database, cache, network) are classified as ``SERVICE_UNAVAILABLE`` here and nowhere else,
so no flow can mistake a broken database for a wrong password.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sentry_sdk
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
)
from django.http import Http404, HttpResponseBase, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger("mana_auth.errors")

# code -> (status, default message)
TAXONOMY: dict[str, tuple[int, str]] = {
    "VALIDATION_ERROR": (400, "The request is invalid."),
    "WEAK_PASSWORD": (400, "The password does not meet the password policy."),
    "INVALID_CREDENTIALS": (401, "Invalid email or password."),
    "EMAIL_NOT_VERIFIED": (403, "The email address has not been verified yet."),
    "ACCOUNT_LOCKED": (429, "Too many failed sign-in attempts. Try again later."),
    "RATE_LIMITED": (429, "Too many requests. Try again later."),
    "MFA_REQUIRED": (401, "A second factor is required."),
    "MFA_INVALID_CODE": (401, "The code is not valid."),
    "REAUTH_REQUIRED": (401, "Confirm your identity to continue."),
    "TOKEN_INVALID": (401, "The token is missing or invalid."),
    "TOKEN_EXPIRED": (401, "The token has expired."),
    "SESSION_REVOKED": (401, "The session has ended."),
    "REFRESH_TOKEN_REUSED": (401, "The refresh token was already used; the session is revoked."),
    "VERIFICATION_TOKEN_INVALID": (400, "The link or token is invalid, used or expired."),
    "PASSKEY_VERIFICATION_FAILED": (401, "The passkey could not be verified."),
    "FORBIDDEN": (403, "You are not allowed to do this."),
    "TIER_INSUFFICIENT": (403, "The access tier is not sufficient."),
    "NOT_FOUND": (404, "Not found."),
    "METHOD_NOT_ALLOWED": (405, "Method not allowed."),
    "CONFLICT": (409, "The request conflicts with the current state."),
    "SIGNUP_LIMIT_REACHED": (403, "Sign-ups are closed for today."),
    "PAYLOAD_TOO_LARGE": (413, "The request body is too large."),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported media type."),
    "SERVICE_UNAVAILABLE": (503, "The service is temporarily unavailable. Try again."),
    "INTERNAL": (500, "An internal error occurred."),
    # Domain codes
    "VAULT_NOT_FOUND": (404, "No encryption vault exists for this account."),
    "RECOVERY_WRAP_MISSING": (400, "Set a recovery wrap before enabling zero-knowledge mode."),
    "ZK_ACTIVE": (409, "Not possible while zero-knowledge mode is active."),
    "ZK_ROTATE_FORBIDDEN": (409, "The server cannot rotate a zero-knowledge vault."),
    "GRANT_NOT_CONFIGURED": (503, "Mission grants are not configured."),
    "PERSONAL_SPACE_UNDELETABLE": (409, "The personal Space cannot be deleted or left."),
    "INVALID_SPACE_TYPE": (400, "Invalid Space type."),
    "NOT_A_PERSONA": (409, "The user is not a persona."),
}

# SQLSTATEs that mean "our database is not in a state to answer", not "your request is bad".
_UNAVAILABLE_SQLSTATES = ("42703", "42P01", "57P01", "57P02", "57P03", "53300", "55P03")


class AuthError(Exception):
    """A domain error with its contract code; services raise these, never HTTP objects."""

    code = "INTERNAL"
    status: int | None = None
    # None: expected when the status is below 500. A domain 5xx that is a known state, not a
    # fault (GRANT_NOT_CONFIGURED), sets True; infrastructure failures set False.
    expected: bool | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        default_status, default_message = TAXONOMY[self.code]
        if self.status is None or code is not None:
            self.status = default_status
        self.message = message or default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(AuthError):
    code = "VALIDATION_ERROR"

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(message, details={"fields": fields})


class NotFound(AuthError):
    code = "NOT_FOUND"


class Forbidden(AuthError):
    code = "FORBIDDEN"


class Conflict(AuthError):
    code = "CONFLICT"


class RateLimited(AuthError):
    code = "RATE_LIMITED"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            details={"retryAfter": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(AuthError):
    code = "SERVICE_UNAVAILABLE"
    expected = False


def is_expected_error(exc: BaseException) -> bool:
    """Client errors are expected and stay out of error tracking; server faults are not."""
    if isinstance(exc, AuthError):
        if exc.expected is not None:
            return exc.expected
        return (exc.status or 500) < 500
    return (
        isinstance(
            exc,
            drf_exceptions.APIException | Http404 | PermissionDenied | SuspiciousOperation,
        )
        and getattr(exc, "status_code", 400) < 500
    )


def _sqlstate(exc: BaseException) -> str | None:
    cause: BaseException | None = exc
    while cause is not None:
        state = getattr(cause, "sqlstate", None)
        if state:
            return str(state)
        cause = cause.__cause__ or cause.__context__
    return None


def is_infrastructure_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of one of our dependencies (database, cache, network)."""
    if isinstance(exc, ServiceUnavailable):
        return True
    # A driver error Django did not wrap (a pool timeout: psycopg_pool.PoolTimeout is one).
    if isinstance(exc, psycopg.OperationalError):
        return True
    if isinstance(exc, DatabaseError):
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        state = _sqlstate(exc)
        return bool(state) and (state.startswith("08") or state in _UNAVAILABLE_SQLSTATES)
    return isinstance(
        exc, ConnectionError | TimeoutError | RedisConnectionError | RedisTimeoutError
    )


def classify(exc: BaseException) -> AuthError:
    """Map any exception onto the taxonomy."""
    if isinstance(exc, AuthError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        return ValidationFailed(validation_fields(exc.detail))
    if isinstance(exc, drf_exceptions.ParseError):
        return ValidationFailed({"body": [str(exc.detail)]}, "The request body is not valid JSON.")
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return AuthError(code="TOKEN_INVALID")
    if isinstance(exc, drf_exceptions.PermissionDenied | PermissionDenied):
        return Forbidden()
    if isinstance(exc, drf_exceptions.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return AuthError(code="METHOD_NOT_ALLOWED")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return AuthError(code="UNSUPPORTED_MEDIA_TYPE")
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimited(int(exc.wait or 60))
    if isinstance(exc, RequestDataTooBig):
        return AuthError(code="PAYLOAD_TOO_LARGE")
    if isinstance(exc, SuspiciousOperation):
        return ValidationFailed({}, "The request was refused.")
    if is_infrastructure_error(exc):
        return ServiceUnavailable()
    if isinstance(exc, IntegrityError) and _sqlstate(exc) == "23505":
        return Conflict()
    if isinstance(exc, DataError) and (_sqlstate(exc) or "").startswith("22"):
        # The database refused a value (too long, out of range, bad text): the input's fault.
        # Inputs are validated before they reach SQL; this is the safety net.
        return ValidationFailed({"body": ["A value is not acceptable."]})
    if isinstance(exc, drf_exceptions.APIException) and exc.status_code < 500:
        return AuthError(code="VALIDATION_ERROR")
    error = AuthError(code="INTERNAL")
    error.expected = False
    return error


def validation_fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" else _camel(str(key))
            if isinstance(value, dict):
                for sub, messages in validation_fields(value).items():
                    fields[f"{name}.{sub}"] = messages
            else:
                fields[name] = [
                    str(item) for item in (value if isinstance(value, list) else [value])
                ]
        return fields
    if isinstance(detail, list):
        return {"body": [str(item) for item in detail]}
    return {"body": [str(detail)]}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def error_body(error: AuthError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return body


def log_unexpected(exc: BaseException, error: AuthError) -> None:
    """Log a server-side answer: faults at ERROR with their traceback; a domain 5xx that is a
    known state (``expected``: GRANT_NOT_CONFIGURED) at INFO, one line, since ERROR would page
    someone (and reach Sentry through its logging integration) for a configuration choice."""
    if (error.status or 500) >= 500 and is_expected_error(error):
        logger.info("%s %s: %s", error.status, error.code, error.message)
    elif error.code == "SERVICE_UNAVAILABLE":
        logger.error("dependency failure: %s", type(exc).__name__, exc_info=exc)
    elif (error.status or 500) >= 500:
        logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)


def mark_logged(response: HttpResponseBase, error: AuthError) -> None:
    """Keep Django's ``django.request`` logger from logging an expected 5xx at ERROR
    (``log_response`` skips a response marked as logged); ``log_unexpected`` has said it."""
    if (error.status or 500) >= 500 and is_expected_error(error):
        response._has_been_logged = True  # type: ignore[attr-defined]


def capture(exc: BaseException, error: AuthError) -> None:
    """Send server faults to error tracking (a no-op when Sentry is not initialised)."""
    if (error.status or 500) >= 500 and not is_expected_error(error):
        sentry_sdk.capture_exception(exc)


def _rollback_atomic_requests() -> None:
    """What DRF's own handler does (``rest_framework.views.set_rollback``, which cannot be
    imported before the settings are): a request wrapped in ``ATOMIC_REQUESTS`` rolls back."""
    for db in connections.all():
        if db.settings_dict["ATOMIC_REQUESTS"] and db.in_atomic_block:
            db.set_rollback(True)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler: every error in the contract envelope."""
    error = classify(exc)
    log_unexpected(exc, error)
    capture(exc, error)
    _rollback_atomic_requests()
    response = Response(error_body(error), status=error.status)
    for header, value in error.headers.items():
        response[header] = value
    mark_logged(response, error)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="mana"'
    return response


def json_error(error: AuthError) -> JsonResponse:
    response = JsonResponse(error_body(error), status=error.status)
    for header, value in error.headers.items():
        response[header] = value
    mark_logged(response, error)
    return response
