"""Every error leaves the service in the contract's envelope, with no internal text."""

from __future__ import annotations

import json

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

FORBIDDEN_TEXT = ("Traceback", "SELECT", "hunter2", "internal text", "psycopg", 'File "')


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "details"}
    text = response.content.decode()
    for needle in FORBIDDEN_TEXT:
        assert needle not in text
    return body


def test_validation_error_lists_fields(api_client):
    response = api_client.post("/api/v1/auth/login", {"email": "a@b.c"}, format="json")
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "password" in body["details"]["fields"]


def test_malformed_json_is_validation_error(api_client):
    response = api_client.post(
        "/api/v1/auth/login", data="{not json", content_type="application/json"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_missing_token_is_401_token_invalid(api_client):
    response = api_client.get("/api/v1/auth/profile")
    assert_envelope(response, 401, "TOKEN_INVALID")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.urls("tests.foundation.urls_errors")
def test_forbidden_envelope(api_client):
    assert_envelope(api_client.get("/api/v1/test/forbidden"), 403, "FORBIDDEN")


def test_unknown_api_path_is_404_envelope(api_client):
    assert_envelope(api_client.get("/api/v1/does-not-exist"), 404, "NOT_FOUND")


def test_wrong_method_is_405_envelope(api_client):
    response = api_client.delete("/api/v1/auth/login")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")


def test_body_over_one_mebibyte_is_413(api_client):
    payload = json.dumps({"email": "a@example.com", "password": "x" * (1024 * 1024)})
    response = api_client.post("/api/v1/auth/login", data=payload, content_type="application/json")
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.urls("tests.foundation.urls_errors")
def test_unhandled_error_is_500_without_internal_text(api_client):
    assert_envelope(api_client.get("/api/v1/test/boom"), 500, "INTERNAL")


@pytest.mark.urls("tests.foundation.urls_errors")
def test_plain_django_view_error_is_enveloped(api_client):
    assert_envelope(api_client.get("/api/v1/test/plain-boom"), 500, "INTERNAL")


@pytest.mark.django_db(transaction=True)
def test_database_outage_is_503(api_client, settings):
    """Point the connection at a closed port: a real connection failure, not a mock."""
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"
    connection.settings_dict["HOST"] = "127.0.0.1"
    try:
        response = api_client.post(
            "/api/v1/auth/login",
            {"email": "someone@example.com", "password": "whatever-password"},
            format="json",
        )
    finally:
        connection.close()
        connection.settings_dict.update(original)
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")


@pytest.mark.django_db(transaction=True)
def test_schema_drift_is_503_not_401(api_client, user_factory):
    """An undefined column (42703) is our failure, never the user's wrong password."""
    user = user_factory()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE accounts_user RENAME COLUMN name TO name_drifted")
    try:
        response = api_client.post(
            "/api/v1/auth/login",
            {"email": user.email, "password": user.raw_password},
            format="json",
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_user RENAME COLUMN name_drifted TO name")
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")


def test_unique_violation_is_409(user_factory):
    from django.db import IntegrityError

    from accounts.models import User
    from mana_auth.errors import classify

    user = user_factory()
    with pytest.raises(IntegrityError) as caught:
        from django.db import transaction

        with transaction.atomic():
            User.objects.create(email=user.email.upper(), password="!")
    assert classify(caught.value).code == "CONFLICT"


@pytest.mark.parametrize(
    "payload",
    [
        '{"email": "a\\u0000@example.com", "password": "whatever-pass"}',
        '{"email": "a@example.com", "password": "x\\ud800y"}',
        '{"\\u0000": 1, "email": "a@example.com", "password": "whatever-pass"}',
    ],
)
def test_text_postgresql_cannot_store_is_refused_as_400(api_client, payload):
    response = api_client.post("/api/v1/auth/login", data=payload, content_type="application/json")
    assert_envelope(response, 400, "VALIDATION_ERROR")


def test_a_value_the_database_refuses_is_400_not_500():
    from django.db import DataError, transaction

    from accounts.models import User
    from mana_auth.errors import classify

    with pytest.raises(DataError) as caught, transaction.atomic():
        User.objects.create(email="x" * 300 + "@example.com", password="!")
    error = classify(caught.value)
    assert (error.code, error.status) == ("VALIDATION_ERROR", 400)


def test_a_connection_pool_timeout_is_503():
    from psycopg_pool import PoolTimeout

    from mana_auth.errors import classify

    error = classify(PoolTimeout("couldn't get a connection after 30.00 sec"))
    assert (error.code, error.status) == ("SERVICE_UNAVAILABLE", 503)
