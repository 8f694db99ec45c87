"""``onboarding_completed_at`` (issue 19, item 4; the predecessor's column): in the user shape,
set once by its owner with ``POST /api/v1/me/onboarding/complete``, audited, exported."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import User
from security.models import SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
COMPLETE = "/api/v1/me/onboarding/complete"


def test_a_new_account_has_not_finished_onboarding(api_client, user_factory):
    user = user_factory()
    login = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    assert login.json()["user"]["onboardingCompletedAt"] is None
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['accessToken']}")
    assert api_client.get("/api/v1/auth/profile").json()["onboardingCompletedAt"] is None


def test_completing_onboarding_sets_the_time_once_and_audits_it(auth_client):
    client = auth_client()
    first = client.post(COMPLETE)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["id"] == str(client.user.id) and body["email"] == client.user.email
    stamped = User.objects.get(pk=client.user.pk).onboarding_completed_at
    assert stamped is not None
    assert body["onboardingCompletedAt"] == stamped.isoformat().replace("+00:00", "Z")
    event = SecurityEvent.objects.get(user=client.user, type="ONBOARDING_COMPLETED")
    assert event.ip_address == "127.0.0.1"
    # Again, later: the same answer, the first moment kept, nothing audited twice.
    with freeze_time(timezone.now() + timedelta(minutes=5)):
        again = client.post(COMPLETE)
    assert again.status_code == 200
    assert again.json() == body
    assert User.objects.get(pk=client.user.pk).onboarding_completed_at == stamped
    assert SecurityEvent.objects.filter(type="ONBOARDING_COMPLETED").count() == 1
    # Every user shape carries it from now on.
    assert (
        client.get("/api/v1/auth/profile").json()["onboardingCompletedAt"]
        == (body["onboardingCompletedAt"])
    )
    assert (
        client.get("/api/v1/auth/session").json()["user"]["onboardingCompletedAt"]
        == (body["onboardingCompletedAt"])
    )


def test_completing_onboarding_needs_a_signed_in_user(user_factory):
    user = user_factory()
    anonymous = APIClient().post(COMPLETE)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "TOKEN_INVALID"
    assert User.objects.get(pk=user.pk).onboarding_completed_at is None
    assert not SecurityEvent.objects.filter(type="ONBOARDING_COMPLETED").exists()


def test_only_post_completes_onboarding(auth_client):
    client = auth_client()
    for method in (client.get, client.delete, client.patch):
        response = method(COMPLETE)
        assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert User.objects.get(pk=client.user.pk).onboarding_completed_at is None


def test_the_export_carries_the_time(auth_client):
    client = auth_client()
    assert client.get("/api/v1/me/data/export").json()["profile"]["onboardingCompletedAt"] is None
    assert client.post(COMPLETE).status_code == 200
    stamped = User.objects.get(pk=client.user.pk).onboarding_completed_at
    exported = client.get("/api/v1/me/data/export").json()["profile"]["onboardingCompletedAt"]
    # The export's encoder writes milliseconds.
    assert datetime.fromisoformat(exported) == stamped.replace(
        microsecond=stamped.microsecond // 1000 * 1000
    )


def test_the_schema_documents_the_operation_and_the_field():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][COMPLETE]["post"]
    assert "requestBody" not in operation
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserOutput"
    }
    field = schema["components"]["schemas"]["UserOutput"]["properties"]["onboardingCompletedAt"]
    assert field["nullable"] is True and field["format"] == "date-time"
    assert "onboardingCompletedAt" not in schema["components"]["schemas"]["UserOutput"].get(
        "required", []
    )
