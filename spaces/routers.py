"""Send the sync store's models to the ``sync`` database alias when one is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings

SYNC_APP_LABEL = "sync_store"


def sync_alias() -> str:
    return "sync" if "sync" in settings.DATABASES else "default"


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
        is_sync = bool(model is not None and self._is_sync(model)) or bool(hints.get("sync_store"))
        if "sync" not in settings.DATABASES:
            return None
        if db == "sync":
            return is_sync
        return False if is_sync else None
