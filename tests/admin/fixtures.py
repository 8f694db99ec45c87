"""Fixtures shared by the Admin API and persona tests (imported by both conftest files)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User

PERSONA_BODY = {
    "email": "ada.dev@mana.test",
    "name": "Ada Lovelace",
    "archetype": "solo-dev",
    "systemPrompt": "You are Ada, a meticulous developer.",
    "moduleMix": {"todo": 0.5, "notes": 0.5},
    "tickCadence": "daily",
}


@pytest.fixture
def admin_client(user_factory: Callable[..., User], auth_client: Callable[..., APIClient]) -> Any:
    """A client signed in (bearer token) as an operator: ``role == "admin"``."""
    operator = user_factory(email="operator@example.com", role="admin")
    return auth_client(operator)


@pytest.fixture
def user_client(auth_client: Callable[..., APIClient]) -> APIClient:
    """A client signed in as an ordinary user."""
    return auth_client()


@pytest.fixture
def persona(admin_client: APIClient) -> dict[str, Any]:
    """One persona created through the API; the response body."""
    response = admin_client.post("/api/v1/admin/personas", PERSONA_BODY, format="json")
    assert response.status_code == 201, response.content
    return response.json()
