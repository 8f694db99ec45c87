"""Seed many users fast, with PostgreSQL COPY (psycopg 3 ``cursor.copy``), not the ORM.

Each user gets what sign-up gives (``accounts.registration`` + the ``user_created`` hook): a
verified account, a personal Space (``type=personal``, ``created_by`` the user) with the user
as its owner member; and 2 sessions, each with one live refresh token (sign-ins leave those
behind). Every column comes from the model: the values below for the columns that identify a
row or matter to the hot paths, the field's default for every other one; a NOT NULL column
with neither (a field added since) stops the seed with its name instead of failing halfway,
and so does a NOT NULL column the database has and the models do not. All users share one
valid argon2 hash (computed once with the service's hasher), so signing in as any of them
works with that password.

    python -m bench.scale --start 0 --users 100000    # prints JSON on stdout

Runs with the server's environment (the bench database's ordinary role; COPY FROM STDIN
needs no superuser). Users already seeded by an earlier call are kept: ``--start`` numbers
the new ones after them (bench.bench grows 1k → 100k → 1M).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

BATCH = 50_000  # users per transaction
SESSIONS_PER_USER = 2
EMAIL_DOMAIN = "scale.bench.example.com"


def text_value(value: Any) -> str:
    """One value in COPY's text format (our values never hold tabs, newlines or backslashes;
    anything that could is refused)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        if any(char in value for char in "\t\n\r\\"):
            raise ValueError(f"value needs escaping for COPY: {value[:40]!r}")
        return value
    raise TypeError(f"no COPY text form for {type(value).__name__}")


@dataclass(eq=False)
class Table:
    """A model's table: its columns in COPY order and, per row, the values that vary."""

    model: Any
    columns: list[str]
    constants: dict[str, str]  # column -> text value, the same on every row

    def line(self, varying: dict[str, Any]) -> str:
        return (
            "\t".join(
                text_value(varying[column]) if column in varying else self.constants[column]
                for column in self.columns
            )
            + "\n"
        )


def table_for(model: Any, varying: set[str], now: datetime) -> Table:
    """Every concrete column of ``model``: ``varying`` ones are given per row; the others take
    the field's default once (``auto_now``/``auto_now_add``: ``now``). Raises on a NOT NULL
    column with no value, naming it."""
    from django.db import connection

    columns, constants, missing = [], {}, []
    for field in model._meta.concrete_fields:
        column = field.column
        if column in varying:
            columns.append(column)
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value: Any = now
        elif field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        elif field.primary_key and field.get_internal_type() in ("AutoField", "BigAutoField"):
            continue  # an identity column: the database numbers the rows
        else:
            missing.append(column)
            continue
        if hasattr(value, "pk") and not isinstance(value, dict | list):
            value = value.pk
        prepared = field.get_db_prep_save(value, connection)
        if hasattr(prepared, "obj"):  # psycopg's Jsonb wrapper
            prepared = prepared.obj
        columns.append(column)
        constants[column] = text_value(prepared)
    if missing:
        raise SystemExit(
            f"bench.scale: {model._meta.db_table} has NOT NULL column(s) without a value: "
            f"{', '.join(missing)} (give them one in bench/scale.py)"
        )
    unknown = set(varying) - set(columns)
    if unknown:
        raise SystemExit(f"bench.scale: {model._meta.db_table} has no column(s) {unknown}")
    return Table(model, columns, constants)


def database_not_null_check(tables: list[Table]) -> None:
    """The database's own NOT NULL columns without a default must all be in the COPY."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s"
                " AND is_nullable = 'NO' AND column_default IS NULL"
                " AND is_identity = 'NO' AND is_generated = 'NEVER'",
                [table.model._meta.db_table],
            )
            absent = sorted({row[0] for row in cursor.fetchall()} - set(table.columns))
            if absent:
                raise SystemExit(
                    f"bench.scale: {table.model._meta.db_table} has NOT NULL column(s) the "
                    f"models do not declare: {', '.join(absent)}"
                )


def random_hex() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def seed(
    *,
    start: int,
    users: int,
    password: str | None = None,
    batch: int = BATCH,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """COPY ``users`` users numbered from ``start`` (each with a personal Space, its owner
    membership, and 2 sessions with a refresh token each) into the default database, in
    transactions of ``batch`` users. Returns what it wrote."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.emails import email_key
    from accounts.models import RefreshToken, Session, Tier, User
    from spaces.models import Membership, Space, SpaceRole, SpaceType

    now = timezone.now()
    expires = now + timedelta(days=settings.REFRESH_TTL_DAYS)
    encoded = make_password(password or secrets.token_urlsafe(24))
    user_t = table_for(
        User,
        {"id", "email", "email_key", "password", "email_verified_at", "access_tier"},
        now,
    )
    space_t = table_for(
        Space, {"id", "name", "slug", "type", "tier", "metadata", "created_by_id"}, now
    )
    member_t = table_for(Membership, {"space_id", "user_id", "role"}, now)
    session_t = table_for(
        Session, {"id", "user_id", "cookie_hash", "auth_method", "expires_at"}, now
    )
    refresh_t = table_for(RefreshToken, {"token_hash", "session_id", "expires_at"}, now)
    tables = [user_t, space_t, member_t, session_t, refresh_t]
    database_not_null_check(tables)

    def rows(first: int, count: int) -> Iterator[dict[Table, str]]:
        for index in range(first, first + count):
            user_id, space_id = uuid.uuid4(), uuid.uuid4()
            email = f"scale-{index}@{EMAIL_DOMAIN}"
            lines = {
                user_t: user_t.line(
                    {
                        "id": user_id,
                        "email": email,
                        "email_key": email_key(email),
                        "password": encoded,
                        "email_verified_at": now,
                        "access_tier": Tier.PUBLIC.value,
                    }
                ),
                space_t: space_t.line(
                    {
                        "id": space_id,
                        "name": "Personal",
                        "slug": f"scale-{index}",
                        "type": SpaceType.PERSONAL.value,
                        "tier": Tier.PUBLIC.value,
                        "metadata": {},
                        "created_by_id": user_id,
                    }
                ),
                member_t: member_t.line(
                    {"space_id": space_id, "user_id": user_id, "role": SpaceRole.OWNER.value}
                ),
                session_t: "",
                refresh_t: "",
            }
            for _ in range(SESSIONS_PER_USER):
                session_id = uuid.uuid4()
                lines[session_t] += session_t.line(
                    {
                        "id": session_id,
                        "user_id": user_id,
                        "cookie_hash": random_hex(),
                        "auth_method": "password",
                        "expires_at": expires,
                    }
                )
                lines[refresh_t] += refresh_t.line(
                    {"token_hash": random_hex(), "session_id": session_id, "expires_at": expires}
                )
            yield lines

    started = time.monotonic()
    done = 0
    while done < users:
        count = min(batch, users - done)
        buffers: dict[Table, list[str]] = {table: [] for table in tables}
        for lines in rows(start + done, count):
            for table, text in lines.items():
                buffers[table].append(text)
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
            for table in tables:  # parents first: the foreign keys are checked at commit
                statement = "COPY {} ({}) FROM STDIN".format(
                    connection.ops.quote_name(table.model._meta.db_table),
                    ", ".join(connection.ops.quote_name(column) for column in table.columns),
                )
                with raw.copy(statement) as copy:
                    text = "".join(buffers[table])
                    for offset in range(0, len(text), 1 << 20):
                        copy.write(text[offset : offset + (1 << 20)])
        done += count
        if progress:
            progress(f"{done:,}/{users:,} users ({time.monotonic() - started:.0f} s)")
    seconds = time.monotonic() - started
    return {"users": users, "seconds": seconds, "tables": [t.model._meta.db_table for t in tables]}


def facts(tables: list[str]) -> dict[str, Any]:
    """Row counts of the seeded tables and the database's size."""
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for name in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608
            counts[name] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    return {"rows": counts, "database_bytes": size}


def analyze(tables: list[str]) -> float:
    """VACUUM (ANALYZE) the seeded tables (fresh statistics and visibility map, as autovacuum
    would leave them); returns the seconds it took."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        for name in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(name)}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
    import django

    django.setup()

    def progress(text: str) -> None:
        print(f"bench.scale: {text}", file=sys.stderr, flush=True)

    result = seed(start=args.start, users=args.users, batch=args.batch, progress=progress)
    result["copy_seconds"] = result["seconds"]
    result["analyze_seconds"] = analyze(result["tables"])
    result["seconds"] = result["copy_seconds"] + result["analyze_seconds"]
    result.update(facts(result["tables"]))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
