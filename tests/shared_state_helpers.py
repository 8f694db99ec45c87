"""Point ``security.shared_state`` at Redis (or leave it on PostgreSQL) inside a test."""

from __future__ import annotations

import os
from typing import Any

from security import shared_state


def redis_clear() -> None:
    """Delete this test process's keys (its own prefix) from the test Redis."""
    client = shared_state.redis_client()
    from django.conf import settings

    keys = list(client.scan_iter(match=f"{settings.CACHE_KEY_PREFIX}:*", count=500))
    if keys:
        client.delete(*keys)


def store_select(settings: Any, store: str, url: str) -> None:
    """``store`` is "postgres" (no REDIS_URL, the default in tests) or "redis" (at ``url``)."""
    if store == "redis":
        settings.REDIS_URL = url
        settings.CACHE_KEY_PREFIX = f"test-{os.getpid()}"
        redis_clear()
    else:
        settings.REDIS_URL = ""
