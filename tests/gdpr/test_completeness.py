"""The completeness guard: walk Django's app registry for every model that can hold a user's
data (a foreign key to the user, one hop through a model that has one, a Space, or a plain
user-id / email column) and fail when the export registry forgets it, when the export of a
user with data in every app misses a row, or when deleting that user leaves a row behind."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import OutboxMessage, User
from mana_auth import gdpr
from security.models import SecurityEvent
from spaces.models import Membership, Space
from spaces.selectors import sole_space_ids
from spaces.sync_store.models import SyncChange
from tests.conftest import PASSWORD
from tests.gdpr.conftest import rows_for, walk_registry

pytestmark = pytest.mark.django_db


def test_every_user_related_model_is_exported_or_excluded_with_a_reason():
    walk = walk_registry()
    covered = gdpr.covered_labels()
    unaccounted = sorted(set(walk) - covered - set(gdpr.excluded()))
    assert not unaccounted, (
        f"{unaccounted} can hold a user's data but no app's gdpr.py exports them "
        "(register_export) or excludes them with a reason (register_excluded)"
    )
    assert not covered & set(gdpr.excluded()), "a model is both exported and excluded"
    known = {m._meta.label for m in apps.get_models(include_auto_created=True)}
    stale = (set(gdpr.excluded()) | covered | set(gdpr.retained_after_deletion())) - known
    assert not stale, f"the registry names models that no longer exist: {stale}"
    assert all(len(reason) > 30 for reason in gdpr.excluded().values())
    assert all(len(reason) > 30 for reason in gdpr.retained_after_deletion().values())


def test_the_walk_finds_direct_one_hop_space_and_plain_column_relations():
    walk = walk_registry()
    assert walk["accounts.Session"].user_paths == ["user"]
    assert "session__user" in walk["accounts.RefreshToken"].user_paths
    assert "device__user" in walk["security.BackupCode"].user_paths
    assert walk["spaces.ModulePermission"].space_path == "space"
    assert walk["sync_store.SyncChange"].user_id_columns == ["user_id"]
    assert walk["sync_store.SyncChange"].space_id_columns == ["space_id"]
    assert walk["security.LoginThrottle"].email_columns == ["email_key"]
    assert walk["vault.VaultAudit"].user_paths == ["user"]
    assert User.groups.through._meta.label in walk
    assert "persona__user" in walk["personas.PersonaAction"].user_paths


def test_a_model_added_later_without_a_registry_entry_fails_the_guard():
    class ForgottenNote(models.Model):
        owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "accounts"

        def __str__(self) -> str:
            return "forgotten"

    try:
        walk = walk_registry()
        assert "accounts.ForgottenNote" in walk
        assert "accounts.ForgottenNote" not in gdpr.covered_labels() | set(gdpr.excluded())
    finally:
        del apps.all_models["accounts"]["forgottennote"]
        apps.clear_cache()
    assert "accounts.ForgottenNote" not in walk_registry()


def test_the_export_covers_every_row_of_a_user_with_data_in_every_app(rich_user):
    user = rich_user.user
    personal = Space.objects.get(created_by=user, type="personal")
    sole = sole_space_ids(user=user)
    assert set(sole) == {personal.id, rich_user.team.id}
    export = gdpr.export_build(user=user)
    text = json.dumps(export.document, cls=DjangoJSONEncoder)
    checked = []
    for label, rel in sorted(walk_registry().items()):
        if label in gdpr.excluded():
            continue
        expected = rows_for(rel, user_id=user.pk, email=user.email, space_ids=sole)
        assert expected, f"{label}: the fixture made no data, so the export of it is untested"
        missing = expected - export.covered.get(label, set())
        assert not missing, f"the export misses {len(missing)} row(s) of {label}"
        assert export.document["coverage"][label]["records"] >= len(expected)
        if isinstance(rel.model._meta.pk, models.UUIDField):
            absent = {key for key in expected if key not in text}
            assert not absent, f"{label}: rows {absent} are not in the document"
        checked.append(label)
    assert {"spaces.Membership", "vault.VaultAudit", "sync_store.SyncChange"} <= set(checked)
    for key in ("profile", "sessions", "passkeys", "secondFactors", "apiKeys", "encryptionVault"):
        assert export.document[key], key
    for key in ("spaces", "invitations", "securityEvents", "signInAttempts", "syncedAppData"):
        assert export.document[key], key
    assert export.document["notExported"] == gdpr.excluded()


def test_deleting_a_user_with_data_in_every_app_leaves_no_row_behind(
    rich_user, django_capture_on_commit_callbacks
):
    user, friend = rich_user.user, rich_user.friend
    user_id, email = user.pk, user.email
    sole = sole_space_ids(user=user)
    walk = walk_registry()
    before = {
        label: rows_for(rel, user_id=user_id, email=email, space_ids=sole)
        for label, rel in walk.items()
    }
    assert all(before[label] for label in walk if label not in ("accounts.OutboxMessage",)), [
        label for label in walk if not before[label]
    ]
    events = set(SecurityEvent.objects.filter(user=user).values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = rich_user.client.delete("/api/v1/me/data", {"password": PASSWORD}, format="json")
    assert response.status_code == 204, response.content

    leftovers = {}
    for label, rel in walk.items():
        keys = rows_for(rel, user_id=user_id, email=email, space_ids=sole)
        if keys:
            leftovers[label] = keys
    # What may stay, each with its reason in the registry, and only in that shape.
    assert set(leftovers) <= set(gdpr.retained_after_deletion()), leftovers
    notices = OutboxMessage.objects.filter(user_id=user_id)
    assert {m.event for m in notices} <= {"user.deleted"}
    assert all(m.delivered_at for m in notices)
    kept_sync = SyncChange.objects.filter(user_id=str(user_id))
    assert {row.space_id for row in kept_sync} == {str(rich_user.shared.id)}
    # The audit trail survives without the person.
    survivors = SecurityEvent.objects.filter(id__in=events)
    assert survivors.count() == len(events)
    assert not survivors.filter(user__isnull=False).exists()
    assert not survivors.filter(ip_address__isnull=False).exists()
    assert SecurityEvent.objects.filter(type="ACCOUNT_DELETED", user__isnull=True).exists()
    # Everyone else's data stays.
    assert User.objects.filter(pk=friend.pk).exists()
    assert Space.objects.filter(id__in=[rich_user.shared.id, rich_user.joined.id]).count() == 2
    assert Space.objects.get(id=rich_user.shared.id).created_by_id is None
    assert Membership.objects.filter(user=friend).count() == 4  # personal, shared, joined, other
