"""One structured access-log line per request (issue 19.7): method, path without the query,
status, duration, request id, the user once known; never a token, a password or a query."""

from __future__ import annotations

import json
import logging

import pytest

from mana_auth.logging import JsonFormatter, RedactSecretsFilter
from tests.conftest import PASSWORD, login_tokens

pytestmark = pytest.mark.django_db

SECRET = "very-secret-token-value-123"


def _lines(caplog) -> list[dict]:
    """The access-log records as the production JSON formatter writes them."""
    formatter = JsonFormatter()
    lines = []
    for record in caplog.records:
        if record.name != "mana_auth.request":
            continue
        RedactSecretsFilter().filter(record)
        lines.append(json.loads(formatter.format(record)))
    return lines


def test_a_request_is_one_line_with_its_path_but_never_its_query(api_client, caplog):
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    response = api_client.get(
        f"/api/v1/auth/verify-email?token={SECRET}&callbackURL=https://x.example/",
        HTTP_X_REQUEST_ID="req-123",
    )
    (line,) = _lines(caplog)
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/auth/verify-email"
    assert line["status"] == response.status_code
    assert line["requestId"] == "req-123"
    assert isinstance(line["durationMs"], float) and line["durationMs"] >= 0
    assert line["userId"] is None
    assert SECRET not in json.dumps(line)


def test_a_sign_in_logs_neither_the_password_nor_the_tokens(api_client, user_factory, caplog):
    user = user_factory()
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    tokens = login_tokens(api_client, user)
    (line,) = _lines(caplog)
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/v1/auth/login", 200)
    text = json.dumps(line)
    assert PASSWORD not in text
    assert tokens["accessToken"] not in text and tokens["refreshToken"] not in text


@pytest.mark.parametrize("path", ["/api/v1/auth/profile", "/api/v1/auth/session"])
def test_an_authenticated_request_names_its_user(api_client, user_factory, caplog, path):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    caplog.clear()
    response = api_client.get(path, HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert response.status_code == 200
    (line,) = _lines(caplog)
    assert line["userId"] == str(user.pk)
    assert tokens["accessToken"] not in json.dumps(line)


def test_the_user_of_one_request_is_not_the_next_ones(api_client, user_factory, caplog):
    user = user_factory()
    tokens = login_tokens(api_client, user)
    api_client.get("/api/v1/auth/profile", HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    caplog.clear()
    api_client.get("/health")
    (line,) = _lines(caplog)
    assert line["path"] == "/health" and line["userId"] is None


def test_a_refused_request_is_logged_with_its_status(api_client, caplog):
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    api_client.get("/api/v1/auth/profile", HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    (line,) = _lines(caplog)
    assert line["status"] == 401
    assert SECRET not in json.dumps(line)


def test_the_text_format_is_one_readable_line(api_client, caplog):
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    api_client.get("/health?probe=1")
    (record,) = [r for r in caplog.records if r.name == "mana_auth.request"]
    assert record.getMessage().startswith("GET /health 200 ")
    assert "probe" not in record.getMessage()


def test_the_access_log_can_be_switched_off(api_client, caplog, settings):
    settings.REQUEST_LOG = False
    caplog.set_level(logging.INFO, logger="mana_auth.request")
    api_client.get("/health")
    assert _lines(caplog) == []


def test_api_paths_build_no_message_storage_and_pages_still_do(rf):
    """PageMessageMiddleware: Django's messages exist where a page can show them (the admin),
    not on API paths, where nothing reads them."""
    from django.conf import settings

    from mana_auth.middleware import PageMessageMiddleware

    assert "mana_auth.middleware.PageMessageMiddleware" in settings.MIDDLEWARE
    middleware = PageMessageMiddleware(lambda request: None)
    api, page = rf.get("/api/v1/auth/session"), rf.get("/admin/login/")
    for request in (api, page):
        request.session = {}
        middleware.process_request(request)
    assert not hasattr(api, "_messages")
    assert hasattr(page, "_messages")


def test_the_request_id_header_is_read_from_the_environment(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    bad = client.get("/health", HTTP_X_REQUEST_ID="no spaces allowed")
    assert bad["X-Request-ID"] != "no spaces allowed" and len(bad["X-Request-ID"]) == 32
