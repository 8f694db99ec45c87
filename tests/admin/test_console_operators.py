"""The console as the persona management UI and the place operators are made (issue 19, item 9):
persona settings edited through the persona service, operator access granted and taken away
through an audited service behind a confirmation page (never the last operator), Space tier
changes on the operator's trail, and staff without the admin role told plainly they are not
operators."""

from __future__ import annotations

import threading
from typing import Any

import pyotp
import pytest
from django.db import connections
from django.test import Client

from accounts.mfa import totp_enroll_confirmed
from accounts.models import Session, User
from accounts.operators import is_operator, user_operator_grant, user_operator_revoke
from mana_auth.clientip import RequestMeta
from mana_auth.errors import AuthError, Conflict, Forbidden
from personas.api.serializers import persona_spec
from personas.models import Persona
from personas.services import persona_settings_update, persona_upsert
from security.models import SecurityEvent
from spaces.models import Space
from spaces.services.spaces import space_create
from tests.accounts.signin.mfa_helpers import code_at, frozen_clock
from tests.admin.fixtures import PERSONA_BODY
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


def enrol(user: User) -> str:
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    return pyotp.parse_uri(enrolment.otpauth_uri).secret


def console_for(user: User) -> Client:
    """A browser signed in to the console with the password and the current code."""
    client = Client()
    response = client.post(
        "/admin/login/",
        {
            "username": user.email,
            "password": PASSWORD,
            "otp_token": code_at(enrol(user)),
            "next": "/admin/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content
    return client


@pytest.fixture
def operator(user_factory) -> User:
    return user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")


@pytest.fixture
def console(operator) -> Client:
    return console_for(operator)


def admin_actions(actor: User, action: str) -> list[SecurityEvent]:
    return list(
        SecurityEvent.objects.filter(type="ADMIN_ACTION", user=actor, metadata__action=action)
    )


def empty_formsets(*prefixes: str) -> dict[str, str]:
    data = {}
    for prefix in prefixes:
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{prefix}-{key}"] = "0"
    return data


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- Personas ---------------------------------------------------------------------------------


@pytest.fixture
def persona(operator) -> Persona:
    return persona_upsert(spec=persona_spec(PERSONA_BODY), meta=RequestMeta()).persona


def persona_form(**changes: Any) -> dict[str, Any]:
    return {
        "archetype": "solo-dev",
        "tick_cadence": "daily",
        "system_prompt": PERSONA_BODY["systemPrompt"],
        "module_mix": '{"todo": 0.5, "notes": 0.5}',
        **changes,
        **empty_formsets("actions", "feedback"),
    }


def test_an_operator_edits_a_personas_prompt_archetype_mix_and_cadence(console, operator, persona):
    url = f"/admin/personas/persona/{persona.pk}/change/"
    page = console.get(url).content.decode()
    for field in ("archetype", "tick_cadence", "system_prompt", "module_mix"):
        assert f'name="{field}"' in page

    response = console.post(
        url,
        persona_form(
            archetype="researcher",
            tick_cadence="weekly",
            system_prompt="  You are Ada, now a researcher.  ",
            module_mix='{"todo": 0.2, "notes": 0.8}',
        ),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    persona.refresh_from_db()
    assert persona.archetype == "researcher" and persona.tick_cadence == "weekly"
    assert persona.system_prompt == "You are Ada, now a researcher."
    assert persona.module_mix == {"todo": 0.2, "notes": 0.8}
    upserted = SecurityEvent.objects.get(
        type="PERSONA_UPSERTED", user=persona.user, metadata__created=False
    )
    assert sorted(upserted.metadata["fields"]) == [
        "archetype",
        "moduleMix",
        "systemPrompt",
        "tickCadence",
    ]
    assert upserted.metadata["byAdmin"] is True
    [action] = admin_actions(operator, "persona_update")
    assert action.metadata["targetUserId"] == str(persona.pk)
    assert "was changed successfully" in " ".join(messages_of(console.get(url)))


def test_a_bad_module_mix_is_refused_at_its_field_and_nothing_changes(console, operator, persona):
    before = SecurityEvent.objects.count()
    response = console.post(
        f"/admin/personas/persona/{persona.pk}/change/",
        persona_form(module_mix='{"no-such-module": 1}', system_prompt="   "),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "unknown module 'no-such-module'" in " ".join(errors["module_mix"])
    assert errors["system_prompt"]
    persona.refresh_from_db()
    assert persona.module_mix == {"todo": 0.5, "notes": 0.5}
    assert SecurityEvent.objects.count() == before


def test_saving_an_unchanged_persona_writes_nothing(console, operator, persona):
    before = SecurityEvent.objects.count()
    response = console.post(f"/admin/personas/persona/{persona.pk}/change/", persona_form())
    assert response.status_code == 302
    assert SecurityEvent.objects.count() == before


def test_the_persona_service_refuses_an_actor_without_the_admin_role(user_factory, persona):
    staff = user_factory(email="staff@example.com", is_staff=True, is_superuser=True)
    with pytest.raises(Forbidden):
        persona_settings_update(
            persona_id=persona.pk,
            archetype="researcher",
            system_prompt="x",
            module_mix={"todo": 1},
            tick_cadence="daily",
            actor=staff,
            meta=RequestMeta(),
        )
    persona.refresh_from_db()
    assert persona.archetype == "solo-dev"


# --- Operator access --------------------------------------------------------------------------


def operator_action(console: Client, action: str, *users: User, confirm: bool) -> Any:
    data: dict[str, Any] = {"action": action, "_selected_action": [str(u.pk) for u in users]}
    if confirm:
        data["post"] = "yes"
    return console.post("/admin/accounts/user/", data)


def test_granting_operator_access_asks_first_then_goes_through_the_service(
    console, operator, user_factory, auth_client
):
    bob = user_factory(email="bob@example.com")

    confirm = operator_action(console, "grant_operator", bob, confirm=False)

    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Grant operator access" in page and "bob@example.com" in page
    assert 'name="post" value="yes"' in page
    bob.refresh_from_db()
    assert bob.role == "user" and not bob.is_staff  # nothing changed yet
    assert not admin_actions(operator, "operator_grant")

    done = operator_action(console, "grant_operator", bob, confirm=True)

    assert done.status_code == 302
    bob.refresh_from_db()
    assert bob.role == "admin" and bob.is_staff and bob.is_superuser
    event = SecurityEvent.objects.get(type="ROLE_CHANGED", user=bob)
    assert event.metadata["from"] == {"role": "user", "isStaff": False}
    assert event.metadata["to"] == {"role": "admin", "isStaff": True}
    [action] = admin_actions(operator, "operator_grant")
    assert action.metadata["targetUserId"] == str(bob.pk)
    # The new operator reaches the Admin API at once.
    assert auth_client(bob).get("/api/v1/admin/users").status_code == 200


def test_taking_operator_access_away_ends_console_and_admin_api_access(
    console, operator, user_factory, auth_client
):
    other = user_factory(email="other-ops@example.com", is_staff=True, is_superuser=True)
    User.objects.filter(pk=other.pk).update(role="admin")
    other.refresh_from_db()
    other_api = auth_client(other)  # signed in through the API before the authenticator
    assert other_api.get("/api/v1/admin/users").status_code == 200
    other_console = console_for(other)
    assert other_console.get("/admin/").status_code == 200

    assert operator_action(console, "revoke_operator", other, confirm=False).status_code == 200
    assert User.objects.get(pk=other.pk).role == "admin"
    assert operator_action(console, "revoke_operator", other, confirm=True).status_code == 302

    other.refresh_from_db()
    assert other.role == "user" and not other.is_staff and not other.is_superuser
    assert SecurityEvent.objects.get(type="ROLE_CHANGED", user=other).metadata["to"] == {
        "role": "user",
        "isStaff": False,
    }
    assert admin_actions(operator, "operator_revoke")[0].metadata["targetUserId"] == str(other.pk)
    assert other_console.get("/admin/").status_code == 302  # back to the sign-in
    # The Admin API refuses the token that was issued while they were an operator.
    refused = other_api.get("/api/v1/admin/users")
    assert refused.status_code in (401, 403), refused.content
    assert refused.json()["code"] in ("SESSION_REVOKED", "FORBIDDEN")


def test_taking_operator_access_away_ends_their_sessions(
    console, operator, user_factory, auth_client
):
    """Their access tokens say ``role: admin`` (the Mana apps read it): every session ends in the
    revoking transaction, so the token stops validating and the refresh token is refused."""
    other = user_factory(email="other-ops@example.com", is_staff=True, is_superuser=True)
    User.objects.filter(pk=other.pk).update(role="admin")
    other.refresh_from_db()
    other_api = auth_client(other)
    token, refresh = other_api.tokens["accessToken"], other_api.tokens["refreshToken"]
    checker = Client()
    valid = checker.post("/api/v1/auth/validate", {"token": token}, "application/json").json()
    assert valid["valid"] is True and valid["claims"]["role"] == "admin"

    assert operator_action(console, "revoke_operator", other, confirm=True).status_code == 302

    assert checker.post("/api/v1/auth/validate", {"token": token}, "application/json").json() == {
        "valid": False,
        "code": "SESSION_REVOKED",
    }
    session = other_api.get("/api/v1/auth/session")
    assert session.status_code == 401 and session.json()["code"] == "SESSION_REVOKED"
    refreshed = Client().post("/api/v1/auth/refresh", {"refreshToken": refresh}, "application/json")
    assert refreshed.status_code == 401, refreshed.content
    assert refreshed.json()["code"] == "SESSION_REVOKED"
    event = SecurityEvent.objects.get(type="SESSION_REVOKED", user=other)
    assert event.metadata == {"count": 1, "reason": "operator_revoked"}
    assert not Session.objects.filter(user=other, revoked_at__isnull=True).exists()
    # The operator who acted keeps their own console session.
    assert console.get("/admin/").status_code == 200


def test_the_last_operator_is_counted_by_role_as_the_admin_api_admits(
    operator, user_factory, auth_client
):
    """A role=admin account without the staff flag uses the Admin API, so it is an operator
    for the "never the last operator" guard; the console still wants the staff flag."""
    api_only = user_factory(email="api-ops@example.com", role="admin")
    assert auth_client(api_only).get("/api/v1/admin/users").status_code == 200
    assert not is_operator(api_only)

    # ops@ may step down: api-ops@ remains an operator.
    assert user_operator_revoke(user=operator, actor=operator, meta=RequestMeta()) is True
    operator.refresh_from_db()
    assert operator.role == "user" and not operator.is_staff

    # api-ops@ is now the last: it cannot step down.
    with pytest.raises(Conflict):
        user_operator_revoke(user=api_only, actor=api_only, meta=RequestMeta())
    api_only.refresh_from_db()
    assert api_only.role == "admin"


def test_the_last_operator_cannot_take_their_own_access_away(console, operator):
    page = operator_action(console, "revoke_operator", operator, confirm=False)
    assert "Your own account is among them" in page.content.decode()

    response = operator_action(console, "revoke_operator", operator, confirm=True)

    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.role == "admin" and operator.is_staff and operator.is_superuser
    assert not SecurityEvent.objects.filter(type="ROLE_CHANGED").exists()
    assert not admin_actions(operator, "operator_revoke")
    shown = messages_of(console.get("/admin/accounts/user/"))
    assert any("last operator" in message for message in shown), shown
    assert not any("Took away" in message for message in shown)


def test_an_operator_may_step_down_while_another_remains(console, operator, user_factory):
    other = user_factory(email="other-ops@example.com", is_staff=True, is_superuser=True)
    User.objects.filter(pk=other.pk).update(role="admin")

    assert operator_action(console, "revoke_operator", operator, confirm=True).status_code == 302

    operator.refresh_from_db()
    assert operator.role == "user" and not operator.is_staff
    assert console.get("/admin/").status_code == 302


def test_removing_two_operators_at_once_keeps_the_last(console, operator, user_factory):
    other = user_factory(email="other-ops@example.com", is_staff=True, is_superuser=True)
    User.objects.filter(pk=other.pk).update(role="admin")

    operator_action(console, "revoke_operator", operator, other, confirm=True)

    roles = dict(User.objects.filter(is_staff=True).values_list("email", "role"))
    assert roles == {"other-ops@example.com": "admin"}  # ops@ went first; other-ops@ is kept


def test_a_persona_never_becomes_an_operator(console, operator, persona):
    operator_action(console, "grant_operator", persona.user, confirm=True)
    persona.user.refresh_from_db()
    assert persona.user.role == "user" and not persona.user.is_staff
    assert not admin_actions(operator, "operator_grant")


def test_an_account_with_an_unverified_address_never_becomes_an_operator(
    console, operator, user_factory
):
    """Whoever signed up first with an address may not be the person it names: operator access
    (the Admin API at once) only for an address its owner proved (attack2 F13)."""
    newhire = user_factory(email="newhire@example.com", verified=False)

    response = operator_action(console, "grant_operator", newhire, confirm=True)

    assert response.status_code == 302
    newhire.refresh_from_db()
    assert newhire.role == "user" and not newhire.is_staff and not newhire.is_superuser
    assert not SecurityEvent.objects.filter(type="ROLE_CHANGED", user=newhire).exists()
    assert not admin_actions(operator, "operator_grant")
    shown = messages_of(console.get("/admin/accounts/user/"))
    assert any(
        "newhire@example.com" in message and "not verified" in message for message in shown
    ), shown
    assert not any("Granted" in message for message in shown)
    with pytest.raises(Conflict) as refused:
        user_operator_grant(user=newhire, actor=operator)
    assert refused.value.status == 409


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/admin/accounts/user/", "grant_operator"),
        ("/admin/accounts/user/", "revoke_operator"),
        ("/admin/accounts/user/", "mark_verified"),
        ("/admin/accounts/user/", "unlock_accounts"),
        ("/admin/accounts/user/", "revoke_sessions"),
        ("/admin/accounts/apikey/", "revoke"),
    ],
)
def test_an_action_on_a_malformed_id_is_a_400_and_changes_nothing(
    console, operator, user_factory, path, action
):
    """A hand-made selection that is no account id was a 500 (the queryset's UUID check
    raised while the action ran, attack2 F15)."""
    bob = user_factory(email="bob@example.com", verified=False)
    before = SecurityEvent.objects.count()

    response = console.post(
        path, {"action": action, "_selected_action": [str(bob.pk), "notauuid"], "post": "yes"}
    )

    assert response.status_code == 400
    bob.refresh_from_db()
    assert bob.role == "user" and not bob.email_verified
    assert SecurityEvent.objects.count() == before


# --- Space tiers and staff without the admin role ---------------------------------------------


def space_form(space: Space, tier: str) -> dict[str, str]:
    return {"tier": tier, **empty_formsets("memberships")}


@pytest.fixture
def team(user_factory) -> Space:
    owner = user_factory(email="owner@example.com")
    return space_create(user=owner, name="Team", type="team", meta=RequestMeta())


def test_a_space_tier_change_in_the_console_is_on_the_operators_trail(console, operator, team):
    response = console.post(f"/admin/spaces/space/{team.pk}/change/", space_form(team, "beta"))

    assert response.status_code == 302, response.content.decode()[:2000]
    team.refresh_from_db()
    assert team.tier == "beta"
    [action] = admin_actions(operator, "space_tier_set")
    assert action.metadata == {
        "action": "space_tier_set",
        "spaceId": str(team.pk),
        "from": "public",
        "to": "beta",
    }


def test_a_space_tier_change_through_the_admin_api_is_on_the_operators_trail(
    operator, team, auth_client
):
    response = auth_client(operator).put(
        f"/api/v1/admin/spaces/{team.pk}/tier", {"tier": "alpha"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert admin_actions(operator, "space_tier_set")[0].metadata["to"] == "alpha"


def test_a_refused_save_is_one_error_and_no_success_banner(console, operator, team, monkeypatch):
    def refuse(**kwargs: Any) -> None:
        raise Forbidden("Only an operator (role admin) can set a Space's tier.")

    monkeypatch.setattr("spaces.admin.space_tier_set", refuse)
    url = f"/admin/spaces/space/{team.pk}/change/"

    response = console.post(url, space_form(team, "beta"), follow=True)

    shown = messages_of(response)
    assert shown == ["Only an operator (role admin) can set a Space's tier."]
    assert response.redirect_chain == [(url, 302)]
    team.refresh_from_db()
    assert team.tier == "public"


@pytest.fixture
def staff_only(user_factory) -> User:
    """Staff (and even superuser) from a shell, without the admin role."""
    return user_factory(email="staff@example.com", is_staff=True, is_superuser=True)


def test_staff_without_the_admin_role_are_told_the_console_is_for_operators(
    staff_only, team, persona
):
    client = console_for(staff_only)  # password and code are right: they get in as far as this

    for url in (
        "/admin/",
        "/admin/accounts/user/",
        f"/admin/spaces/space/{team.pk}/change/",
        f"/admin/personas/persona/{persona.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 403, url
        assert "no-store" in page["Cache-Control"]
        text = page.content.decode()
        assert "not the <code>admin</code>" in text and "operators&#x27; console" in text
        assert "Sign out" in text and 'href="/admin/accounts/' not in text

    refused = client.post(f"/admin/spaces/space/{team.pk}/change/", space_form(team, "beta"))

    assert refused.status_code == 403
    assert b"changed successfully" not in refused.content
    team.refresh_from_db()
    assert team.tier == "public"
    assert not SecurityEvent.objects.filter(type="TIER_CHANGED", user=staff_only).exists()
    # Signing out still works.
    assert client.post("/admin/logout/").status_code == 200
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_operators_removing_each_other_at_once_leave_one(user_factory):
    first = user_factory(email="first@example.com", is_staff=True, is_superuser=True, role="admin")
    second = user_factory(
        email="second@example.com", is_staff=True, is_superuser=True, role="admin"
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def revoke(actor: User, target: User) -> None:
        try:
            barrier.wait()
            user_operator_revoke(user=target, actor=actor, meta=RequestMeta())
            outcomes.append("revoked")
        except AuthError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=revoke, args=(first, second)),
        threading.Thread(target=revoke, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["FORBIDDEN", "revoked"]  # the loser is no operator any more
    assert User.objects.filter(role="admin", is_staff=True).count() == 1
    assert SecurityEvent.objects.filter(type="ROLE_CHANGED").count() == 1
