"""Send the sync store's models to the ``sync`` database alias when one is configured.

``SYNC_DATABASE_URL`` (when it differs from ``DATABASE_URL``) adds the ``sync`` alias. Without
it the sync store's tables live in the main database and this router stays out of the way.
With it, ``migrate`` creates them only on ``--database sync`` (run ``manage.py migrate
sync_store --database sync --fake-initial`` against a sync store whose table already exists).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

SYNC_APP_LABEL = "sync_store"
SYNC_ALIAS = "sync"


def sync_alias() -> str:
    """The alias the sync store lives on, read at call time (tests may add it at runtime)."""
    return SYNC_ALIAS if SYNC_ALIAS in settings.DATABASES else "default"


class SyncStoreRouter:
    def _is_sync(self, model: Any) -> bool:
        return getattr(model._meta, "app_label", "") == SYNC_APP_LABEL or getattr(
            model, "sync_store", False
        )

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return sync_alias() if self._is_sync(model) else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return sync_alias() if self._is_sync(model) else None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        model = hints.get("model")
        is_sync = (
            app_label == SYNC_APP_LABEL
            or bool(model is not None and self._is_sync(model))
            or bool(hints.get("sync_store"))
        )
        if SYNC_ALIAS not in settings.DATABASES:
            return None
        if db == SYNC_ALIAS:
            return is_sync
        return False if is_sync else None
