"""Errors Django raises before (or around) our views are the envelope on API paths too.

On API paths (``/api/``, ``/.well-known/``, ``/health``) every one of them is JSON in the
contract's envelope. The operators' console (``/admin/``) keeps Django's HTML pages.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.foundation.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

FOREIGN = {"HTTP_HOST": "evil.example"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/auth/forgot-password", {"email": "someone@example.com"}),
        ("post", "/api/v1/auth/login", {"email": "someone@example.com", "password": "x" * 10}),
        ("get", "/api/v1/auth/signup-status", None),
        ("get", "/api/v1/does-not-exist", None),
        ("get", "/.well-known/jwks.json", None),
        ("get", "/health", None),
    ],
)
def test_a_foreign_host_header_is_a_400_envelope(method, path, body, mailoutbox):
    client = Client(raise_request_exception=False)
    response = getattr(client, method)(
        path, *([json.dumps(body)] if body else []), content_type="application/json", **FOREIGN
    )

    envelope = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert envelope["details"] == {"fields": {"host": ["This host is not served here."]}}
    assert response["X-Request-ID"]
    assert mailoutbox == []


def test_a_foreign_host_is_enveloped_when_the_https_redirect_asks_for_it(settings):
    """In production SecurityMiddleware (outermost) reads the Host for its HTTPS redirect."""
    settings.SECURE_SSL_REDIRECT = True
    response = Client(raise_request_exception=False).get("/api/v1/auth/signup-status", **FOREIGN)
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_a_foreign_host_in_debug_is_still_an_envelope(settings):
    """DEBUG renders a technical HTML page for a DisallowedHost; API paths get the envelope."""
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/api/v1/auth/signup-status", **FOREIGN)
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_the_admin_keeps_django_html_for_a_foreign_host():
    response = Client(raise_request_exception=False).get("/admin/login/", **FOREIGN)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"evil.example" not in response.content


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/.well-known/jwks.json"])
def test_a_failed_csrf_check_on_an_api_path_is_a_403_envelope(path):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    response = client.post(path, {"a": "b"})
    assert_envelope(response, 403, "FORBIDDEN")


def test_the_admin_keeps_django_html_for_a_failed_csrf_check():
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    response = client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def _with_csrf_cookie() -> Client:
    """A client whose POSTs make the CSRF check read the form body (Django parses it)."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.cookies["csrftoken"] = "a" * 32
    return client


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=ä"],
)
def test_an_unparsable_multipart_body_is_a_400_envelope(content_type):
    response = _with_csrf_cookie().generic("POST", "/health", b"--x\r\n", content_type)
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_too_many_form_fields_is_a_400_envelope():
    body = "&".join(f"f{i}=1" for i in range(2000)).encode()
    response = _with_csrf_cookie().generic(
        "POST", "/health", body, "application/x-www-form-urlencoded"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_form_data_over_django_s_own_limit_is_a_413_envelope(settings):
    """RequestDataTooBig (Django's limit on parsed form data) is the contract's 413."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = _with_csrf_cookie().generic(
        "POST", "/health", b"f=" + b"x" * 500, "application/x-www-form-urlencoded"
    )
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.urls("tests.foundation.urls_errors")
def test_a_suspicious_operation_raised_in_a_plain_view_is_a_400_envelope():
    response = Client(raise_request_exception=False).get("/api/v1/test/plain-suspicious")
    assert_envelope(response, 400, "VALIDATION_ERROR")


@pytest.mark.urls("tests.foundation.urls_errors")
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "VALIDATION_ERROR"),
        (401, "TOKEN_INVALID"),
        (403, "FORBIDDEN"),
        (503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_an_html_error_of_any_layer_on_an_api_path_becomes_the_envelope(status, code):
    response = Client().get(f"/api/v1/test/plain-html-error?status={status}")
    assert_envelope(response, status, code)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/auth/%ff%fe", 404, "NOT_FOUND"),
        ("/api/v1/auth/security-events?page=%ff&limit=%zz", 401, "TOKEN_INVALID"),
        ("/api/v1/auth/signup-status?%ff=%fe", 200, None),
        ("/api/v1/spaces/%c0%80", 401, "TOKEN_INVALID"),
    ],
)
def test_bad_percent_encoding_is_answered_in_the_envelope(path, status, code):
    response = Client(raise_request_exception=False).get(path)
    if code is None:
        assert response.status_code == status
    else:
        assert_envelope(response, status, code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/session-to-token"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/session"),
        ("post", "/api/v1/auth/validate"),
    ],
)
@pytest.mark.parametrize(
    "cookie",
    [
        'mana.session_token="\\x00\\xff"; mana.device=;;;==; =x',
        "mana.session_token=%ff%00; mana.device=%zz; csrftoken=\x7f",
        "mana.session_token=" + "a" * 5000,
        "mana.device=" + "b.c:d" * 400,
    ],
)
def test_invalid_cookies_are_answered_in_the_envelope(method, path, cookie):
    client = Client(raise_request_exception=False, HTTP_COOKIE=cookie)
    body = json.dumps({"email": "someone@example.com", "password": "x" * 10, "token": "t"})
    response = client.generic(method.upper(), path, body, "application/json")
    if path.endswith("validate"):
        assert response.status_code == 200
        assert response.json() == {"valid": False, "code": "TOKEN_INVALID"}
    else:
        assert 400 <= response.status_code < 500
        assert_envelope(response, response.status_code, response.json()["code"])
