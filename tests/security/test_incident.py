"""Regression for the predecessor's lockout incident: a broken database must never lock
real users out. Five correct-password sign-ins against a schema drift are five 503s, and
afterwards nothing was counted and the user signs in."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from tests.conftest import PASSWORD


def _rename(table: str, column: str, new: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE {table} RENAME COLUMN "{column}" TO "{new}"')


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("accounts_user", "name"),  # read when the account is looked up
        ("accounts_session", "auth_method"),  # written after the password checked out
        ("security_login_throttle", "locked_until"),  # the lockout store itself
    ],
)
def test_schema_drift_during_login_is_503_and_counts_nothing(user_factory, table, column):
    user = user_factory(email="honest@example.com")
    client = APIClient()
    _rename(table, column, column + "_drifted")
    try:
        responses = [
            client.post(
                "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
            )
            for _ in range(5)
        ]
    finally:
        _rename(table, column + "_drifted", column)
    assert [r.status_code for r in responses] == [503] * 5
    assert {r.json()["code"] for r in responses} == {"SERVICE_UNAVAILABLE"}
    assert not LoginThrottle.objects.filter(failures__gt=0).exists()
    assert LoginAttempt.objects.filter(success=False).count() == 0
    assert not SecurityEvent.objects.filter(type__in=["LOGIN_FAILURE", "ACCOUNT_LOCKED"]).exists()
    after = client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert after.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_database_down_during_login_is_503_and_counts_nothing(user_factory):
    user = user_factory(email="honest2@example.com")
    original = dict(connection.settings_dict)
    client = APIClient()
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        statuses = [
            client.post(
                "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
            ).status_code
            for _ in range(5)
        ]
    finally:
        connection.close()
        connection.settings_dict.update(original)
    assert statuses == [503] * 5
    assert LoginAttempt.objects.filter(success=False).count() == 0
    assert (
        client.post(
            "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )
