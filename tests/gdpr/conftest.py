"""Fixtures for GDPR: one user with data in every app, the registry walk, a fake credits server.

``rich_user`` creates data explicitly where an app has services for it, then fills every
other user-related model it finds in the app registry with one generic row, so a model added
later (in any app) is exercised by the completeness tests without touching this file.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import api_keys, mfa
from accounts.models import Passkey, TokenPurpose, User
from accounts.one_time_tokens import one_time_token_issue
from mana_auth.clientip import RequestMeta
from security.otp import services as otp_services
from spaces import singletons
from spaces.models import Membership, Space, SpaceRole
from spaces.services.credentials import credential_create
from spaces.services.invitations import invitation_create
from spaces.services.permissions import module_permissions_set
from spaces.services.spaces import space_create
from tests.conftest import PASSWORD, login_tokens
from tests.fake_credits import FakeCredits, fake_credits_server

META = RequestMeta(ip="203.0.113.7", user_agent="pytest-gdpr")
VAULT = "/api/v1/me/encryption-vault/"
RECOVERY = {
    "recoveryWrappedMk": base64.b64encode(b"r" * 48).decode(),
    "recoveryIv": "AAECAwQFBgcICQoL",
}


# --- The registry walk (independent of accounts.gdpr on purpose) -------------------------------


@dataclass
class Relation:
    """How rows of one model refer to a user: foreign-key paths to the user's primary key,
    a path to a Space, and plain columns holding a user id or an email address."""

    label: str
    model: type[models.Model]
    user_paths: list[str] = field(default_factory=list)
    space_path: str | None = None
    user_id_columns: list[str] = field(default_factory=list)
    space_id_columns: list[str] = field(default_factory=list)
    email_columns: list[str] = field(default_factory=list)

    @property
    def related(self) -> bool:
        return bool(
            self.user_paths
            or self.space_path
            or self.user_id_columns
            or self.space_id_columns
            or self.email_columns
        )


def _user_fks(model: type[models.Model]) -> list[models.Field]:
    user_model = get_user_model()
    return [
        f for f in model._meta.concrete_fields if f.is_relation and f.related_model is user_model
    ]


def walk_registry() -> dict[str, Relation]:
    """Every model (auto-created M2M tables included) that can hold a user's data."""
    user_model = get_user_model()
    found: dict[str, Relation] = {}
    for model in apps.get_models(include_auto_created=True):
        rel = Relation(label=model._meta.label, model=model)
        if model is user_model:
            rel.user_paths.append("pk")
        rel.user_paths += [f.name for f in _user_fks(model)]
        for f in model._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target is Space:
                rel.space_path = f.name
            elif target is not None and target not in (model, user_model):
                # one hop: through a model that itself points at the user
                rel.user_paths += [f"{f.name}__{g.name}" for g in _user_fks(target)]
            elif target is None:
                name = f.name.lower()
                if name == "user_id" or name.endswith("_user_id"):
                    rel.user_id_columns.append(f.name)
                elif name == "space_id":
                    rel.space_id_columns.append(f.name)
                elif isinstance(f, models.EmailField) or name in ("email", "email_key"):
                    rel.email_columns.append(f.name)
        if model is Space:
            rel.space_path = "pk"
        if rel.related:
            found[rel.label] = rel
    return found


def rows_for(rel: Relation, *, user_id: Any, email: str, space_ids: list[Any]) -> set[str]:
    """Primary keys (as text) of ``rel``'s rows that refer to the user or to ``space_ids``."""
    manager = rel.model._default_manager
    keys: set[str] = set()
    for path in rel.user_paths:
        keys |= {str(pk) for pk in manager.filter(**{path: user_id}).values_list("pk", flat=True)}
    if rel.space_path and space_ids:
        lookup = f"{rel.space_path}__in"
        keys |= {
            str(pk) for pk in manager.filter(**{lookup: space_ids}).values_list("pk", flat=True)
        }
    for column in rel.user_id_columns:
        keys |= {
            str(pk) for pk in manager.filter(**{column: str(user_id)}).values_list("pk", flat=True)
        }
    for column in rel.space_id_columns:
        if space_ids:
            values = [str(s) for s in space_ids]
            keys |= {
                str(pk)
                for pk in manager.filter(**{f"{column}__in": values}).values_list("pk", flat=True)
            }
    for column in rel.email_columns:
        keys |= {
            str(pk)
            for pk in manager.filter(**{f"{column}__iexact": email}).values_list("pk", flat=True)
        }
    return keys


# --- Generic rows for models without an explicit set-up ----------------------------------------


def _value_for(f: models.Field) -> Any:
    if f.choices:
        return f.choices[0][0]
    if isinstance(f, models.EmailField):
        return "generic@example.com"
    if isinstance(f, models.CharField | models.TextField):
        return f"generic-{f.name}"[: f.max_length or 200]
    if isinstance(f, models.BooleanField):
        return False
    if isinstance(f, models.DecimalField):
        return Decimal(1)
    if isinstance(f, models.FloatField):
        return 1.0
    if isinstance(f, models.IntegerField):
        return 1
    if isinstance(f, models.DateTimeField):
        return timezone.now()
    if isinstance(f, models.DateField):
        return timezone.now().date()
    if isinstance(f, models.UUIDField):
        return uuid.uuid4()
    if isinstance(f, models.JSONField):
        return {}
    if isinstance(f, models.BinaryField):
        return b"generic"
    raise TypeError(f"no generic value for {f!r}")


def generic_row(model: type[models.Model], user: User, made: dict[Any, models.Model]) -> Any:
    """One row of ``model`` belonging to ``user``; None when a parent row is still missing."""
    kwargs: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if f.is_relation:
            target = f.related_model
            if target is get_user_model():
                kwargs[f.name] = user
            elif target in made:
                kwargs[f.name] = made[target]
            elif not f.null:
                return None
            continue
        if f.primary_key and (f.has_default() or isinstance(f, models.AutoField)):
            continue
        if f.has_default() or f.null:
            continue
        kwargs[f.name] = _value_for(f)
    return model._default_manager.create(**kwargs)


def fill_missing(user: User, walk: dict[str, Relation], app_label: str | None = None) -> list[str]:
    """Give ``user`` one row in every FK-related model (of ``app_label``) that has none yet;
    return their labels."""
    missing = [
        rel
        for rel in walk.values()
        if rel.user_paths
        and app_label in (None, rel.model._meta.app_label)
        and not rel.model._meta.auto_created
        and not rows_for(rel, user_id=user.pk, email="", space_ids=[])
    ]
    made: dict[Any, models.Model] = {}
    filled: list[str] = []
    for _ in range(len(missing) + 1):
        progress = False
        for rel in list(missing):
            row = generic_row(rel.model, user, made)
            if row is not None:
                made[rel.model] = row
                filled.append(rel.label)
                missing.remove(rel)
                progress = True
        if not progress:
            break
    assert not missing, (
        f"give these models an explicit set-up in tests/gdpr/conftest.py: "
        f"{[rel.label for rel in missing]}"
    )
    return filled


# --- One user with data everywhere -------------------------------------------------------------


@dataclass
class Rich:
    user: User
    client: APIClient
    friend: User
    team: Space  # solely owned by user, friend is an admin: goes with the account
    shared: Space  # co-owned by friend: stays
    joined: Space  # friend's Space where user is a member: stays
    secrets: list[str]
    filled: list[str]


def _variants(raw: bytes | str) -> list[str]:
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    forms = [
        data.hex(),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    ]
    if isinstance(raw, str):
        forms.append(raw)
    return [form for form in forms if len(form) >= 12]


@pytest.fixture
def rich_user(user_factory: Callable[..., User], auth_client: Callable[..., APIClient]) -> Rich:
    from security.otp.models import BackupCode, SealedTotpDevice
    from spaces.models import Invitation, SpaceCredential
    from vault.models import Vault
    from vault.rls import vault_scope

    user = user_factory(email="Rich.Person@example.com", name="Rich Person")
    friend = user_factory(email="friend@example.com", name="Friend")
    client = auth_client(user)
    secrets: list[str] = [client.tokens["accessToken"], client.tokens["refreshToken"]]
    secrets.append(login_tokens(APIClient(), user)["refreshToken"])  # a second session
    # a reset link requested, still in the mail queue
    APIClient().post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
    # a failed sign-in: a LoginAttempt row and a LOGIN_FAILURE event
    APIClient().post(
        "/api/v1/auth/login", {"email": user.email, "password": "wrong-password-1"}, format="json"
    )
    secrets.append(
        one_time_token_issue(user=user, purpose=TokenPurpose.RESET_PASSWORD, ttl=timedelta(hours=1))
    )
    Passkey.objects.create(
        user=user,
        credential_id=b"credential-id-of-rich",
        credential_id_b64="Y3JlZGVudGlhbC1pZC1vZi1yaWNo",
        public_key=b"\xa5public-key-bytes",
        name="Laptop",
        transports=["internal"],
    )
    secrets.append(
        api_keys.api_key_create(
            user=user,
            name="CI",
            scopes=["profile:read"],
            expires_at=None,
            meta=META,
            session=None,
            password=PASSWORD,
        ).key
    )
    # onboarding finished (a timestamp in the profile, an ONBOARDING_COMPLETED event)
    assert client.post("/api/v1/me/onboarding/complete").status_code == 200
    # vault with an audit trail and a recovery wrap
    assert client.post(VAULT + "init").status_code == 200
    assert client.post(VAULT + "recovery-wrap", RECOVERY, format="json").status_code == 200
    # second factors
    enrolment = mfa.totp_enroll_confirmed(user=user, meta=META)
    secrets.append(enrolment.secret)
    secrets += otp_services.backup_codes_replace(user=user)
    # operator groups and permissions, and an operator log entry
    user.groups.add(Group.objects.create(name="support"))
    user.user_permissions.add(Permission.objects.order_by("pk").first())
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(friend.pk),
        object_repr=friend.email,
        action_flag=CHANGE,
        change_message="[]",
    )
    # Spaces: solely owned (with a member, an invitation, a credential, an override), co-owned,
    # joined, and an invitation received from someone else
    team = space_create(user=user, name="Rich Team", type="team", meta=META)
    Membership.objects.create(space=team, user=friend, role=SpaceRole.ADMIN)
    invitation_create(
        user=user, space_id=team.id, email="guest@example.com", role="member", meta=META
    )
    credential_value = "smtp-password-very-secret-123"
    secrets.append(credential_value)
    credential_create(
        user=user,
        space_id=team.id,
        kind="smtp",
        name="Mail",
        value=credential_value,
        meta=META,
    )
    from spaces import modules

    module_id = next(m for m in modules.modules_for_type("team"))
    module_permissions_set(
        user=user,
        space_id=team.id,
        overrides=[{"role": "member", "module": module_id, "level": "read"}],
        meta=META,
    )
    shared = space_create(user=user, name="Shared", type="club", meta=META)
    Membership.objects.create(space=shared, user=friend, role=SpaceRole.OWNER)
    joined = space_create(user=friend, name="Friend's", type="family", meta=META)
    Membership.objects.create(space=joined, user=user, role=SpaceRole.MEMBER)
    other = space_create(user=friend, name="Invite me", type="team", meta=META)
    invitation_create(
        user=friend, space_id=other.id, email="rich.person@EXAMPLE.com", role="member", meta=META
    )
    # the sync store: the singletons sign-up would have written after commit, and changes of
    # the user inside the Space that stays
    personal = Space.objects.get(created_by=user, type="personal")
    singletons.user_context_bootstrap(user_id=str(user.pk))
    singletons.kontext_doc_bootstrap(space_id=str(personal.id), writer_user_id=str(user.pk))
    singletons.kontext_doc_bootstrap(space_id=str(team.id), writer_user_id=str(user.pk))
    singletons.kontext_doc_bootstrap(space_id=str(shared.id), writer_user_id=str(user.pk))
    # the database's secret columns
    user.refresh_from_db()
    secrets.append(user.password)
    secrets += list(user.sessions.values_list("cookie_hash", flat=True))
    from accounts.models import ApiKey, OneTimeToken, RefreshToken

    secrets += list(
        RefreshToken.objects.filter(session__user=user).values_list("token_hash", flat=True)
    )
    secrets += list(OneTimeToken.objects.filter(user=user).values_list("token_hash", flat=True))
    secrets += list(ApiKey.objects.filter(user=user).values_list("key_hash", flat=True))
    secrets += list(Invitation.objects.values_list("token_hash", flat=True))
    secrets += list(
        BackupCode.objects.filter(device__user=user).values_list("code_hash", flat=True)
    )
    binary: list[bytes | str] = []
    for device in SealedTotpDevice.objects.filter(user=user):
        binary += [bytes(device.seed_ciphertext), bytes(device.seed_iv)]
    for credential in SpaceCredential.objects.filter(space=team):
        binary += [bytes(credential.ciphertext), bytes(credential.iv)]
    with vault_scope(user.pk):
        vault = Vault.objects.get(user_id=user.pk)
    binary += [bytes(vault.wrapped_mk), bytes(vault.wrap_iv)]
    binary += [vault.recovery_wrapped_mk, vault.recovery_iv]
    for raw in binary:
        secrets += _variants(raw)
    filled = fill_missing(user, walk_registry())
    return Rich(
        user=user,
        client=client,
        friend=friend,
        team=team,
        shared=shared,
        joined=joined,
        secrets=[s for s in secrets if s],
        filled=filled,
    )


# --- A stand-in for mana-credits ---------------------------------------------------------------


@dataclass
class CreditsServer:
    url: str
    statuses: list[int]
    received: list[dict[str, Any]]


@pytest.fixture
def credits_server(settings: Any) -> Iterator[CreditsServer]:
    """An HTTP server on 127.0.0.1 answering each POST with the next queued status (then 200),
    configured as ``MANA_CREDITS_URL``."""
    statuses: list[int] = []
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": json.loads(self.rfile.read(length) or b"{}"),
                }
            )
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            if status in (301, 302, 307, 308):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.MANA_CREDITS_URL = url
    try:
        yield CreditsServer(url=url, statuses=statuses, received=received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_credits(settings: Any) -> Iterator[FakeCredits]:
    """mana-credits as a real HTTP server on a port in 9110-9119 (``tests/fake_credits.py``),
    configured as ``MANA_CREDITS_URL``."""
    with fake_credits_server() as server:
        settings.MANA_CREDITS_URL = server.url
        yield server
