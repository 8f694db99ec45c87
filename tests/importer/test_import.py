"""Importing the predecessor, proven through the public API: people sign in with the password
they had (and it is re-hashed), get their second step with a code from their old
authenticator, find their Spaces and roles, accept a pending invitation, use their old API
key and passkey, and get the same vault key. A second run changes nothing."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import timedelta

import pyotp
import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import ApiKey, Passkey, User
from personas.models import Persona, PersonaAction, PersonaFeedback
from predecessor.importer import target_uuid
from predecessor.models import ImportedRecord
from security.models import SecurityEvent
from security.otp.models import BackupCode, SealedTotpDevice
from spaces.models import Invitation, Membership, Space
from tests.importer import betterauth as ba
from tests.importer.conftest import run_import
from vault.models import Vault, VaultAudit
from vault.rls import vault_scope

pytestmark = pytest.mark.django_db
SERVICE = {"HTTP_X_SERVICE_KEY": "dev-service-key"}


def login(email, password, client=None):
    return (client or APIClient()).post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )


def mfa(token, code, method="totp"):
    return APIClient().post(
        "/api/v1/auth/login/mfa",
        {"mfaToken": token, "code": code, "method": method},
        format="json",
    )


def bearer(tokens):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    return client


def signed_in_with_totp(person):
    first = login(person.email.strip(), person.password)
    assert first.status_code == 401 and first.json()["code"] == "MFA_REQUIRED", first.content
    code = pyotp.TOTP(ba.otpauth_secret(person.totp_secret)).now()
    second = mfa(first.json()["details"]["mfaToken"], code)
    assert second.status_code == 200, second.content
    return bearer(second.json())


def imported_user(person):
    return User.objects.get(pk=target_uuid("user", person.id))


def domain_counts():
    with vault_scope(imported_ids()[0]):
        vault_rows = Vault.objects.count()
    return {
        "users": User.objects.count(),
        "records": ImportedRecord.objects.count(),
        "spaces": Space.objects.count(),
        "memberships": Membership.objects.count(),
        "invitations": Invitation.objects.count(),
        "passkeys": Passkey.objects.count(),
        "totp": SealedTotpDevice.objects.count(),
        "backup codes": BackupCode.objects.count(),
        "api keys": ApiKey.objects.count(),
        "vault (one user)": vault_rows,
        "personas": Persona.objects.count(),
        "actions": PersonaAction.objects.count(),
        "feedback": PersonaFeedback.objects.count(),
        "passwords": sorted(User.objects.values_list("password", flat=True)),
    }


def imported_ids():
    return list(
        ImportedRecord.objects.filter(source_table="user").values_list("target_id", flat=True)
    )


def test_a_user_signs_in_with_the_old_password_and_it_is_rehashed_with_argon2id(world):
    run_import(world.db.url)
    bob = world["bob"]
    user = imported_user(bob)
    assert str(user.pk) == bob.id  # a UUID id is kept
    assert user.password.startswith("better_auth_scrypt$")
    assert login(bob.email, "not-the-password").json()["code"] == "INVALID_CREDENTIALS"
    response = login(bob.email, bob.password)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == bob.id
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert login(bob.email, bob.password).status_code == 200  # and the new hash works


def test_the_profile_comes_over(world, mailoutbox):
    run_import(world.db.url)
    assert mailoutbox == []  # no reset mail, no notice: nothing is mailed
    alice = imported_user(world["alice"])
    assert alice.pk == target_uuid("user", world["alice"].id)  # not a UUID: a UUIDv5
    assert alice.email == "Alice.Smith@example.com"  # normalised: trimmed, domain lower-cased
    assert (alice.name, alice.role, alice.access_tier, alice.kind) == (
        "Alice",
        "admin",
        "founder",
        "human",
    )
    assert alice.email_verified
    assert alice.onboarding_completed_at is None  # a source without the column
    assert alice.created_at < timezone.now() - timedelta(days=100)
    penny = imported_user(world["penny"])
    assert (penny.kind, penny.access_tier) == ("persona", "founder")
    gus = imported_user(world["gus"])  # signs in with Google at the predecessor only
    assert not gus.has_usable_password()


def test_a_two_factor_user_gets_the_second_step_and_a_code_from_the_old_app_passes(world):
    run_import(world.db.url)
    alice = world["alice"]
    first = login(alice.email.strip(), alice.password)
    assert first.status_code == 401 and first.json()["code"] == "MFA_REQUIRED"
    assert set(first.json()["details"]["methods"]) == {"totp", "backup_code"}
    token = first.json()["details"]["mfaToken"]
    assert mfa(token, "000000").json()["code"] == "MFA_INVALID_CODE"
    with freeze_time(timezone.now() + timedelta(seconds=5)):  # past the device's back-off
        code = pyotp.TOTP(ba.otpauth_secret(alice.totp_secret)).now()
        response = mfa(token, code)
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(target_uuid("user", alice.id))


def test_an_old_backup_code_works_once_whatever_its_case(world):
    run_import(world.db.url)
    erin = world["erin"]  # her secrets were sealed under a rotated secret ($ba$2$ envelope)
    code = erin.backup_codes[0]
    token = login(erin.email, erin.password).json()["details"]["mfaToken"]
    assert mfa(token, code.upper(), method="backup_code").status_code == 200
    token = login(erin.email, erin.password).json()["details"]["mfaToken"]
    again = mfa(token, code, method="backup_code")
    assert again.status_code == 401 and again.json()["code"] == "MFA_INVALID_CODE"
    assert BackupCode.objects.filter(device__user=imported_user(erin)).count() == 9


def test_spaces_and_roles_come_over(world):
    run_import(world.db.url)
    alice = signed_in_with_totp(world["alice"])
    spaces = {s["name"]: s for s in alice.get("/api/v1/spaces").json()["items"]}
    assert set(spaces) == {"Personal", "Mana Core", "Sun family"}
    assert spaces["Personal"]["type"] == "personal" and spaces["Personal"]["slug"] == "alice-smith"
    assert spaces["Personal"]["tier"] == "founder" and spaces["Personal"]["role"] == "owner"
    assert spaces["Mana Core"]["slug"] == "admin-2"  # "admin" is reserved here: renamed
    assert spaces["Mana Core"]["role"] == "owner" and spaces["Mana Core"]["type"] == "team"
    assert spaces["Sun family"]["role"] == "owner"  # "owner,admin" → the highest
    assert spaces["Mana Core"]["id"] == str(target_uuid("organization", world.orgs["team"]))

    bob = bearer(login(world["bob"].email, world["bob"].password).json())
    roles = {s["name"]: (s["role"], s["type"]) for s in bob.get("/api/v1/spaces").json()["items"]}
    assert roles == {
        "Personal": ("owner", "personal"),  # he had none: made for him, as at sign-up
        "Mana Core": ("admin", "team"),
        "Sun family": ("member", "family"),
        "Old club": ("owner", "team"),  # no metadata.type: a team
    }


def test_a_pending_invitation_is_accepted_by_its_invitee_with_the_old_link(world):
    run_import(world.db.url)
    dave = world["dave"]
    client = bearer(login(dave.email, dave.password).json())
    token = world.invitations["dave"]  # what Better Auth's invitation link carried
    response = client.post("/api/v1/invitations/accept", {"token": token}, format="json")
    assert response.status_code == 200, response.content
    space = Space.objects.get(pk=target_uuid("organization", world.orgs["team"]))
    assert Membership.objects.get(space=space, user=imported_user(dave)).role == "member"
    again = client.post("/api/v1/invitations/accept", {"token": token}, format="json")
    assert again.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    # Expired and answered invitations were not carried over.
    assert not Invitation.objects.filter(email__in=["late@example.com", "x@example.com"]).exists()


def test_an_invitation_cannot_be_accepted_by_someone_else(world):
    run_import(world.db.url)
    bob = bearer(login(world["bob"].email, world["bob"].password).json())
    response = bob.post(
        "/api/v1/invitations/accept", {"token": world.invitations["dave"]}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


def test_an_old_api_key_keeps_validating_with_its_scopes_mapped(world):
    run_import(world.db.url)
    key = world["alice"].api_key
    response = APIClient().post(
        "/api/v1/internal/api-keys/validate", {"key": key}, format="json", **SERVICE
    )
    assert response.json() == {
        "valid": True,
        "userId": str(target_uuid("user", world["alice"].id)),
        "scopes": ["profile:read", "sync:read", "sync:write"],  # billing:read has no scope here
    }
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    profile = caller.get("/api/v1/auth/profile")
    assert profile.status_code == 200 and profile.json()["email"] == "Alice.Smith@example.com"
    row = ApiKey.objects.get(user=imported_user(world["alice"]))
    assert row.prefix == key[:6] and row.key_hash == ba.api_key_hash(key)
    assert key not in (row.prefix, row.key_hash)
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "mana_nope", "plain"):
        assert APIClient().post(
            "/api/v1/internal/api-keys/validate", {"key": wrong}, format="json", **SERVICE
        ).json() == {"valid": False}


def test_a_disabled_old_key_is_imported_revoked(world):
    run_import(world.db.url)
    row = ApiKey.objects.get(user=imported_user(world["bob"]))
    assert row.revoked_at is not None
    assert row.scopes == sorted(["credits:read", "profile:read", "spaces:read", "sync:read",
                                 "sync:write"])  # fmt: skip


def test_the_vault_key_opens_to_the_same_master_key(world):
    run_import(world.db.url)
    alice = signed_in_with_totp(world["alice"])
    response = alice.get("/api/v1/me/encryption-vault/key")
    assert response.status_code == 200, response.content
    assert base64.b64decode(response.json()["masterKey"]) == world["alice"].master_key
    bob = bearer(login(world["bob"].email, world["bob"].password).json())
    assert (
        base64.b64decode(bob.get("/api/v1/me/encryption-vault/key").json()["masterKey"])
        == world["bob"].master_key
    )
    user_id = imported_user(world["alice"]).pk
    with vault_scope(user_id):
        vault = Vault.objects.get(user_id=user_id)
        audits = list(VaultAudit.objects.filter(user_id=user_id, context__source="predecessor"))
    assert vault.kek_id and bytes(vault.wrapped_mk) != world["alice"].master_key
    assert sorted(a.action for a in audits) == ["fetch", "init"]


def test_a_zero_knowledge_vault_is_copied_as_it_is(world):
    run_import(world.db.url)
    zoe = bearer(login(world["zoe"].email, world["zoe"].password).json())
    body = zoe.get("/api/v1/me/encryption-vault/key").json()
    assert body["requiresRecoveryCode"] is True
    assert (body["recoveryWrappedMk"], body["recoveryIv"]) == world.zk_wrap


def test_the_old_passkey_still_signs_in(world, settings):
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    run_import(world.db.url)
    device = world["alice"].authenticator
    client = APIClient()
    options = client.post(
        "/api/v1/auth/passkeys/authenticate/options",
        {"email": world["alice"].email.strip()},
        format="json",
    ).json()
    assert options["allowCredentials"][0]["id"] == device.credential_id_b64
    response = client.post(
        "/api/v1/auth/passkeys/authenticate/verify",
        {"ceremonyId": options["ceremonyId"], "credential": device.get(options)},
        format="json",
    )
    assert response.status_code == 200, response.content
    passkey = Passkey.objects.get(user=imported_user(world["alice"]))
    assert passkey.sign_count == 6 and passkey.transports == ["internal", "hybrid"]
    assert passkey.device_type == "single_device"  # SimpleWebAuthn's "singleDevice"


def test_personas_and_their_actions_and_feedback_come_over(world):
    run_import(world.db.url)
    persona = Persona.objects.get(user=imported_user(world["penny"]))
    assert (persona.archetype, persona.tick_cadence) == ("solo-dev", "daily")
    assert persona.module_mix == {"todo": 0.5, "notes": 0.5}
    assert sorted(persona.actions.values_list("tick_id", flat=True)) == ["t1", "t2"]
    assert persona.feedback.get().rating == 4


def test_the_report_names_what_was_skipped_and_why(world):
    outcome = run_import(world.db.url)
    out = outcome.out
    assert "collides, after normalisation, with another predecessor user" in out
    assert world["alice2"].id in out
    assert "slug reserved here: renamed (e.g. admin → admin-2)" in out
    assert "sign-in with 'google' is not offered here" in out
    assert "set-up never confirmed at the predecessor" in out
    assert "expired" in out and "accepted: only pending invitations are carried over" in out
    assert "signing keys stay behind" in out
    assert "permissions with no scope here dropped" in out and "billing:read" in out
    assert (
        not User.objects.filter_email(world["alice2"].email)
        .exclude(pk=target_uuid("user", world["alice"].id))
        .exists()
    )
    # Nothing secret reaches the report.
    for secret in (world["alice"].api_key, world["alice"].password, world["alice"].totp_secret):
        assert secret not in out and secret not in outcome.err
    event = SecurityEvent.objects.get(type="ADMIN_ACTION")
    assert event.metadata["action"] == "predecessor_import"
    assert event.metadata["summary"]["user"]["imported"] == 8
    assert event.metadata["summary"]["user"]["skipped"] == 1


def test_a_second_run_changes_nothing_and_says_so(world):
    run_import(world.db.url)
    before = domain_counts()
    outcome = run_import(world.db.url)
    assert "Nothing to do" in outcome.out
    assert domain_counts() == before
    assert SecurityEvent.objects.filter(type="ADMIN_ACTION").count() == 2  # one per run
    second = SecurityEvent.objects.filter(type="ADMIN_ACTION").latest("created_at")
    assert second.metadata["changed"] == 0


def test_a_dry_run_changes_nothing(world):
    outcome = run_import(world.db.url, "--dry-run")
    assert "Dry run: nothing was written." in outcome.out
    assert "This run would change" in outcome.out
    assert not User.objects.exists() and not ImportedRecord.objects.exists()
    assert not Space.objects.exists() and not SecurityEvent.objects.exists()
    # ... and reports what a real run then does.
    real = run_import(world.db.url)
    dry_lines = [line for line in outcome.out.splitlines() if line.startswith(("user ", "member"))]
    real_lines = [line for line in real.out.splitlines() if line.startswith(("user ", "member"))]
    assert dry_lines == real_lines


def test_an_interrupted_run_is_resumed_by_running_again(world, settings):
    from predecessor.formats import SourceSecrets
    from predecessor.importer import ImportOptions, predecessor_import
    from predecessor.source import Source
    from tests.importer.conftest import ROTATED_SECRET, SECRET

    class Stop(Exception):
        pass

    def stop_in_passkeys(table, done, total):
        if table == "passkey":
            raise Stop

    options = ImportOptions(
        secrets=SourceSecrets(legacy=SECRET, versions={2: ROTATED_SECRET, 1: SECRET}),
        keks=(world.kek, settings.MANA_AUTH_KEK),
        batch_size=2,
        progress=stop_in_passkeys,
    )
    with Source(world.db.url) as source, pytest.raises(Stop):
        predecessor_import(source=source, options=options)
    assert User.objects.count() == 8  # the users step finished
    assert not Space.objects.exists()  # the organizations step never started
    run_import(world.db.url, "--batch", "2")
    # Alice's three, Bob's club, and a personal Space made for each of the seven others.
    assert Space.objects.count() == 4 + 7
    assert "Nothing to do" in run_import(world.db.url).out


def test_stragglers_are_picked_up_by_running_again(world):
    run_import(world.db.url)
    late = world.user("late", "late.comer@example.com", password="Late-Passwort-2026")
    new_password = "Bob-Neues-Passwort-2026"
    world.db.execute(
        'UPDATE auth.account SET password = %s WHERE "userId" = %s',
        [ba.hash_password(new_password), world["bob"].id],
    )
    outcome = run_import(world.db.url)
    assert "password changed at the predecessor since the last run" in outcome.out
    assert login(late.email, late.password).status_code == 200
    assert login(world["bob"].email, new_password).status_code == 200
    # Once used here, the password is this service's: a later change at the predecessor
    # no longer reaches it.
    world.db.execute(
        'UPDATE auth.account SET password = %s WHERE "userId" = %s',
        [ba.hash_password("yet-another-one"), world["bob"].id],
    )
    run_import(world.db.url)
    assert login(world["bob"].email, new_password).status_code == 200


def test_an_account_deleted_here_is_not_brought_back(world):
    run_import(world.db.url)
    dave = world["dave"]
    client = bearer(login(dave.email, dave.password).json())
    assert (
        client.delete(
            "/api/v1/auth/account", {"password": dave.password}, format="json"
        ).status_code
        == 204
    )
    outcome = run_import(world.db.url)
    assert "deleted here after an earlier import; not brought back" in outcome.out
    assert not User.objects.filter_email(dave.email).exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(world, monkeypatch):
    args = ["--source", world.db.url, "--source-secret-env", "PRED_SECRET"]
    args += ["--source-secrets-env", "PRED_SECRETS", "--source-kek-env", "PRED_KEK"]
    terminal = _Terminal()
    call_command("import_predecessor", *args, "--dry-run", stdout=io.StringIO(), stderr=terminal)
    assert "\ruser: 9/9\n" in terminal.getvalue()
    assert "\rpasskey: 1/1\n" in terminal.getvalue()
    assert run_import(world.db.url, "--dry-run").err == ""  # not a terminal: no progress


def test_the_predecessors_drizzle_spelling_is_read_too(predecessor_db):
    """Plural tables and snake_case columns, as the predecessor's Drizzle schema has them."""
    predecessor_db.execute(
        "CREATE TABLE public.users (id uuid PRIMARY KEY, name text NOT NULL, email text NOT NULL,"
        " email_verified boolean NOT NULL, created_at timestamp NOT NULL,"
        " access_tier text NOT NULL, role text NOT NULL, kind text NOT NULL,"
        " onboarding_completed_at timestamp);"
        "CREATE TABLE public.accounts (id text PRIMARY KEY, user_id uuid NOT NULL,"
        " provider_id text NOT NULL, password text)"
    )
    uid = "6f1c2a9e-0d4b-4c3e-9a1f-5b2d7e8c9a01"
    predecessor_db.execute(
        "INSERT INTO public.users VALUES (%s, 'Hana', 'hana@example.com', true,"
        " '2025-01-02 03:04:05', 'beta', 'user', 'human', '2025-01-03 04:05:06')",
        [uid],
    )
    predecessor_db.execute(
        "INSERT INTO public.accounts VALUES ('a1', %s, 'credential', %s)",
        [uid, ba.hash_password("Hana-Passwort-2026")],
    )
    outcome = run_import(predecessor_db.url, "--source-schema", "public", secrets=False, kek=False)
    assert "twoFactor" in outcome.out and "(no such table in the source)" in outcome.out
    user = User.objects.get(pk=uid)
    assert user.access_tier == "beta"
    assert user.created_at.isoformat() == "2025-01-02T03:04:05+00:00"  # no zone: UTC
    assert user.onboarding_completed_at.isoformat() == "2025-01-03T04:05:06+00:00"
    assert login("hana@example.com", "Hana-Passwort-2026").status_code == 200


def test_vaults_are_imported_by_a_role_bound_by_row_level_security(world):
    """Run as the service runs in production: an ordinary role that the vault policies bind."""
    from django.db import connection

    from tests.vault.conftest import grant_table_access

    role = f"mana_import_app_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:  # inside the test's transaction: rolled back after
        cursor.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        grant_table_access(cursor, role)
        cursor.execute(f"SET ROLE {role}")
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0] is False
    run_import(world.db.url)
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    alice = signed_in_with_totp(world["alice"])
    key = alice.get("/api/v1/me/encryption-vault/key").json()["masterKey"]
    assert base64.b64decode(key) == world["alice"].master_key
    user_id = imported_user(world["alice"]).pk
    with vault_scope(user_id):
        assert (
            VaultAudit.objects.filter(user_id=user_id, context__source="predecessor").count() == 2
        )
