"""Server-side bootstrap of sync-store singletons.

A fresh client would otherwise create the per-user ``profile/userContext`` row and each
Space's ``kontext/kontextDoc`` row locally and race the first pull, which then overwrites its
edits. Writing them here, as the system, makes every client pull the same row instead.

Each insert is idempotent: an advisory lock on the sync store serialises concurrent callers
for the same singleton, and an existence check skips rows already present. Calls run in
their own transaction on the sync store's alias; when that alias is the main database and a
transaction is open, that is a savepoint, so a failing sync store never poisons the caller's
transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from spaces.routers import sync_alias
from spaces.sync_store.models import SyncChange

BOOTSTRAP_CLIENT_ID = "system:bootstrap"
BOOTSTRAP_ORIGIN = "system"
BOOTSTRAP_ACTOR = {"kind": "system", "principalId": BOOTSTRAP_CLIENT_ID, "displayName": "Bootstrap"}
USER_CONTEXT = ("profile", "userContext")
KONTEXT_DOC = ("kontext", "kontextDoc")


def field_meta(data: dict[str, Any], at: datetime) -> dict[str, str]:
    """Every field except ``id`` stamped with the same time, so clients apply it as a replay."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {key: stamp for key in data if key != "id"}


def empty_user_context(user_id: str) -> dict[str, Any]:
    return {
        "id": "singleton",
        "about": {},
        "interests": [],
        "routine": {},
        "nutrition": {},
        "leisure": {},
        "goals": [],
        "social": {},
        "freeform": "",
        "interview": {"answeredIds": [], "skippedIds": []},
        "userId": user_id,
    }


def empty_kontext_doc() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "content": ""}


def _lock(alias: str, key: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"mana-sync-bootstrap:{key}"])


def _insert(
    *,
    alias: str,
    app_table: tuple[str, str],
    record_id: str,
    user_id: str,
    space_id: str | None,
    data: dict[str, Any],
    now: datetime,
) -> None:
    app_id, table_name = app_table
    SyncChange.objects.using(alias).create(
        app_id=app_id,
        table_name=table_name,
        record_id=record_id,
        user_id=user_id,
        space_id=space_id,
        op="insert",
        data=data,
        field_meta=field_meta(data, now),
        client_id=BOOTSTRAP_CLIENT_ID,
        schema_version=1,
        actor=BOOTSTRAP_ACTOR,
        origin=BOOTSTRAP_ORIGIN,
        created_at=now,
    )


def user_context_bootstrap(*, user_id: str, now: datetime | None = None) -> bool:
    """Insert the user's ``userContext`` singleton unless present. True when inserted."""
    alias = sync_alias()
    current = now or timezone.now()
    with transaction.atomic(using=alias):
        _lock(alias, f"userContext:{user_id}")
        present = (
            SyncChange.objects.using(alias)
            .filter(table_name=USER_CONTEXT[1], record_id="singleton", user_id=user_id)
            .exists()
        )
        if present:
            return False
        _insert(
            alias=alias,
            app_table=USER_CONTEXT,
            record_id="singleton",
            user_id=user_id,
            space_id=None,
            data=empty_user_context(user_id),
            now=current,
        )
    return True


def kontext_doc_bootstrap(
    *, space_id: str, writer_user_id: str, now: datetime | None = None
) -> bool:
    """Insert the Space's ``kontextDoc`` unless any exists for it. True when inserted."""
    alias = sync_alias()
    current = now or timezone.now()
    with transaction.atomic(using=alias):
        _lock(alias, f"kontextDoc:{space_id}")
        present = (
            SyncChange.objects.using(alias)
            .filter(table_name=KONTEXT_DOC[1], space_id=space_id)
            .exists()
        )
        if present:
            return False
        data = empty_kontext_doc()
        _insert(
            alias=alias,
            app_table=KONTEXT_DOC,
            record_id=data["id"],
            user_id=writer_user_id,
            space_id=space_id,
            data=data,
            now=current,
        )
    return True
