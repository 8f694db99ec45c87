"""Refuse to serve production traffic from a configuration that silently voids a guarantee.

Settings already refuse missing or malformed secrets. One more thing can only be judged once
the process knows its database connection: **the database role.** A PostgreSQL superuser, or
any role with ``BYPASSRLS``, is exempt from the row-level security that keeps one user's vault
rows from another's queries. The service must connect as an ordinary role (README, "Running in
production").

The worker count needs no check: what workers must share (rate counters, passkey ceremonies,
revocation markers) lives in Redis or PostgreSQL, never in one process
(``security.shared_state``), so any number of workers is correct with or without Redis.

``mana_auth.wsgi`` runs :func:`production_serving_check` when the application is loaded in
production, so every server that serves the WSGI application (gunicorn's workers, or any
other) refuses before its first request. Management commands do not load the WSGI
application, so ``migrate`` and the other operations still run.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from mana_auth.config import ConfigError


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


def production_serving_check() -> None:
    """Raise ``ConfigError`` naming every reason not to serve (production only)."""
    if not settings.IS_PRODUCTION:
        return
    # The default database holds the vault; the sync store (SYNC_DATABASE_URL) has no row
    # security to bypass and must not stop a boot when it is down.
    refuse(database_role_problems(connections["default"]))
