"""Refuse to serve production traffic from a configuration that silently voids a guarantee.

Settings already refuse missing or malformed secrets. Two more things can only be judged once
the process knows its database connection and how many workers serve it:

- **The database role.** A PostgreSQL superuser, or any role with ``BYPASSRLS``, is exempt
  from the row-level security that keeps one user's vault rows from another's queries. The
  service must connect as an ordinary role (README, "Running in production").
- **A process-local cache with several workers.** Rate limits, lockout helpers, ceremony
  state and revocation markers that live in one worker's memory are not seen by the next
  worker: limits multiply by the worker count and a revocation is forgotten elsewhere.

``mana_auth.wsgi`` runs :func:`production_serving_check` when the application is loaded in
production, so every server that serves the WSGI application (gunicorn's workers, or any
other) refuses before its first request; ``gunicorn.conf.py`` repeats the cache check with
gunicorn's real worker count. Management commands do not load the WSGI application, so
``migrate`` and the other operations still run (as the same ordinary role, ideally).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

from mana_auth.config import ConfigError, env_int

# Backends that keep their entries in the process (or nowhere): not shared between workers.
PROCESS_LOCAL_CACHE_BACKENDS = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


def workers_from_env(env: Mapping[str, str] | None = None) -> int:
    """How many processes serve the application, as the environment declares it
    (``GUNICORN_WORKERS``, or ``WEB_CONCURRENCY`` as many platforms set it); 1 if unsaid."""
    values = env if env is not None else os.environ
    counts = [env_int(values, name, None) for name in ("GUNICORN_WORKERS", "WEB_CONCURRENCY")]
    return max([count for count in counts if count is not None], default=1)


def shared_state_backend(caches: Mapping[str, Mapping[str, Any]]) -> str:
    """The backend of the store that holds what every worker must see the same (rate
    counters, passkey ceremonies, revocation markers): here, Django's default cache."""
    return str(caches.get("default", {}).get("BACKEND", ""))


def cache_problems(*, caches: Mapping[str, Mapping[str, Any]], workers: int) -> list[str]:
    """Why ``caches`` cannot serve ``workers`` processes (empty: they can)."""
    if workers <= 1:
        return []
    backend = shared_state_backend(caches)
    if backend in PROCESS_LOCAL_CACHE_BACKENDS:
        return [
            f"{workers} workers share no cache: the default cache is {backend.rsplit('.', 1)[-1]}, "
            "which lives inside one process, so rate limits, ceremony state and revocation "
            "markers would differ from worker to worker. Configure a shared store "
            "(REDIS_URL) or run one worker."
        ]
    return []


def database_role_problems(connection: BaseDatabaseWrapper) -> list[str]:
    """Why the role ``connection`` logs in as must not run the service (empty: it may)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            )
            row = cursor.fetchone()
    except DatabaseError as exc:
        return [
            "could not check the database role (the database did not answer: "
            f"{type(exc).__name__}); refusing to serve without knowing it"
        ]
    finally:
        connection.close()  # opened for this check only; requests open their own
    if row is None:
        return ["could not find the database role in pg_roles"]
    role, superuser, bypass = row
    problems = []
    if superuser:
        problems.append(
            f"the database role {role!r} is a PostgreSQL superuser (rolsuper), which row-level "
            "security does not bind: connect as an ordinary role (NOSUPERUSER NOBYPASSRLS)"
        )
    if bypass:
        problems.append(
            f"the database role {role!r} has BYPASSRLS (rolbypassrls), which skips the vault's "
            "row-level security: connect as an ordinary role (NOSUPERUSER NOBYPASSRLS)"
        )
    return problems


def refuse(problems: list[str]) -> None:
    if problems:
        raise ConfigError("Refusing to serve in production:\n  - " + "\n  - ".join(problems))


def production_serving_check(*, workers: int) -> None:
    """Raise ``ConfigError`` naming every reason not to serve (production only)."""
    from django.conf import settings
    from django.db import connections

    if not settings.IS_PRODUCTION:
        return
    # The default database holds the vault; the sync store (SYNC_DATABASE_URL) has no row
    # security to bypass and must not stop a boot when it is down.
    problems = cache_problems(caches=settings.CACHES, workers=workers)
    problems += database_role_problems(connections["default"])
    refuse(problems)
