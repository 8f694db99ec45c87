"""Admin API, personas: create-or-update, list with 7-day counts, detail, delete, runner reports."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from personas.crypto import persona_password
from personas.models import Persona, PersonaAction, PersonaFeedback
from security.models import SecurityEvent
from spaces.models import Space
from tests.admin.fixtures import PERSONA_BODY

pytestmark = pytest.mark.django_db
URL = "/api/v1/admin/personas"


def action_body(**overrides):
    return {
        "tickId": "tick-1",
        "toolName": "todo.create",
        "inputHash": "a" * 64,
        "result": "ok",
        "detail": "",
        "latencyMs": 120,
        **overrides,
    }


def feedback_body(**overrides):
    return {"tickId": "tick-1", "module": "todo", "rating": 4, "notes": "Quick.", **overrides}


def make_persona(client: APIClient, number: int) -> str:
    body = {**PERSONA_BODY, "email": f"p{number}@mana.test", "name": f"Persona {number}"}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


# --- Create or update -------------------------------------------------------------------------


def test_create_signs_a_persona_up_stamped_founder_and_verified(admin_client, mailoutbox):
    response = admin_client.post(URL, PERSONA_BODY, format="json")

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(email="ada.dev@mana.test")
    assert body == {
        "id": str(user.id),
        "email": "ada.dev@mana.test",
        "name": "Ada Lovelace",
        "archetype": "solo-dev",
        "systemPrompt": "You are Ada, a meticulous developer.",
        "moduleMix": {"todo": 0.5, "notes": 0.5},
        "tickCadence": "daily",
        "lastActiveAt": None,
        "created": True,
    }
    assert (user.kind, user.access_tier, user.role) == ("persona", "founder", "user")
    assert user.email_verified_at is not None
    assert Persona.objects.get(user=user).archetype == "solo-dev"
    # Signed up through the normal registration: personal Space (founder), REGISTER event.
    assert Space.objects.get(created_by=user, type="personal").tier == "founder"
    assert SecurityEvent.objects.filter(type="REGISTER", user=user).exists()
    upserted = SecurityEvent.objects.get(type="PERSONA_UPSERTED", user=user)
    assert upserted.metadata["created"] is True and upserted.metadata["byAdmin"] is True
    action = SecurityEvent.objects.get(type="ADMIN_ACTION", user=admin_client.user)
    assert action.metadata["action"] == "persona_upsert"
    assert action.metadata["targetUserId"] == str(user.id)
    assert mailoutbox == []  # personas never receive mail


def test_the_persona_signs_in_with_the_derived_password_which_is_not_stored(
    admin_client, api_client
):
    admin_client.post(URL, PERSONA_BODY, format="json")
    derived = persona_password(email="ada.dev@mana.test", secret=settings.PERSONA_SEED_SECRET)
    user = User.objects.get(email="ada.dev@mana.test")
    assert derived not in user.password and user.password.startswith("argon2")

    response = api_client.post(
        "/api/v1/auth/login", {"email": "ada.dev@mana.test", "password": derived}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["user"]["kind"] == "persona"
    assert response.json()["user"]["tier"] == "founder"


def test_a_second_identical_call_changes_nothing(admin_client):
    admin_client.post(URL, PERSONA_BODY, format="json")
    user = User.objects.get(email="ada.dev@mana.test")
    before = (user.updated_at, Persona.objects.get(user=user).updated_at)
    events = SecurityEvent.objects.count()

    response = admin_client.post(URL, PERSONA_BODY, format="json")

    assert response.status_code == 200
    assert response.json()["created"] is False and response.json()["id"] == str(user.id)
    user.refresh_from_db()
    assert (user.updated_at, Persona.objects.get(user=user).updated_at) == before
    assert SecurityEvent.objects.count() == events
    assert User.objects.filter(kind="persona").count() == Persona.objects.count() == 1


def test_an_update_by_email_changes_the_fields_in_place(admin_client):
    first = admin_client.post(URL, PERSONA_BODY, format="json").json()
    changed = {
        **PERSONA_BODY,
        "email": "ADA.DEV@mana.test",
        "name": "Ada King",
        "moduleMix": {"calendar": 1},
        "tickCadence": "weekly",
    }

    response = admin_client.post(URL, changed, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first["id"] and body["created"] is False
    assert body["name"] == "Ada King" and body["moduleMix"] == {"calendar": 1.0}
    persona = Persona.objects.select_related("user").get()
    assert persona.user.name == "Ada King" and persona.tick_cadence == "weekly"
    event = SecurityEvent.objects.filter(type="PERSONA_UPSERTED").order_by("-created_at").first()
    assert set(event.metadata["fields"]) == {"name", "moduleMix", "tickCadence"}


def test_an_update_repairs_a_drifted_tier_and_password(admin_client, api_client):
    admin_client.post(URL, PERSONA_BODY, format="json")
    user = User.objects.get(email="ada.dev@mana.test")
    user.set_password("something-else-entirely-42")
    user.access_tier = "public"
    user.save()

    response = admin_client.post(URL, PERSONA_BODY, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.access_tier == "founder"
    assert Space.objects.get(created_by=user, type="personal").tier == "founder"
    derived = persona_password(email=user.email, secret=settings.PERSONA_SEED_SECRET)
    assert user.check_password(derived)


def test_a_humans_address_is_refused_and_the_human_left_alone(admin_client, user_factory):
    human = user_factory(email="bob@mana.test", name="Bob")

    response = admin_client.post(URL, {**PERSONA_BODY, "email": "Bob@mana.test"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "NOT_A_PERSONA"
    human.refresh_from_db()
    assert (human.kind, human.access_tier, human.name) == ("human", "public", "Bob")
    assert not Persona.objects.exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"email": "ada@example.com"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"archetype": "pirate"}, "archetype"),
        ({"tickCadence": "monthly"}, "tickCadence"),
        ({"moduleMix": {"teleport": 1}}, "moduleMix"),
        ({"moduleMix": {"todo": 0}}, "moduleMix"),
        ({"moduleMix": {}}, "moduleMix"),
        ({"moduleMix": {"landing": 1}}, "moduleMix"),  # not built yet
        ({"name": ""}, "name"),
        ({"systemPrompt": "   "}, "systemPrompt"),
    ],
)
def test_create_refuses_a_bad_persona(admin_client, override, field):
    response = admin_client.post(URL, {**PERSONA_BODY, **override}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]["fields"]
    assert not User.objects.filter(kind="persona").exists()


def test_personas_do_not_count_toward_the_signup_cap(admin_client, settings, api_client):
    settings.MAX_DAILY_SIGNUPS = 2  # the operator already used one sign-up today

    for number in range(3):
        make_persona(admin_client, number)

    status = api_client.get("/api/v1/auth/signup-status").json()
    assert status["remainingToday"] == 1 and status["open"] is True


# --- List -------------------------------------------------------------------------------------


def test_list_shows_each_personas_actions_of_the_last_seven_days(admin_client, persona):
    other = make_persona(admin_client, 1)
    row = Persona.objects.get(pk=persona["id"])
    now = timezone.now()
    for number, age in enumerate([timedelta(hours=1), timedelta(days=6), timedelta(days=8)]):
        PersonaAction.objects.create(
            persona=row,
            tick_id=f"t{number}",
            tool_name="x",
            input_hash=str(number),
            result="ok",
            created_at=now - age,
        )

    response = admin_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["page"] == 1
    counts = {item["id"]: item["actionCount7d"] for item in body["items"]}
    assert counts == {persona["id"]: 2, other: 0}
    assert set(body["items"][0]) == {
        "id", "email", "name", "archetype", "systemPrompt", "moduleMix", "tickCadence",
        "lastActiveAt", "actionCount7d",
    }  # fmt: skip


def test_list_counts_come_from_one_query_however_many_personas(
    admin_client, django_assert_max_num_queries
):
    def seed(start: int, stop: int) -> None:
        for number in range(start, stop):
            persona = Persona.objects.get(pk=make_persona(admin_client, number))
            for tick in range(3):
                PersonaAction.objects.create(
                    persona=persona, tick_id=str(tick), tool_name="t", input_hash="h", result="ok"
                )

    seed(0, 2)
    admin_client.get(URL)  # warm: signing keys, session cache
    with django_assert_max_num_queries(3) as few:
        assert admin_client.get(URL).status_code == 200
    seed(2, 8)
    with django_assert_max_num_queries(3) as many:
        body = admin_client.get(URL).json()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert [item["actionCount7d"] for item in body["items"]] == [3] * 8
    listing = [q["sql"] for q in many.captured_queries if "personas_persona" in q["sql"]]
    assert any("COUNT(" in sql and "personas_action" in sql for sql in listing)


def test_list_is_paginated(admin_client):
    for number in range(3):
        make_persona(admin_client, number)
    body = admin_client.get(URL, {"limit": 2, "page": 2}).json()
    assert body["total"] == 3 and [item["email"] for item in body["items"]] == ["p2@mana.test"]


# --- Detail -----------------------------------------------------------------------------------


def test_detail_has_the_last_20_actions_and_feedback_averages_per_module(admin_client, persona):
    url = f"{URL}/{persona['id']}"
    for number in range(25):
        admin_client.post(
            f"{url}/actions", action_body(tickId=f"t{number}", inputHash=str(number)), format="json"
        )
    for tick, (module, rating) in enumerate([("todo", 5), ("todo", 2), ("notes", 4)]):
        admin_client.post(
            f"{url}/feedback",
            feedback_body(tickId=str(tick), module=module, rating=rating),
            format="json",
        )

    response = admin_client.get(url)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == persona["id"] and body["actionCount7d"] == 25
    assert len(body["recentActions"]) == 20
    assert [a["tickId"] for a in body["recentActions"][:2]] == ["t24", "t23"]
    assert body["recentActions"][0]["toolName"] == "todo.create"
    feedback = {row["module"]: (row["averageRating"], row["count"]) for row in body["feedback"]}
    assert feedback == {"notes": (4.0, 1), "todo": (3.5, 2)}
    assert body["lastActiveAt"] is not None


@pytest.mark.parametrize("make_id", [lambda human: str(uuid.uuid4()), lambda human: str(human.id)])
def test_detail_of_an_unknown_id_or_a_human_is_404(admin_client, user_factory, make_id):
    human = user_factory()
    response = admin_client.get(f"{URL}/{make_id(human)}")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


# --- Delete -----------------------------------------------------------------------------------


def test_delete_removes_the_persona_account_and_everything_of_it(admin_client, persona):
    url = f"{URL}/{persona['id']}"
    admin_client.post(f"{url}/actions", action_body(), format="json")
    admin_client.post(f"{url}/feedback", feedback_body(), format="json")

    response = admin_client.delete(url)

    assert response.status_code == 204
    assert not User.objects.filter(pk=persona["id"]).exists()
    assert not Persona.objects.exists()
    assert not PersonaAction.objects.exists() and not PersonaFeedback.objects.exists()
    assert not Space.objects.filter(created_by_id=persona["id"]).exists()
    deleted = SecurityEvent.objects.get(type="PERSONA_DELETED")
    assert deleted.user is None and deleted.metadata["personaUserId"] == persona["id"]
    action = SecurityEvent.objects.get(
        type="ADMIN_ACTION", user=admin_client.user, metadata__action="persona_delete"
    )
    assert action.metadata["targetUserId"] == persona["id"]
    assert admin_client.get(url).status_code == 404


def test_delete_refuses_a_human_so_a_typo_cannot_delete_a_person(admin_client, user_factory):
    human = user_factory()

    response = admin_client.delete(f"{URL}/{human.id}")

    assert response.status_code == 409
    assert response.json()["code"] == "NOT_A_PERSONA"
    assert User.objects.filter(pk=human.pk).exists()
    assert not SecurityEvent.objects.filter(
        type__in=["PERSONA_DELETED", "ACCOUNT_DELETED"]
    ).exists()


def test_delete_refuses_the_operator_themself(admin_client):
    response = admin_client.delete(f"{URL}/{admin_client.user.id}")
    assert response.status_code == 409 and response.json()["code"] == "NOT_A_PERSONA"


def test_delete_of_an_unknown_id_is_404(admin_client):
    response = admin_client.delete(f"{URL}/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


# --- Runner reports ---------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["admin_client", "service_client"])
def test_actions_are_accepted_with_an_admin_token_or_the_service_key(request, persona, caller):
    client = request.getfixturevalue(caller)

    response = client.post(
        f"{URL}/{persona['id']}/actions", action_body(result="error", detail="boom"), format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["result"], body["detail"], body["latencyMs"]) == ("error", "boom", 120)
    row = Persona.objects.get(pk=persona["id"])
    assert row.last_active_at is not None
    assert PersonaAction.objects.get().tick_id == "tick-1"


def test_a_repeated_action_is_idempotent_not_an_error(service_client, persona):
    url = f"{URL}/{persona['id']}/actions"
    first = service_client.post(url, action_body(), format="json")

    again = service_client.post(url, action_body(latencyMs=999, toolName="other"), format="json")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["latencyMs"] == 120
    assert PersonaAction.objects.count() == 1
    other_tick = service_client.post(url, action_body(tickId="tick-2"), format="json")
    assert other_tick.status_code == 201 and PersonaAction.objects.count() == 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"result": "maybe"}, "result"),
        ({"latencyMs": -1}, "latencyMs"),
        ({"tickId": ""}, "tickId"),
        ({"inputHash": "x" * 129}, "inputHash"),
        ({"toolName": None}, "toolName"),
    ],
)
def test_a_bad_action_is_refused(service_client, persona, override, field):
    response = service_client.post(
        f"{URL}/{persona['id']}/actions", action_body(**override), format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]["fields"]
    assert not PersonaAction.objects.exists()


@pytest.mark.parametrize("path", ["actions", "feedback"])
def test_reports_for_a_human_or_unknown_id_are_404(service_client, user_factory, path):
    human = user_factory()
    body = action_body() if path == "actions" else feedback_body()
    for target in (human.id, uuid.uuid4(), "nope"):
        response = service_client.post(f"{URL}/{target}/{path}", body, format="json")
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("caller", ["admin_client", "service_client"])
def test_feedback_is_recorded_per_tick_and_module(request, persona, caller):
    client = request.getfixturevalue(caller)
    url = f"{URL}/{persona['id']}/feedback"

    first = client.post(url, feedback_body(), format="json")
    again = client.post(url, feedback_body(rating=1), format="json")

    assert first.status_code == 201
    assert first.json()["rating"] == 4 and first.json()["module"] == "todo"
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert PersonaFeedback.objects.get().rating == 4


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "great"}, "rating"),
        ({"module": "teleport"}, "module"),
        ({"tickId": None}, "tickId"),
    ],
)
def test_bad_feedback_is_refused(service_client, persona, override, field):
    response = service_client.post(
        f"{URL}/{persona['id']}/feedback", feedback_body(**override), format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]["fields"]
    assert not PersonaFeedback.objects.exists()


# --- Database invariants ----------------------------------------------------------------------


@pytest.mark.parametrize("rating", [0, 6])
def test_the_database_refuses_a_rating_outside_1_to_5(persona, rating):
    row = Persona.objects.get(pk=persona["id"])
    with (
        pytest.raises(IntegrityError, match="personas_feedback_rating_1_to_5"),
        transaction.atomic(),
    ):
        PersonaFeedback.objects.create(persona=row, tick_id="t", module="todo", rating=rating)


def test_the_database_refuses_a_duplicate_action_and_an_unknown_result(persona):
    row = Persona.objects.get(pk=persona["id"])
    PersonaAction.objects.create(
        persona=row, tick_id="t", tool_name="a", input_hash="h", result="ok"
    )
    with (
        pytest.raises(IntegrityError, match="personas_action_unique_per_tick_input"),
        transaction.atomic(),
    ):
        PersonaAction.objects.create(
            persona=row, tick_id="t", tool_name="b", input_hash="h", result="ok"
        )
    with pytest.raises(IntegrityError, match="personas_action_result_valid"), transaction.atomic():
        PersonaAction.objects.create(
            persona=row, tick_id="u", tool_name="b", input_hash="h", result="maybe"
        )
