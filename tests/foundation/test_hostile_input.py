"""Hostile JSON on every route: deep nesting is a 400 envelope, never a RecursionError (500).

The walk covers every route of the URLconf outside ``/admin/`` (Django's form-based console,
which reads no JSON body). Each path parameter is replaced by the id of a real object the
signed-in operator may act on, so a body-reading view gets as far as reading the body. The
hosted pages (``accounts.pages``, ``spaces.pages``) read forms, not JSON, and answer in HTML:
they are walked too, for "never a 5xx".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from accounts import api_keys
from accounts.models import Passkey, Session
from accounts.pages.base import PageView
from mana_auth import jsonsafe
from mana_auth.clientip import RequestMeta
from mana_auth.errors import TAXONOMY
from spaces.models import Membership, SpaceRole
from spaces.services.credentials import credential_create
from spaces.services.invitations import invitation_create
from spaces.services.spaces import space_create
from tests.admin.fixtures import PERSONA_BODY
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

DEPTH = 5000
DEEP_DOCUMENT = '{"email": ' + "[" * DEPTH + "]" * DEPTH + "}"
METHODS = ("get", "post", "put", "patch", "delete")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _allowed(callback: Any) -> list[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a plain function view (health): try what a client would
        return ["get", "post"]
    return [method for method in METHODS if hasattr(view_class, method)]


def _is_page(callback: Any) -> bool:
    view_class = getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, PageView)


PAGE_ROUTES = {
    route for route, callback in _walk(get_resolver().url_patterns) if _is_page(callback)
}


def _operations() -> list[tuple[str, str]]:
    routes = [
        (route, method)
        for route, callback in _walk(get_resolver().url_patterns)
        if not route.startswith("admin/")
        for method in _allowed(callback)
    ]
    assert len(routes) > 80  # the walk found the URLconf, not an empty list
    return routes


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def body_operations(django_db_blocker: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every operation whose schema declares a request body."""
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }


@pytest.fixture
def world(user_factory: Any, auth_client: Any) -> dict[str, Any]:
    """An operator (role admin) owning a team Space with one of everything a path can name."""
    operator = user_factory(email="operator@example.com", role="admin")
    client = auth_client(operator)
    member = user_factory(email="member@example.com")
    meta = RequestMeta(ip="127.0.0.1")
    space = space_create(user=operator, name="Team", type="team", meta=meta)
    Membership.objects.create(space=space, user=member, role=SpaceRole.MEMBER)
    invitation = invitation_create(
        user=operator, space_id=space.id, email="invitee@example.com", role="member", meta=meta
    )
    credential = credential_create(
        user=operator, space_id=space.id, kind="smtp", name="SMTP", value="s3cret", meta=meta
    )
    key = api_keys.api_key_create(
        user=operator,
        name="ci",
        scopes=["profile:read"],
        expires_at=None,
        meta=meta,
        session=None,
        password=PASSWORD,
    )
    passkey = Passkey.objects.create(
        user=operator,
        credential_id=b"\x01" * 16,
        credential_id_b64="AQEBAQEBAQEBAQEBAQEBAQ",
        public_key=b"\x02" * 32,
    )
    persona = client.post("/api/v1/admin/personas", PERSONA_BODY, format="json").json()
    ids = {
        "space_id": space.id,
        "org_id": space.id,
        "user_id": member.id,
        "invitation_id": invitation.id,
        "credential_id": credential.id,
        "key_id": key.api_key.id,
        "passkey_id": passkey.id,
        "session_id": Session.objects.filter(user=operator).values_list("id", flat=True)[0],
        "persona_id": persona["id"],
    }
    return {"token": client.tokens["accessToken"], "ids": {k: str(v) for k, v in ids.items()}}


def _url(route: str, ids: dict[str, str]) -> str:
    return "/" + _CONVERTER.sub(lambda match: ids[match.group(1)], route)


def _openapi_path(route: str) -> str:
    return "/" + _CONVERTER.sub(lambda match: "{" + match.group(1) + "}", route)


def _send(client: Client, method: str, url: str, body: str, **headers: Any) -> Any:
    return client.generic(method.upper(), url, body, "application/json", **headers)


def _assert_envelope(response: Any, where: str) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), where
    body = response.json()
    assert body["code"] in TAXONOMY, where
    assert TAXONOMY[body["code"]][0] == response.status_code, where
    assert isinstance(body["message"], str) and body["message"], where
    return body


@pytest.mark.parametrize(("route", "method"), OPERATIONS, ids=[f"{m} {r}" for r, m in OPERATIONS])
def test_deeply_nested_json_is_refused_on_every_route(
    route: str, method: str, world: dict[str, Any], body_operations: set[tuple[str, str]]
) -> None:
    """Signed in as an operator, with the service key, on real ids: an operation that reads a
    body answers 400 VALIDATION_ERROR; every other one answers without a 5xx, errors in the
    envelope. Anonymous: the same, except that an operation may demand authentication first
    (401 TOKEN_INVALID)."""
    url = _url(route, world["ids"])
    reads_body = (_openapi_path(route), method) in body_operations
    where = f"{method.upper()} {url}"
    client = Client(raise_request_exception=False)

    signed_in = _send(
        client,
        method,
        url,
        DEEP_DOCUMENT,
        HTTP_AUTHORIZATION=f"Bearer {world['token']}",
        HTTP_X_SERVICE_KEY=settings.MANA_SERVICE_KEY,
    )
    anonymous = _send(client, method, url, DEEP_DOCUMENT)

    assert signed_in.status_code < 500, where
    assert anonymous.status_code < 500, where
    if reads_body:
        assert signed_in.status_code == 400, (where, signed_in.content)
        assert _assert_envelope(signed_in, where)["code"] == "VALIDATION_ERROR"
        code = _assert_envelope(anonymous, where)["code"]
        assert code in ("VALIDATION_ERROR", "TOKEN_INVALID"), (where, anonymous.content)
    elif route in PAGE_ROUTES:
        for response in (signed_in, anonymous):
            assert response["Content-Type"].startswith("text/html"), where
    else:
        for response in (signed_in, anonymous):
            if response.status_code >= 400 and not url.startswith("/api/v1/docs"):
                _assert_envelope(response, where)


def test_the_walk_reaches_the_public_hot_paths(body_operations):
    """The contract's public POSTs are among the operations refused above (a walk that lost
    them would prove nothing)."""
    for path in (
        "login",
        "register",
        "refresh",
        "validate",
        "magic-link",
        "forgot-password",
        "passkeys/authenticate/verify",
    ):
        assert (f"/api/v1/auth/{path}", "post") in body_operations, path


def test_deep_nesting_inside_a_string_is_not_nesting(api_client):
    """Brackets inside JSON strings do not count toward the depth."""
    payload = json.dumps({"email": "nobody@example.com", "password": "[" * 500 + "{" * 500})
    response = api_client.post("/api/v1/auth/login", data=payload, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_nesting_up_to_the_limit_is_parsed(api_client):
    shallow = "[" * jsonsafe.MAX_DEPTH + "]" * jsonsafe.MAX_DEPTH
    assert jsonsafe.loads(shallow) is not None
    too_deep = "[" + shallow + "]"
    with pytest.raises(jsonsafe.JSONTooDeep):
        jsonsafe.loads(too_deep)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_depth_is_counted_in_every_encoding_json_accepts(encoding):
    with pytest.raises(jsonsafe.JSONTooDeep):
        jsonsafe.loads(DEEP_DOCUMENT.encode(encoding))


def test_a_token_with_a_deeply_nested_header_is_invalid_not_500(api_client):
    """The header is decoded before any signature check: anyone can send one."""
    deep = base64.urlsafe_b64encode(b"[" * 1400 + b"]" * 1400).rstrip(b"=").decode()
    token = f"{deep}.e30.AAAA"
    assert len(token) <= 4096  # within the length the token parser accepts

    validate = api_client.post("/api/v1/auth/validate", {"token": token}, format="json")
    bearer = api_client.get("/api/v1/auth/profile", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert validate.status_code == 200
    assert validate.json() == {"valid": False, "code": "TOKEN_INVALID"}
    assert bearer.status_code == 401
    assert bearer.json()["code"] == "TOKEN_INVALID"
