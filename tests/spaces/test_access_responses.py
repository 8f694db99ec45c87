"""``GET /spaces/{id}/access`` answers byte for byte as it did on DRF's full stack, for every
contract case, now that it runs on the lean path (README "Performance")."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import Session
from spaces import modules
from tests.conftest import login_tokens

pytestmark = pytest.mark.django_db


def _get(path: str, token: str | None = None, **extra: str):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get(path, **headers, **extra)


def _error(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def test_access_answer_is_compact_json_with_drf_headers(auth_client, team):
    token = login_tokens(APIClient(), team.member)["accessToken"]
    response = _get(f"/api/v1/spaces/{team.space.id}/access", token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    expected = {
        "spaceId": str(team.space.id),
        "type": "team",
        "role": "member",
        "tier": "public",
        "modules": response.json()["modules"],
    }
    assert list(expected["modules"]) == list(modules.MODULE_IDS)
    assert response.content == json.dumps(expected, separators=(",", ":")).encode()


@pytest.mark.parametrize("space", ["other", "not-a-uuid"])
def test_access_to_a_space_one_is_not_in_is_not_found(auth_client, team, space):
    token = login_tokens(APIClient(), auth_client().user)["accessToken"]
    target = team.space.id if space == "other" else space
    response = _get(f"/api/v1/spaces/{target}/access", token)
    assert response.status_code == 404
    assert response.content == _error("NOT_FOUND", "No such Space.")
    assert response["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, True),  # no credentials: DRF's NotAuthenticated, with the challenge
        ("Bearer mana_sk_live_0123456789abcdef0123456789abcdef", True),  # API keys: not here
        ("Bearer junk", False),  # a bad token: TOKEN_INVALID from the authenticator
        ("Basic eDp5", False),
    ],
)
def test_access_without_a_usable_token_is_token_invalid(team, authorization, challenge):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = _get(f"/api/v1/spaces/{team.space.id}/access", **extra)
    assert response.status_code == 401
    assert response.content == _error("TOKEN_INVALID", response.json()["message"])
    assert response.get("WWW-Authenticate") == ('Bearer realm="mana"' if challenge else None)
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_access_with_a_revoked_or_expired_token(team):
    with freeze_time(timezone.now() - timedelta(minutes=20)):
        old = login_tokens(APIClient(), team.member)["accessToken"]
    expired = _get(f"/api/v1/spaces/{team.space.id}/access", old)
    assert expired.status_code == 401 and expired.json()["code"] == "TOKEN_EXPIRED"
    assert expired.content == _error("TOKEN_EXPIRED", expired.json()["message"])
    assert (expired.get("WWW-Authenticate"), expired["Allow"]) == (None, "GET, HEAD, OPTIONS")
    token = login_tokens(APIClient(), team.member)["accessToken"]
    Session.objects.filter(user=team.member).update(revoked_at=timezone.now())
    revoked = _get(f"/api/v1/spaces/{team.space.id}/access", token)
    assert revoked.status_code == 401 and revoked.json()["code"] == "SESSION_REVOKED"
    assert revoked.content == _error("SESSION_REVOKED", revoked.json()["message"])
    assert (revoked.get("WWW-Authenticate"), revoked["Allow"]) == (None, "GET, HEAD, OPTIONS")


def test_access_refuses_other_methods(team):
    token = login_tokens(APIClient(), team.member)["accessToken"]
    response = Client().post(
        f"/api/v1/spaces/{team.space.id}/access", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 405
    assert response.content == _error("METHOD_NOT_ALLOWED", response.json()["message"])
    assert response["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_an_accept_header_without_json_is_answered_as_drf_answers_it(team, accept):
    token = login_tokens(APIClient(), team.member)["accessToken"]
    response = _get(f"/api/v1/spaces/{team.space.id}/access", token, HTTP_ACCEPT=accept)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("accept", ["application/json", "*/*", "text/html,*/*;q=0.8"])
def test_json_or_a_wildcard_gets_the_answer(team, accept):
    token = login_tokens(APIClient(), team.member)["accessToken"]
    response = _get(f"/api/v1/spaces/{team.space.id}/access", token, HTTP_ACCEPT=accept)
    assert response.status_code == 200 and response.json()["role"] == "member"
