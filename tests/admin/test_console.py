"""The Django admin as the operators' console: an OTP-verified staff user renders every page of
every registered model, runs every action (each through a service, each audited), and never
sees a secret."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.api_keys import api_key_check, api_key_create
from accounts.mfa import totp_enroll_confirmed
from accounts.models import (
    ApiKey,
    OneTimeToken,
    Passkey,
    RefreshToken,
    Session,
    SigningKey,
    User,
)
from mana_auth.clientip import RequestMeta
from personas.api.serializers import persona_spec
from personas.crypto import persona_password
from personas.models import Persona, PersonaAction, PersonaFeedback
from personas.services import persona_action_record, persona_feedback_record, persona_upsert
from security.models import LoginAttempt, LoginThrottle, SecurityEvent
from security.otp.models import BackupCode, SealedTotpDevice
from security.otp.services import backup_codes_replace
from spaces.models import Invitation, Space, SpaceCredential
from spaces.services.credentials import credential_create
from spaces.services.invitations import invitation_create
from spaces.services.permissions import module_permissions_set
from spaces.services.spaces import space_create
from tests.accounts.signin.mfa_helpers import code_at, frozen_clock
from tests.admin.fixtures import PERSONA_BODY
from tests.conftest import PASSWORD
from vault.models import Vault
from vault.rls import vault_scope

pytestmark = pytest.mark.django_db

CREDENTIAL_VALUE = "smtp-password-that-must-never-show-9f3k"
RECOVERY = {
    "recoveryWrappedMk": base64.b64encode(
        b"recovery-wrapped-master-key-48-bytes-long!!!!!!"
    ).decode(),
    "recoveryIv": "AAECAwQFBgcICQoL",
}


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


@dataclass
class World:
    staff: User
    alice: User
    persona: Persona
    api_key: ApiKey
    space: Space
    staff_totp: str
    access_token: str
    api_key_raw: str
    raw: list[str] = field(default_factory=list)  # secrets known in clear


def _forms(value: bytes | str | None) -> list[str]:
    """How a stored secret could appear on a page."""
    if value is None or value in ("", b""):
        return []
    if isinstance(value, str):
        return [value, html.escape(value)]
    data = bytes(value)
    b64 = base64.b64encode(data).decode()
    return [data.hex(), b64, html.escape(b64), base64.urlsafe_b64encode(data).decode()]


def stored_secrets(world: World) -> list[str]:
    """The actual database values of every secret column, plus the secrets known in clear."""
    values: list[str] = list(world.raw)
    for password in User.objects.values_list("password", flat=True):
        values += _forms(password)
        values.append(password.rsplit("$", 1)[-1])  # the hash part alone
    for model, columns in [
        (Session, ["cookie_hash"]),
        (RefreshToken, ["token_hash"]),
        (OneTimeToken, ["token_hash"]),
        (ApiKey, ["key_hash"]),
        (Invitation, ["token_hash"]),
        (BackupCode, ["code_hash"]),
        (SigningKey, ["private_wrapped", "private_iv"]),
        (SealedTotpDevice, ["seed_ciphertext", "seed_iv"]),
        (SpaceCredential, ["ciphertext", "iv"]),
        (Passkey, ["public_key"]),
    ]:
        for row in model.objects.values_list(*columns):
            for value in row:
                values += _forms(value)
    with vault_scope(world.alice.pk):
        for row in Vault.objects.values_list(
            "wrapped_mk", "wrap_iv", "recovery_wrapped_mk", "recovery_iv"
        ):
            for value in row:
                values += _forms(value)
    return [value for value in values if len(value) >= 12]


def assert_no_secrets(page: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in page, f"a secret is rendered on {where}"


def otp_login(client: Client, user: User, secret: str) -> None:
    device = SealedTotpDevice.objects.get(user=user)
    response = client.post(
        "/admin/login/",
        {
            "username": user.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": code_at(secret),
            "next": "/admin/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content


@pytest.fixture
def world(user_factory, auth_client, frozen) -> World:
    staff = user_factory(
        email="ops@example.com", is_staff=True, is_superuser=True, role="admin", name="Ops"
    )
    staff_secret = pyotp.parse_uri(
        totp_enroll_confirmed(user=staff, meta=RequestMeta()).otpauth_uri
    )
    raw = [PASSWORD, staff_secret.secret]

    alice = user_factory(email="alice@example.com", name="Alice")
    client = auth_client(alice)  # a session, a refresh token, a session cookie
    raw += [client.tokens["accessToken"], client.tokens["refreshToken"]]
    cookie = client.cookies.get(settings.SSO_COOKIE_NAME)
    raw += [cookie.value] if cookie is not None else []
    alice_totp = totp_enroll_confirmed(user=alice, meta=RequestMeta())
    raw += [alice_totp.secret, *backup_codes_replace(user=alice)]
    created = api_key_create(
        user=alice,
        name="CI",
        scopes=["profile:read"],
        expires_at=None,
        meta=RequestMeta(),
        session=None,
        password=PASSWORD,
    )
    raw.append(created.key)
    Passkey.objects.create(
        user=alice,
        credential_id=b"\x01" * 32,
        credential_id_b64=base64.urlsafe_b64encode(b"\x01" * 32).decode(),
        public_key=b"\xa5" * 77,
        name="Laptop",
    )
    assert client.post("/api/v1/me/encryption-vault/init").status_code == 200
    assert (
        client.post(
            "/api/v1/me/encryption-vault/recovery-wrap", RECOVERY, format="json"
        ).status_code
        == 200
    )
    space = space_create(user=alice, name="Alice & Co", type="team", meta=RequestMeta())
    invitation_create(
        user=alice, space_id=space.id, email="bob@example.com", role="member", meta=RequestMeta()
    )
    module_permissions_set(
        user=alice,
        space_id=space.id,
        overrides=[{"role": "member", "module": "notes", "level": "read"}],
        meta=RequestMeta(),
    )
    credential_create(
        user=alice, space_id=space.id, kind="smtp", name="SMTP", value=CREDENTIAL_VALUE,
        meta=RequestMeta(),
    )  # fmt: skip
    raw.append(CREDENTIAL_VALUE)
    # A password reset token (hash stored), a failed sign-in, a lock on another account.
    APIClient().post("/api/v1/auth/forgot-password", {"email": alice.email}, format="json")
    locked = user_factory(email="locked@example.com")
    for _ in range(5):
        APIClient().post(
            "/api/v1/auth/login", {"email": locked.email, "password": "wrong-wrong"}, format="json"
        )
    Group.objects.create(name="operators")

    spec = persona_spec(PERSONA_BODY)
    persona = persona_upsert(spec=spec, meta=RequestMeta(), actor=staff).persona
    raw.append(persona_password(email=spec.email, secret=settings.PERSONA_SEED_SECRET))
    for number in range(3):
        persona_action_record(
            persona_id=persona.pk, tick_id=f"t{number}", tool_name="todo.create",
            input_hash=f"h{number}", result="ok", latency_ms=90,
        )  # fmt: skip
    persona_feedback_record(persona_id=persona.pk, tick_id="t0", module="todo", rating=5)
    persona_feedback_record(persona_id=persona.pk, tick_id="t1", module="todo", rating=2)
    return World(
        staff=staff,
        alice=alice,
        persona=persona,
        api_key=created.api_key,
        space=space,
        staff_totp=staff_secret.secret,
        access_token=client.tokens["accessToken"],
        api_key_raw=created.key,
        raw=[value for value in raw if value],
    )


@pytest.fixture
def console(world: World) -> Client:
    client = Client()
    otp_login(client, world.staff, world.staff_totp)
    return client


def changelist_url(model: Any) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def objects_of(model: Any, world: World) -> list[Any]:
    if model is Vault:
        with vault_scope(world.alice.pk):
            return list(Vault.objects.all())
    return list(model._default_manager.all()[:25])


# --- Every page -------------------------------------------------------------------------------


def test_the_console_registers_every_model_an_operator_needs():
    labels = {model._meta.label for model in admin.site._registry}
    assert {
        "accounts.User",
        "accounts.SigningKey",
        "accounts.ApiKey",
        "accounts.Passkey",
        "security.SecurityEvent",
        "security.LoginAttempt",
        "security.SealedTotpDevice",
        "security.BackupCodeDevice",
        "personas.Persona",
        "personas.PersonaAction",
        "personas.PersonaFeedback",
        "spaces.Space",
        "vault.Vault",
    } <= labels


def test_every_changelist_and_change_page_renders_and_shows_no_secret(console, world):
    secrets = stored_secrets(world)
    assert len(secrets) > 30  # the check has something to find
    rendered = 0
    for model in admin.site._registry:
        url = changelist_url(model)
        response = console.get(url)
        assert response.status_code == 200, url
        assert_no_secrets(response.content.decode(), secrets, url)
        rows = objects_of(model, world)
        assert rows, f"no {model._meta.label} in the test data: its change page is untested"
        for row in rows:
            page_url = f"{url}{row.pk}/change/"
            page = console.get(page_url)
            assert page.status_code == 200, page_url
            assert_no_secrets(page.content.decode(), secrets, page_url)
            rendered += 1
    assert rendered > 40


def test_every_changelist_search_and_filter_renders(console, world):
    for model, model_admin in admin.site._registry.items():
        url = changelist_url(model)
        if model_admin.search_fields:
            assert console.get(url, {"q": "alice"}).status_code == 200, url
    for url, params in [
        ("/admin/accounts/user/", {"access_tier__exact": "founder"}),
        ("/admin/accounts/user/", {"kind__exact": "persona"}),
        ("/admin/accounts/user/", {"role__exact": "admin"}),
        ("/admin/accounts/user/", {"verified": "no"}),
        ("/admin/accounts/user/", {"locked": "yes"}),
        ("/admin/security/securityevent/", {"type": "ADMIN_ACTION"}),
        ("/admin/security/securityevent/", {"user": str(world.alice.pk)}),
        ("/admin/security/securityevent/", {"ip": "127.0.0.1"}),
        ("/admin/security/loginattempt/", {"success__exact": "0"}),
        ("/admin/accounts/apikey/", {"state": "active"}),
        ("/admin/personas/persona/", {"archetype__exact": "solo-dev"}),
    ]:
        assert console.get(url, params).status_code == 200, (url, params)


def test_the_console_needs_a_verified_second_factor(world, user_factory):
    password_only = Client()
    password_only.force_login(world.staff)
    for url in (
        "/admin/accounts/user/",
        "/admin/personas/persona/",
        "/admin/security/securityevent/",
    ):
        assert password_only.get(url).status_code == 302


# --- Users ------------------------------------------------------------------------------------


def user_action(console: Client, action: str, *users: User) -> Any:
    return console.post(
        "/admin/accounts/user/",
        {"action": action, "_selected_action": [str(user.pk) for user in users]},
    )


def admin_actions(world: World, action: str) -> list[SecurityEvent]:
    return list(
        SecurityEvent.objects.filter(type="ADMIN_ACTION", user=world.staff, metadata__action=action)
    )


def test_the_user_form_has_no_password_field_and_edits_only_the_tier(console, world):
    page = console.get(f"/admin/accounts/user/{world.alice.pk}/change/").content.decode()
    assert 'name="password"' not in page
    assert 'name="access_tier"' in page
    assert 'name="email"' not in page and 'name="role"' not in page
    assert "recent security events" in page.lower()
    assert f"?user={world.alice.pk}" in page


def test_changing_the_tier_on_the_form_goes_through_the_service(console, world):
    response = console.post(
        f"/admin/accounts/user/{world.alice.pk}/change/",
        {
            "access_tier": "beta",
            **{f"security_events-{k}": v for k, v in _empty_formset().items()},
            **{f"sessions-{k}": v for k, v in _empty_formset().items()},
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    world.alice.refresh_from_db()
    assert world.alice.access_tier == "beta"
    assert Space.objects.get(created_by=world.alice, type="personal").tier == "beta"
    event = SecurityEvent.objects.get(type="TIER_CHANGED", user=world.alice)
    assert event.metadata["from"] == "public" and event.metadata["to"] == "beta"
    assert admin_actions(world, "tier_set")[0].metadata["targetUserId"] == str(world.alice.pk)


def _empty_formset() -> dict[str, str]:
    return {
        "TOTAL_FORMS": "0",
        "INITIAL_FORMS": "0",
        "MIN_NUM_FORMS": "0",
        "MAX_NUM_FORMS": "0",
    }


def test_set_tier_action_changes_each_selected_account(console, world, user_factory):
    bob = user_factory(email="bob@example.com")
    response = user_action(console, "set_tier_alpha", world.alice, bob)
    assert response.status_code == 302
    assert set(
        User.objects.filter(pk__in=[world.alice.pk, bob.pk]).values_list("access_tier", flat=True)
    ) == {"alpha"}
    assert len(admin_actions(world, "tier_set")) == 2
    assert SecurityEvent.objects.filter(type="TIER_CHANGED").count() == 2


def test_unlock_action_clears_the_lock(console, world):
    locked = User.objects.get(email="locked@example.com")
    assert LoginThrottle.objects.filter(email_key=locked.email, locked_until__isnull=False).exists()
    listing = console.get("/admin/accounts/user/", {"locked": "yes"}).content.decode()
    assert "locked@example.com" in listing and "alice@example.com" not in listing

    assert user_action(console, "unlock_accounts", locked).status_code == 302

    assert not LoginThrottle.objects.filter(email_key=locked.email).exists()
    assert SecurityEvent.objects.filter(type="ACCOUNT_UNLOCKED", user=locked).exists()
    assert admin_actions(world, "unlock")[0].metadata["targetUserId"] == str(locked.pk)


def test_revoke_sessions_action_ends_the_users_sessions(console, world):
    assert Session.objects.filter(user=world.alice, revoked_at__isnull=True).exists()

    assert user_action(console, "revoke_sessions", world.alice).status_code == 302

    assert not Session.objects.filter(user=world.alice, revoked_at__isnull=True).exists()
    assert SecurityEvent.objects.filter(type="SESSION_REVOKED", user=world.alice).exists()
    assert admin_actions(world, "sessions_revoke")[0].metadata["targetUserId"] == str(
        world.alice.pk
    )


def test_mark_verified_action_verifies_an_unverified_address(console, world, user_factory):
    pending = user_factory(email="pending@example.com", verified=False)

    assert user_action(console, "mark_verified", pending, world.alice).status_code == 302

    pending.refresh_from_db()
    assert pending.email_verified_at is not None
    assert SecurityEvent.objects.get(type="EMAIL_VERIFIED", user=pending).metadata == {
        "byAdmin": True
    }
    assert [e.metadata["targetUserId"] for e in admin_actions(world, "mark_verified")] == [
        str(pending.pk)
    ]  # alice was verified already: nothing to do, nothing recorded


def test_users_cannot_be_added_or_deleted_in_the_console(console, world):
    assert console.get("/admin/accounts/user/add/").status_code == 403
    assert (
        console.post(f"/admin/accounts/user/{world.alice.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert User.objects.filter(pk=world.alice.pk).exists()


# --- Keys -------------------------------------------------------------------------------------


def test_api_key_page_shows_the_prefix_and_the_revoke_action_revokes(console, world):
    listing = console.get("/admin/accounts/apikey/").content.decode()
    assert world.api_key.prefix in listing

    response = console.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(world.api_key.pk)]}
    )

    assert response.status_code == 302
    world.api_key.refresh_from_db()
    assert world.api_key.revoked_at is not None
    assert api_key_check(world.api_key_raw).valid is False
    revoked = SecurityEvent.objects.get(type="API_KEY_REVOKED", user=world.alice)
    assert revoked.metadata["byAdmin"] is True
    assert admin_actions(world, "api_key_revoke")[0].metadata["apiKeyId"] == str(world.api_key.pk)


def test_signing_key_rotate_action_retires_the_active_key(console, world):
    old = SigningKey.objects.get(status="active")

    response = console.post(
        "/admin/accounts/signingkey/", {"action": "rotate", "_selected_action": [old.kid]}
    )

    assert response.status_code == 302
    old.refresh_from_db()
    new = SigningKey.objects.get(status="active")
    assert old.status == "retired" and new.kid != old.kid
    listing = console.get("/admin/accounts/signingkey/").content.decode()
    assert new.kid in listing and old.kid in listing
    assert admin_actions(world, "signing_key_rotate")[0].metadata["kid"] == new.kid
    # Tokens signed with the retired key still verify until they expire.
    check = APIClient().post("/api/v1/auth/validate", {"token": world.access_token}, format="json")
    assert check.json()["valid"] is True


# --- Audit trail ------------------------------------------------------------------------------


def test_security_events_and_login_attempts_are_read_only(console, world):
    event = SecurityEvent.objects.filter(user=world.alice).first()
    attempt = LoginAttempt.objects.first()
    assert console.get("/admin/security/securityevent/add/").status_code == 403
    assert console.get("/admin/security/loginattempt/add/").status_code == 403
    assert (
        console.post(
            f"/admin/security/securityevent/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        console.post(
            f"/admin/security/loginattempt/{attempt.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    page = console.get(f"/admin/security/securityevent/{event.pk}/change/").content.decode()
    assert 'name="_save"' not in page


def test_security_events_filter_by_type_user_and_ip(console, world):
    by_type = console.get("/admin/security/securityevent/", {"type": "API_KEY_CREATED"})
    assert by_type.status_code == 200
    assert by_type.context["cl"].result_count == 1
    by_user = console.get("/admin/security/securityevent/", {"user": str(world.alice.pk)})
    assert {e.user_id for e in by_user.context["cl"].result_list} == {world.alice.pk}
    by_ip = console.get("/admin/security/securityevent/", {"ip": "10.9.9.9"})
    assert by_ip.context["cl"].result_count == 0
    failures = console.get("/admin/security/loginattempt/", {"success__exact": "0"})
    assert failures.context["cl"].result_count == 5


# --- Personas ---------------------------------------------------------------------------------


def test_the_persona_page_shows_counts_recent_actions_and_feedback_averages(console, world):
    listing = console.get("/admin/personas/persona/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_list[0].actions_7d == 3

    page = console.get(f"/admin/personas/persona/{world.persona.pk}/change/").content.decode()

    assert "ada.dev@mana.test" in page
    assert "recent actions" in page.lower() and "todo.create" in page
    assert "<td>todo</td><td>3.50</td><td>2</td>" in page


def test_deleting_a_persona_in_the_console_deletes_its_account_through_the_service(console, world):
    confirm = console.post(
        "/admin/personas/persona/",
        {"action": "delete_selected", "_selected_action": [str(world.persona.pk)]},
    )
    assert confirm.status_code == 200
    assert "The whole account of ada.dev@mana.test" in confirm.content.decode()

    response = console.post(
        "/admin/personas/persona/",
        {"action": "delete_selected", "_selected_action": [str(world.persona.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk=world.persona.pk).exists()
    assert not PersonaAction.objects.exists() and not PersonaFeedback.objects.exists()
    assert SecurityEvent.objects.get(type="PERSONA_DELETED").metadata["byAdmin"] is True
    assert admin_actions(world, "persona_delete")[0].metadata["targetUserId"] == str(
        world.persona.pk
    )


# --- Every action ----------------------------------------------------------------------------


def test_every_action_of_every_model_runs(console, world):
    """Each registered action, on every row of its model, answers with a redirect (done) or
    a confirmation page, and neither shows a secret."""
    secrets = stored_secrets(world)
    ran = []
    request = RequestFactory().get("/admin/")
    request.user = world.staff
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.get_actions(request):
            rows = objects_of(model, world)
            if not rows:
                continue
            response = console.post(
                changelist_url(model),
                {"action": name, "_selected_action": [str(row.pk) for row in rows[:1]]},
            )
            assert response.status_code in (200, 302), (model._meta.label, name)
            if response.status_code == 200:
                assert_no_secrets(response.content.decode(), secrets, f"{model} {name}")
            ran.append(f"{model._meta.label}.{name}")
    assert {
        "accounts.User.set_tier_founder",
        "accounts.User.unlock_accounts",
        "accounts.User.revoke_sessions",
        "accounts.User.mark_verified",
        "accounts.ApiKey.revoke",
        "accounts.SigningKey.rotate",
    } <= set(ran)


def test_the_user_list_searches_email_and_name_and_the_page_shows_the_last_20_events(
    console, world
):
    from security.services import security_event_record

    by_email = console.get("/admin/accounts/user/", {"q": "alice@"})
    by_name = console.get("/admin/accounts/user/", {"q": "Ops"})
    assert [u.email for u in by_email.context["cl"].result_list] == ["alice@example.com"]
    assert [u.email for u in by_name.context["cl"].result_list] == ["ops@example.com"]

    for number in range(25):
        security_event_record(type="PROFILE_UPDATED", user=world.alice, metadata={"n": number})
    page = console.get(f"/admin/accounts/user/{world.alice.pk}/change/")

    events = next(
        formset
        for formset in page.context["inline_admin_formsets"]
        if formset.formset.model is SecurityEvent
    )
    assert len(events.formset.forms) == 20
    assert SecurityEvent.objects.filter(user=world.alice).count() > 25
