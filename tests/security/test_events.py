"""Each flow writes its security event; no event carries a secret."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from security.models import SecurityEvent
from security.services import security_event_record

pytestmark = pytest.mark.django_db
PW = "first-pass-phrase-12"
PW2 = "second-pass-phrase-34"
PW3 = "third-pass-phrase-56"


def _token(mail) -> str:
    url = re.search(r"https?://\S+", mail.body).group(0)
    return parse_qs(urlsplit(url).query)["token"][0]


def _post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def test_a_whole_account_lifecycle_writes_every_event(mailoutbox):
    client = APIClient()
    secrets_seen: list[str] = [PW, PW2, PW3]
    email = "life@example.com"
    assert (
        _post(client, "/api/v1/auth/register", {"email": email, "password": PW}).status_code == 201
    )
    verify = _token(mailoutbox[-1])
    secrets_seen.append(verify)
    _post(client, "/api/v1/auth/verify-email", {"token": verify})
    for _ in range(5):
        _post(client, "/api/v1/auth/login", {"email": email, "password": "wrong-wrong-1"})
    _post(client, "/api/v1/auth/forgot-password", {"email": email})
    reset = _token(mailoutbox[-1])
    secrets_seen.append(reset)
    _post(client, "/api/v1/auth/reset-password", {"token": reset, "newPassword": PW2})
    tokens = _post(client, "/api/v1/auth/login", {"email": email, "password": PW2}).json()
    secrets_seen += [tokens["accessToken"], tokens["refreshToken"]]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    bearer.patch("/api/v1/auth/profile", {"name": "Life"}, format="json")
    _post(bearer, "/api/v1/auth/change-email", {"newEmail": "life2@example.com", "password": PW2})
    change = _token(mailoutbox[-1])
    secrets_seen.append(change)
    _post(bearer, "/api/v1/auth/verify-email", {"token": change})
    _post(bearer, "/api/v1/auth/change-password", {"currentPassword": PW2, "newPassword": PW3})
    other = _post(
        APIClient(), "/api/v1/auth/login", {"email": "life2@example.com", "password": PW3}
    )
    _post(bearer, "/api/v1/auth/sessions/revoke-others")
    rotated = _post(APIClient(), "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    assert rotated.status_code == 200
    _post(APIClient(), "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    third = _post(
        APIClient(), "/api/v1/auth/login", {"email": "life2@example.com", "password": PW3}
    )
    third_client = APIClient()
    third_client.credentials(HTTP_AUTHORIZATION=f"Bearer {third.json()['accessToken']}")
    _post(third_client, "/api/v1/auth/logout")
    assert other.status_code == 200
    last = _post(APIClient(), "/api/v1/auth/login", {"email": "life2@example.com", "password": PW3})
    last_client = APIClient()
    last_client.credentials(HTTP_AUTHORIZATION=f"Bearer {last.json()['accessToken']}")
    assert (
        last_client.delete("/api/v1/auth/account", {"password": PW3}, format="json").status_code
        == 204
    )

    types = set(SecurityEvent.objects.values_list("type", flat=True))
    expected = {
        "REGISTER",
        "EMAIL_VERIFIED",
        "LOGIN_FAILURE",
        "ACCOUNT_LOCKED",
        "PASSWORD_RESET_REQUESTED",
        "PASSWORD_RESET",
        "LOGIN_SUCCESS",
        "PROFILE_UPDATED",
        "EMAIL_CHANGE_REQUESTED",
        "EMAIL_CHANGED",
        "PASSWORD_CHANGED",
        "SESSION_REVOKED",
        "REFRESH_TOKEN_REUSED",
        "LOGOUT",
        "ACCOUNT_DELETED",
    }
    assert expected <= types, expected - types
    dump = json.dumps(list(SecurityEvent.objects.values("metadata", "user_agent")))
    for secret in secrets_seen:
        assert secret not in dump


def test_unknown_event_types_and_secret_metadata_are_refused(user_factory):
    user = user_factory()
    with pytest.raises(ValueError):
        security_event_record(type="MADE_UP", user=user)
    with pytest.raises(ValueError):
        security_event_record(type="LOGIN_SUCCESS", user=user, metadata={"password": "x"})
    with pytest.raises(ValueError):
        security_event_record(type="LOGIN_SUCCESS", user=user, metadata={"refreshToken": "x"})
