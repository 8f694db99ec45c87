"""Security headers on every response the service sends, errors and static files included."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TRUSTED_ORIGIN = "http://localhost:5173"
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000; includeSubDomains; preload"


def _client(**kwargs: Any) -> Client:
    return Client(raise_request_exception=False, **kwargs)


def _json(path: str, body: Any, **extra: Any) -> Callable[[], Any]:
    return lambda: _client().generic("POST", path, json.dumps(body), "application/json", **extra)


# name -> (request, expected status)
RESPONSES: dict[str, tuple[Callable[[], Any], int]] = {
    "200 JSON": (lambda: _client().get("/health"), 200),
    "200 JWKS": (lambda: _client().get("/.well-known/jwks.json"), 200),
    "200 OpenAPI docs (HTML)": (lambda: _client().get("/api/v1/docs/"), 200),
    "200 admin login page": (lambda: _client().get("/admin/login/"), 200),
    "200 WhiteNoise static file": (lambda: _client().get("/static/admin/css/base.css"), 200),
    "301 APPEND_SLASH redirect": (lambda: _client().get("/api/v1/auth/passkeys"), 301),
    "400 validation": (_json("/api/v1/auth/login", {}), 400),
    "400 malformed JSON": (
        lambda: _client().post("/api/v1/auth/login", "{", content_type="application/json"),
        400,
    ),
    "400 deeply nested JSON": (
        lambda: _client().post(
            "/api/v1/auth/refresh", "[" * 5000 + "]" * 5000, content_type="application/json"
        ),
        400,
    ),
    "400 foreign Host (API)": (lambda: _client().get("/health", HTTP_HOST="evil.example"), 400),
    "400 foreign Host (admin)": (
        lambda: _client().get("/admin/login/", HTTP_HOST="evil.example"),
        400,
    ),
    "401 missing token": (lambda: _client().get("/api/v1/auth/profile"), 401),
    "403 CSRF failure": (
        lambda: _client(enforce_csrf_checks=True).post("/health", {"a": "b"}),
        403,
    ),
    "404 under /api/v1/": (lambda: _client().get("/api/v1/does-not-exist"), 404),
    "404 outside the API": (lambda: _client().get("/nowhere"), 404),
    "404 static file": (lambda: _client().get("/static/nowhere.css"), 404),
    "405 DRF view": (lambda: _client().delete("/api/v1/auth/login"), 405),
    "405 plain view": (lambda: _client().put("/.well-known/jwks.json"), 405),
    "413 body too large": (
        _json("/api/v1/auth/login", {"email": "a@example.com", "password": "x" * (1 << 20)}),
        413,
    ),
    "415 not JSON": (
        lambda: _client().generic("POST", "/api/v1/auth/login", b"<a/>", "application/xml"),
        415,
    ),
    "CORS preflight": (
        lambda: _client().options(
            "/api/v1/auth/login",
            HTTP_ORIGIN=TRUSTED_ORIGIN,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        ),
        200,
    ),
}


def _boom_responses() -> dict[str, tuple[Callable[[], Any], int]]:
    return {
        "500 DRF view": (lambda: _client().get("/api/v1/test/boom"), 500),
        "500 plain view": (lambda: _client().get("/api/v1/test/plain-boom"), 500),
    }


def _assert_headers(response: Any, status: int, *, hsts: bool) -> None:
    assert response.status_code == status, response.content[:200]
    for header, value in EXPECTED.items():
        assert response.get(header) == value, header
    # same-origin everywhere but the Swagger UI, which opts out for its OAuth pop-up.
    assert response.get("Cross-Origin-Opener-Policy") in ("same-origin", "unsafe-none")
    assert response["X-Request-ID"]
    if hsts:
        assert response.get("Strict-Transport-Security") == HSTS
    else:
        assert "Strict-Transport-Security" not in response


@pytest.mark.parametrize("kind", list(RESPONSES))
def test_every_kind_of_response_carries_the_security_headers(kind, settings):
    settings.DEBUG = False
    request, status = RESPONSES[kind]
    _assert_headers(request(), status, hsts=False)


@pytest.mark.urls("tests.foundation.urls_errors")
@pytest.mark.parametrize("kind", list(_boom_responses()))
def test_server_errors_carry_the_security_headers(kind):
    request, status = _boom_responses()[kind]
    _assert_headers(request(), status, hsts=False)


@pytest.fixture
def production_transport(settings: Any) -> Any:
    """What production sets: HSTS for a year, and TLS told by the proxy."""
    settings.DEBUG = False
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


@pytest.mark.parametrize("kind", list(RESPONSES))
def test_over_tls_every_response_also_carries_hsts(kind, production_transport, monkeypatch):
    """Every request goes out as if through the TLS-terminating proxy."""
    original = Client.generic

    def over_tls(self: Client, *args: Any, **extra: Any) -> Any:
        extra.setdefault("HTTP_X_FORWARDED_PROTO", "https")
        return original(self, *args, **extra)

    monkeypatch.setattr(Client, "generic", over_tls)
    request, status = RESPONSES[kind]
    _assert_headers(request(), status, hsts=True)


def test_an_error_envelope_keeps_the_cors_headers_of_the_response_it_replaces():
    """A browser on a trusted origin can read the 404 and 413 envelopes."""
    for response in (
        _client().get("/api/v1/does-not-exist", HTTP_ORIGIN=TRUSTED_ORIGIN),
        _client().generic(
            "POST",
            "/api/v1/auth/login",
            json.dumps({"password": "x" * (1 << 20)}),
            "application/json",
            HTTP_ORIGIN=TRUSTED_ORIGIN,
        ),
    ):
        assert response.status_code in (404, 413)
        assert response["Access-Control-Allow-Origin"] == TRUSTED_ORIGIN
        assert response["Access-Control-Allow-Credentials"] == "true"
