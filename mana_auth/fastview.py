"""A lean base for the hottest endpoints (validate, session, refresh).

It is still a DRF ``APIView`` — so drf-spectacular documents it from the same
``extend_schema`` annotations — but ``dispatch`` skips DRF's request wrapper, content
negotiation, authenticator and permission loops and renderer: the handler gets Django's
``HttpRequest`` and returns a ``JsonResponse``. Errors go through the same classification
and envelope as everywhere else. Measured: DRF's machinery cost more than the token check.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import NotAuthenticated, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from mana_auth.errors import (
    AuthError,
    ValidationFailed,
    capture,
    classify,
    error_body,
    json_error,
    log_unexpected,
)
from mana_auth.parsers import parse_json_body


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, by the same parser as every DRF view (mana_auth.parsers)."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith("application/json"):
        raise AuthError(code="UNSUPPORTED_MEDIA_TYPE")
    try:
        data = parse_json_body(request.body or b"{}", request.encoding)
    except ParseError as exc:
        raise ValidationFailed(
            {"body": [str(exc.detail)]}, "The request body is not valid JSON."
        ) from exc
    if not isinstance(data, dict):
        raise ValidationFailed({"body": ["Expected a JSON object."]})
    return data


def required_string(data: dict[str, Any], name: str, *, max_length: int = 4096) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed({name: ["This field is required."]})
    if len(value) > max_length:
        raise ValidationFailed(
            {name: [f"Ensure this field has no more than {max_length} characters."]}
        )
    return value


class FastAPIView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.args, self.kwargs, self.request = args, kwargs, request
        method = request.method.lower() if request.method else ""
        handler = getattr(self, method, None) if method in self.http_method_names else None
        if handler is None or method == "options":
            error = AuthError(code="METHOD_NOT_ALLOWED")
            response = json_error(error)
            response["Allow"] = ", ".join(
                m.upper() for m in self._allowed_methods() if m != "OPTIONS"
            )
            return response
        try:
            return handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified into the envelope, never hidden
            error = classify(exc)
            log_unexpected(exc, error)
            capture(exc, error)
            return json_error(error)


def drf_json(data: Any, *, status: int = 200) -> HttpResponse:
    """The bytes DRF's ``JSONRenderer`` writes for ``data`` (compact, UTF-8, its encoder)."""
    body = json.dumps(
        data, cls=JSONEncoder, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    return HttpResponse(body.encode(), status=status, content_type="application/json")


_JSON_RANGES = ("*/*", "application/*", "application/json")


def _accepts_json(request: HttpRequest) -> bool:
    """Whether DRF's content negotiation would pick its JSON renderer without a second look:
    no ``Accept``, or one naming JSON or a wildcard, and no ``?format=`` override. Anything
    else goes through DRF, which answers it as it always did."""
    accept = request.META.get("HTTP_ACCEPT", "")
    if "format" in request.GET:
        return False
    return not accept or any(media in accept for media in _JSON_RANGES)


class LeanAPIView(FastAPIView):
    """For an endpoint that was a full ``APIView`` and must answer as it did, byte for byte:
    GET (and HEAD) skip DRF's machinery and render as DRF renders, errors included (the
    envelope, ``WWW-Authenticate`` where DRF adds it, the ``Allow`` header DRF puts on every
    answer); every other method goes through DRF's own dispatch, unchanged."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD") or not _accepts_json(request):
            return APIView.dispatch(self, request, *args, **kwargs)
        self.args, self.kwargs, self.request = args, kwargs, request
        try:
            response = self.get(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - classified into the envelope, never hidden
            response = self._error(exc)
        for header, value in self.default_response_headers.items():
            response[header] = value
        return response

    def _error(self, exc: Exception) -> HttpResponse:
        error = classify(exc)
        log_unexpected(exc, error)
        capture(exc, error)
        response = drf_json(error_body(error), status=error.status)
        for header, value in error.headers.items():
            response[header] = value
        if isinstance(exc, NotAuthenticated):
            response["WWW-Authenticate"] = 'Bearer realm="mana"'
        return response
