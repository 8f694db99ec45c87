"""Health, docs, request ids, origins, production boot guards, error tracking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from django.conf import settings
from sentry_sdk.transport import Transport

from mana_auth import config, origins

ROOT = Path(__file__).resolve().parents[2]


def test_health_answers_without_io(client):
    # No django_db mark: any database access in the view would raise here.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_database_and_cache(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_ready_reports_a_dead_cache(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert response.json()["details"]["checks"]["cache"] == "unavailable"


@pytest.mark.django_db
def test_openapi_schema_and_local_docs(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/login" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_request_id_is_echoed_or_generated(client):
    echoed = client.get("/health", HTTP_X_REQUEST_ID="req-123")
    assert echoed["X-Request-ID"] == "req-123"
    generated = client.get("/health", HTTP_X_REQUEST_ID="bad id with spaces\n")
    assert generated["X-Request-ID"] != "bad id with spaces\n"
    assert len(generated["X-Request-ID"]) == 32


def test_logs_redact_secrets():
    from mana_auth.logging import redact

    text = redact('login password=hunter2 {"refreshToken": "rt_abc"} Authorization: Bearer eyJx.y')
    assert "hunter2" not in text and "rt_abc" not in text and "eyJx.y" not in text


# --- Origins ------------------------------------------------------------------------------------


CANONICAL_PRODUCTION_ORIGINS = {
    "https://mana.how",
    "https://auth.mana.how",
    "https://app.mana.how",
    "https://calc.mana.how",
    "https://arcade.mana.how",
    "https://whopxl.mana.how",
    "https://admin.mana.how",
}
# Subdomains the predecessor retired when its apps were consolidated into one web app.
RETIRED_SUBDOMAINS = ("chat", "notes", "todo", "calendar", "contacts")


def test_trusted_origins_are_the_canonical_list():
    """The list cannot drift: adding or re-adding an origin is a deliberate edit here too."""
    assert set(origins.trusted_origins(production=True)) == CANONICAL_PRODUCTION_ORIGINS
    development = origins.trusted_origins(production=False)
    for port in (3001, 5173):
        assert f"http://localhost:{port}" in development
    for name in RETIRED_SUBDOMAINS:
        assert f"https://{name}.mana.how" not in development


def test_trusted_origins_are_consistent():
    production = origins.trusted_origins(production=True)
    assert len(production) == len(set(production)), "duplicate trusted origin"
    for origin in production:
        assert origin.startswith("https://"), origin
        host = origin.removeprefix("https://")
        assert host == origins.PRODUCTION_COOKIE_DOMAIN or host.endswith(
            "." + origins.PRODUCTION_COOKIE_DOMAIN
        ), origin
    for origin in settings.TRUSTED_ORIGINS:
        if origin.startswith("https://"):
            assert origin in settings.CORS_ALLOWED_ORIGINS
            assert origin in settings.CSRF_TRUSTED_ORIGINS
            assert origin in settings.WEBAUTHN_ORIGINS
    assert len(settings.TRUSTED_ORIGINS) == len(set(settings.TRUSTED_ORIGINS))


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://auth.mana.how.evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "https://user@auth.mana.how/",
        "https://auth.mana.how\\@evil.example/",
        "/relative/path",
    ],
)
def test_untrusted_redirects_are_refused(url):
    assert not origins.is_trusted_redirect(url, origins.trusted_origins(production=True))


def test_trusted_redirect_is_allowed():
    assert origins.is_trusted_redirect(
        "https://app.mana.how/welcome?x=1", origins.trusted_origins(production=True)
    )


# --- Production boot ------------------------------------------------------------------------------


def _boot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("MANA_")}
    base.pop("SECRET_KEY", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


GOOD_PRODUCTION = {
    "MANA_ENV": "production",
    "SECRET_KEY": "t9Vq2xLr8Kp4Zm7Nw1Bc6Hd3Jf5Gs0Ya-Qe8Ru2Ti4Wo6Pl1Mk3Nj5Bh7Vg9Cf",
    "MANA_AUTH_KEK": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
    "MANA_SERVICE_KEY": "k" * 40,
    "BASE_URL": "https://auth.mana.how",
    "PERSONA_SEED_SECRET": "p" * 40,
    "COOKIE_DOMAIN": "mana.how",  # also the passkey relying party id
}


def test_production_boot_is_clean_with_good_secrets():
    result = _boot({**GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", "")})
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"MANA_AUTH_KEK": ""}, "MANA_AUTH_KEK is required"),
        ({"MANA_AUTH_KEK": "not base64!!"}, "not valid base64"),
        ({"MANA_AUTH_KEK": "AAAA"}, "exactly 32 bytes"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is required"),
        ({"MANA_SERVICE_KEY": ""}, "MANA_SERVICE_KEY is required"),
    ],
)
def test_production_boot_refuses_bad_secrets(override, message):
    env = {**GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", ""), **override}
    result = _boot(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_config_rejects_all_zero_kek():
    env = {**GOOD_PRODUCTION, "DATABASE_URL": "postgres://x@y/z", "MANA_AUTH_KEK": "A" * 43 + "="}
    assert any("all-zero" in problem for problem in config.production_problems(env))


# --- Error tracking ---------------------------------------------------------------------------


class CollectingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def flush(self, timeout, callback=None):
        return None


@pytest.fixture
def sentry_transport():
    from mana_auth.sentry import init_sentry

    transport = CollectingTransport()
    init_sentry(dsn="https://public@sentry.example/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.init()  # back to a disabled client


def _events(transport):
    return [item for env in transport.envelopes for item in env.items if item.type == "event"]


@pytest.mark.django_db
@pytest.mark.urls("tests.foundation.urls_errors")
def test_server_errors_reach_sentry_but_client_errors_do_not(api_client, sentry_transport):
    api_client.get("/api/v1/test/forbidden")
    api_client.get("/api/v1/auth/profile")
    api_client.post("/api/v1/auth/login", {}, format="json")
    assert _events(sentry_transport) == []
    api_client.get("/api/v1/test/boom")
    sentry_sdk.flush()
    events = _events(sentry_transport)
    assert len(events) == 1
    assert events[0].payload.json["server_name"] == "mana-auth"


@pytest.mark.django_db
def test_expected_domain_503_is_not_sent_to_sentry(sentry_transport):
    from mana_auth.errors import capture, classify
    from vault.exceptions import GrantNotConfigured

    error = GrantNotConfigured()
    capture(error, classify(error))
    sentry_sdk.flush()
    assert _events(sentry_transport) == []


def test_static_assets_are_served_without_debug(settings):
    """The docs UI and the admin need their assets in production too (WhiteNoise)."""
    from django.test import Client

    settings.DEBUG = False
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])
