"""Liveness and readiness probes."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse

from mana_auth.errors import is_infrastructure_error


def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise ConnectionError("cache did not return the value it was given")
    cache.delete(key)
    return "ok"


def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the cache answer. 503 with each check's state otherwise."""
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database), ("cache", _check_cache)):
        try:
            checks[name] = check()
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            checks[name] = "unavailable"
    ok = all(state == "ok" for state in checks.values())
    if ok:
        return JsonResponse({"status": "ok", "checks": checks})
    return JsonResponse(
        {
            "code": "SERVICE_UNAVAILABLE",
            "message": "A dependency is unavailable.",
            "details": {"checks": checks},
        },
        status=503,
    )
