"""The OpenAPI schema states what the code refuses, so generated clients and fuzzers agree."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _body(schema, path, method):
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_internal_operations_declare_the_service_key(schema):
    assert schema["components"]["securitySchemes"]["serviceKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Service-Key",
    }
    internal = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/internal/")
        for operation in item.values()
    ]
    assert len(internal) == 3
    assert all(operation["security"] == [{"serviceKey": []}] for operation in internal)
    actions = schema["paths"]["/api/v1/admin/personas/{persona_id}/actions"]["post"]
    assert {"serviceKey": []} in actions["security"]
    assert {"bearerAuth": []} in actions["security"]


def test_path_ids_are_uuids(schema):
    ids = [
        parameter
        for item in schema["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]
    assert ids
    assert all(parameter["schema"] == {"type": "string", "format": "uuid"} for parameter in ids)


def test_paging_bounds_are_stated(schema):
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/spaces"]["get"]["parameters"]
    }
    assert parameters["page"]["minimum"] == 1
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 100)


def test_new_passwords_state_the_policy_length(schema):
    for path, field in [
        ("/api/v1/auth/register", "password"),
        ("/api/v1/auth/reset-password", "newPassword"),
        ("/api/v1/auth/change-password", "newPassword"),
    ]:
        prop = _body(schema, path, "post")["properties"][field]
        assert (prop["minLength"], prop["maxLength"]) == (8, 256), path


def test_patch_bodies_require_what_the_view_requires(schema):
    assert _body(schema, "/api/v1/auth/passkeys/{passkey_id}", "patch")["required"] == ["name"]
    members = _body(schema, "/api/v1/spaces/{space_id}/members/{user_id}", "patch")
    assert members["required"] == ["role"]
    profile = _body(schema, "/api/v1/auth/profile", "patch")
    assert profile.get("required") is None
    assert profile["additionalProperties"] is False


def _resolved(schema, prop):
    prop = prop["allOf"][0] if "allOf" in prop else prop
    ref = prop.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else prop


def test_closed_choices_are_enums(schema):
    space_type = _resolved(schema, _body(schema, "/api/v1/spaces", "post")["properties"]["type"])
    assert "personal" not in space_type["enum"] and "team" in space_type["enum"]
    persona = _body(schema, "/api/v1/admin/personas", "post")["properties"]
    assert persona["email"]["pattern"] == r"^[^@\s]+@mana\.test$"
    assert persona["moduleMix"]["additionalProperties"] is False
    assert "todo" in persona["moduleMix"]["properties"]
    credential = _body(schema, "/api/v1/auth/passkeys/register/verify", "post")["properties"]
    assert credential["credential"]["required"] == ["id", "rawId", "type", "response"]


@pytest.mark.parametrize(
    ("password", "code"),
    [("", "VALIDATION_ERROR"), ("short", "WEAK_PASSWORD"), (12345678, "WEAK_PASSWORD")],
)
def test_the_password_field_still_lets_the_policy_judge(api_client, password, code):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "someone@example.com", "password": password},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == code
