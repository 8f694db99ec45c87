"""Reading the predecessor's database: one read-only ``REPEATABLE READ`` transaction on its
own psycopg connection, so every table is read from the same snapshot while the predecessor
keeps running.

Tables are looked up as Better Auth creates them (``"user"``, ``"account"``, ``"twoFactor"``,
… with camelCase columns) and, as the predecessor's Drizzle schema has them, in plural or
snake_case spelling (``auth.users.access_tier``); the predecessor's own tables
(``encryption_vaults``, ``personas``, …) in snake_case. The schema is found by looking for
the user and account tables unless ``--source-schema`` names it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

RAW, TEXT = "raw", "text"


class SourceError(Exception):
    """The source cannot be read as the predecessor's database; the message says why."""


@dataclass(frozen=True)
class Column:
    kind: str = TEXT  # TEXT: read as ``::text`` (enums, uuids, json); RAW: as stored
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    names: tuple[str, ...]
    columns: dict[str, Column]
    order: tuple[str, ...]
    required: bool = False


def _c(kind: str = TEXT, required: bool = False, *aliases: str) -> Column:
    return Column(kind=kind, required=required, aliases=aliases)


SPECS: dict[str, TableSpec] = {
    # Better Auth core (packages/core/src/db/get-tables.ts) and its plugins' schemas.
    "user": TableSpec(
        names=("user", "users"),
        columns={
            "id": _c(TEXT, True),
            "email": _c(TEXT, True),
            "emailVerified": _c(RAW, True),
            "name": _c(),
            "image": _c(),
            "createdAt": _c(RAW),
            "updatedAt": _c(RAW),
            # The predecessor's additional fields, and the admin / two-factor plugins'.
            "role": _c(),
            "accessTier": _c(TEXT, False, "tier"),
            "kind": _c(),
            "locale": _c(),
            "twoFactorEnabled": _c(RAW),
            "banned": _c(RAW),
            "banExpires": _c(RAW),
            # The schema-drift column of seed 000 (``auth.users.onboarding_completed_at``).
            "onboardingCompletedAt": _c(RAW),
        },
        order=("createdAt", "id"),
        required=True,
    ),
    "account": TableSpec(
        names=("account", "accounts"),
        columns={
            "id": _c(TEXT, True),
            "userId": _c(TEXT, True),
            "providerId": _c(TEXT, True),
            "password": _c(),
        },
        order=("id",),
        required=True,
    ),
    "twoFactor": TableSpec(
        names=("twoFactor", "two_factor", "twoFactors", "two_factors"),
        columns={
            "id": _c(TEXT, True),
            "userId": _c(TEXT, True),
            "secret": _c(TEXT, True),
            "backupCodes": _c(TEXT, True),
            "verified": _c(RAW),
        },
        order=("id",),
    ),
    "passkey": TableSpec(
        names=("passkey", "passkeys"),
        columns={
            "id": _c(TEXT, True),
            "userId": _c(TEXT, True),
            "credentialID": _c(TEXT, True),
            "publicKey": _c(TEXT, True),
            "counter": _c(RAW, True),
            "deviceType": _c(),
            "backedUp": _c(RAW),
            "transports": _c(),
            "name": _c(),
            "aaguid": _c(),
            "createdAt": _c(RAW),
        },
        order=("id",),
    ),
    "organization": TableSpec(
        names=("organization", "organizations"),
        columns={
            "id": _c(TEXT, True),
            "name": _c(TEXT, True),
            "slug": _c(),
            "logo": _c(),
            "metadata": _c(),
            "createdAt": _c(RAW),
        },
        order=("createdAt", "id"),
    ),
    "member": TableSpec(
        names=("member", "members"),
        columns={
            "id": _c(TEXT, True),
            "organizationId": _c(TEXT, True),
            "userId": _c(TEXT, True),
            "role": _c(),
            "createdAt": _c(RAW),
        },
        order=("createdAt", "id"),
    ),
    "invitation": TableSpec(
        names=("invitation", "invitations"),
        columns={
            "id": _c(TEXT, True),
            "organizationId": _c(TEXT, True),
            "email": _c(TEXT, True),
            "role": _c(),
            "status": _c(),
            "expiresAt": _c(RAW),
            "inviterId": _c(),
            "createdAt": _c(RAW),
        },
        order=("id",),
    ),
    # The api-key plugin: ``userId`` up to 1.4, ``referenceId`` (+ ``configId``) since.
    "apikey": TableSpec(
        names=("apikey", "apikeys", "api_key", "api_keys"),
        columns={
            "id": _c(TEXT, True),
            "userId": _c(TEXT, True, "referenceId", "reference_id"),
            "key": _c(TEXT, True),
            "name": _c(),
            "start": _c(),
            "prefix": _c(),
            "enabled": _c(RAW),
            "expiresAt": _c(RAW),
            "createdAt": _c(RAW),
            "updatedAt": _c(RAW),
            "permissions": _c(),
            "metadata": _c(),
            "remaining": _c(RAW),
        },
        order=("id",),
    ),
    "jwks": TableSpec(
        names=("jwks",),
        columns={"id": _c(TEXT, True), "createdAt": _c(RAW)},
        order=("id",),
    ),
    # The predecessor's own tables (seeds: sql/002, sql/003, the personas migration).
    "encryption_vaults": TableSpec(
        names=("encryption_vaults",),
        columns={
            "userId": _c(TEXT, True),
            "wrappedMk": _c(),
            "wrapIv": _c(),
            "formatVersion": _c(RAW),
            "kekId": _c(),
            "createdAt": _c(RAW),
            "rotatedAt": _c(RAW),
            "recoveryWrappedMk": _c(),
            "recoveryIv": _c(),
            "recoveryFormatVersion": _c(RAW),
            "recoverySetAt": _c(RAW),
            "zeroKnowledge": _c(RAW),
        },
        order=("userId",),
    ),
    "encryption_vault_audit": TableSpec(
        names=("encryption_vault_audit",),
        columns={
            "id": _c(TEXT, True),
            "userId": _c(TEXT, True),
            "action": _c(TEXT, True),
            "ipAddress": _c(),
            "userAgent": _c(),
            "status": _c(RAW),
            "context": _c(),
            "createdAt": _c(RAW),
        },
        order=("createdAt", "id"),
    ),
    "personas": TableSpec(
        names=("personas",),
        columns={
            "userId": _c(TEXT, True),
            "archetype": _c(TEXT, True),
            "systemPrompt": _c(),
            "moduleMix": _c(),
            "tickCadence": _c(),
            "lastActiveAt": _c(RAW),
            "createdAt": _c(RAW),
        },
        order=("userId",),
    ),
    "persona_actions": TableSpec(
        names=("persona_actions",),
        columns={
            "id": _c(TEXT, True),
            "personaId": _c(TEXT, True, "userId", "user_id"),
            "tickId": _c(TEXT, True),
            "toolName": _c(TEXT, True),
            "inputHash": _c(TEXT, True),
            "result": _c(),
            "detail": _c(),
            "latencyMs": _c(RAW),
            "createdAt": _c(RAW),
        },
        order=("createdAt", "id"),
    ),
    "persona_feedback": TableSpec(
        names=("persona_feedback",),
        columns={
            "id": _c(TEXT, True),
            "personaId": _c(TEXT, True, "userId", "user_id"),
            "tickId": _c(TEXT, True),
            "module": _c(TEXT, True),
            "rating": _c(RAW, True),
            "notes": _c(),
            "createdAt": _c(RAW),
        },
        order=("createdAt", "id"),
    ),
}


def snake(name: str) -> str:
    """``emailVerified`` → ``email_verified``, ``credentialID`` → ``credential_id``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z]+)", r"_\1", name).lower()


@dataclass(frozen=True)
class ResolvedTable:
    key: str
    name: str
    columns: dict[str, str]  # logical → actual column


def utc(value: Any) -> Any:
    """Timestamps without a time zone (Drizzle's default) are UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Source:
    """The predecessor's database, read through one consistent snapshot."""

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout: int = 10):
        self.url = url
        self.requested_schema = schema
        self.connect_timeout = connect_timeout
        self.schema = ""
        self.tables: dict[str, ResolvedTable] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self._cursor_seq = 0

    # -- Opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, start the snapshot and find the tables; ``SourceError`` says what is wrong."""
        try:
            conn = psycopg.connect(
                self.url, connect_timeout=self.connect_timeout, application_name="mana-import"
            )
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to the source database: {_first_line(exc)}") from exc
        except (ValueError, TypeError) as exc:  # a malformed URL never reaches the network
            raise SourceError(f"the source URL is not a PostgreSQL URL: {exc}") from exc
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        self._conn = conn
        try:
            self._resolve()
        except psycopg.Error as exc:
            self.close()
            raise SourceError(f"cannot read the source database: {_first_line(exc)}") from exc
        except SourceError:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()  # read-only: nothing to keep
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise RuntimeError("the source is not open")
        return self._conn

    def _columns_by_table(self, schema: str) -> dict[str, set[str]]:
        rows = self.conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s",
            [schema],
        ).fetchall()
        found: dict[str, set[str]] = {}
        for table, column in rows:
            found.setdefault(table, set()).add(column)
        return found

    def _looks_like_better_auth(self, tables: dict[str, set[str]]) -> bool:
        user = next((tables[n] for n in SPECS["user"].names if n in tables), None)
        account = next((tables[n] for n in SPECS["account"].names if n in tables), None)
        if user is None or account is None:
            return False
        has = lambda cols, name: name in cols or snake(name) in cols  # noqa: E731
        return has(user, "email") and has(user, "emailVerified") and has(account, "providerId")

    def _resolve(self) -> None:
        if self.requested_schema:
            schema = self.requested_schema
            tables = self._columns_by_table(schema)
            if not self._looks_like_better_auth(tables):
                raise SourceError(
                    f"schema {schema!r} of the source holds no Better Auth user and account "
                    "tables: not the predecessor's database?"
                )
        else:
            schemas = [
                row[0]
                for row in self.conn.execute(
                    "SELECT DISTINCT table_schema FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "ORDER BY 1"
                ).fetchall()
            ]
            matching = [
                s for s in schemas if self._looks_like_better_auth(self._columns_by_table(s))
            ]
            if not matching:
                raise SourceError(
                    "the source holds no Better Auth user and account tables (looked in "
                    f"{', '.join(schemas) or 'no schema'}): not the predecessor's database?"
                )
            if len(matching) > 1:
                raise SourceError(
                    f"Better Auth tables in several schemas ({', '.join(matching)}); "
                    "name one with --source-schema"
                )
            schema = matching[0]
            tables = self._columns_by_table(schema)
        self.schema = schema
        for key, spec in SPECS.items():
            name = next((n for n in spec.names if n in tables), None)
            if name is None:
                if spec.required:
                    raise SourceError(f"the source has no {spec.names[0]!r} table")
                continue
            available = tables[name]
            columns: dict[str, str] = {}
            for logical, column in spec.columns.items():
                candidates = [logical, snake(logical)]
                for alias in column.aliases:
                    candidates += [alias, snake(alias)]
                actual = next((c for c in candidates if c in available), None)
                if actual is not None:
                    columns[logical] = actual
                elif column.required:
                    raise SourceError(
                        f"table {name!r} of the source has no {logical!r} column: "
                        "not a Better Auth schema this importer knows"
                    )
            self.tables[key] = ResolvedTable(key=key, name=name, columns=columns)
        self._check_row_security()

    def _check_row_security(self) -> None:
        """The predecessor put its vault tables under FORCE ROW LEVEL SECURITY: a role that
        cannot bypass it would read them as empty and the import would miss every vault."""
        row = self.conn.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if row is not None and row[0]:
            return
        for key in ("encryption_vaults", "encryption_vault_audit"):
            if not self.has(key):
                continue
            found = self.conn.execute(
                "SELECT c.relrowsecurity, c.relforcerowsecurity, "
                "pg_get_userbyid(c.relowner) = current_user "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                [self.schema, self.tables[key].name],
            ).fetchone()
            if found is not None and found[0] and (found[1] or not found[2]):
                raise SourceError(
                    f"the source's {self.tables[key].name} table is under row-level security "
                    "and this role cannot bypass it (it would read as empty): connect as a "
                    "role with BYPASSRLS, or as a superuser"
                )

    # -- Reading -------------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.tables

    def has_column(self, key: str, logical: str) -> bool:
        return key in self.tables and logical in self.tables[key].columns

    def _ident(self, key: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(self.tables[key].name)
        )

    def _col(self, key: str, logical: str) -> sql.Identifier:
        return sql.Identifier(self.tables[key].columns[logical])

    def _select_list(self, key: str) -> sql.Composed:
        spec, table = SPECS[key], self.tables[key]
        parts = []
        for logical in table.columns:
            column = sql.Identifier(table.columns[logical])
            template = "{}::text AS {}" if spec.columns[logical].kind == TEXT else "{} AS {}"
            parts.append(sql.SQL(template).format(column, sql.Identifier(logical)))
        return sql.SQL(", ").join(parts)

    def count(self, key: str) -> int:
        if not self.has(key):
            return 0
        query = sql.SQL("SELECT count(*) FROM {}").format(self._ident(key))
        row = self.conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    def rows(self, key: str, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """Every row of a table in a stable order, a batch at a time (a server-side cursor)."""
        if not self.has(key):
            return
        table = self.tables[key]
        order = [sql.Identifier(table.columns[c]) for c in SPECS[key].order if c in table.columns]
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            self._select_list(key), self._ident(key), sql.SQL(", ").join(order)
        )
        self._cursor_seq += 1
        with self.conn.cursor(name=f"mana_import_{self._cursor_seq}") as cursor:
            cursor.itersize = batch_size
            cursor.execute(query)
            names = [d.name for d in cursor.description or []]
            while True:
                batch = cursor.fetchmany(batch_size)
                if not batch:
                    return
                yield [{n: utc(v) for n, v in zip(names, row, strict=True)} for row in batch]

    def sample(
        self, key: str, *, limit: int = 1, where_not_null: str | None = None
    ) -> list[dict[str, Any]]:
        """The first rows (in table order) with ``where_not_null`` set: preflight samples."""
        if not self.has(key) or (where_not_null and not self.has_column(key, where_not_null)):
            return []
        table = self.tables[key]
        order = [sql.Identifier(table.columns[c]) for c in SPECS[key].order if c in table.columns]
        condition = (
            sql.SQL("WHERE {} IS NOT NULL").format(self._col(key, where_not_null))
            if where_not_null
            else sql.SQL("")
        )
        query = sql.SQL("SELECT {} FROM {} {} ORDER BY {} LIMIT {}").format(
            self._select_list(key),
            self._ident(key),
            condition,
            sql.SQL(", ").join(order),
            sql.Literal(limit),
        )
        with self.conn.cursor() as cursor:
            cursor.execute(query)
            names = [d.name for d in cursor.description or []]
            return [
                {n: utc(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()
            ]

    def credential_passwords(self, user_ids: list[str]) -> dict[str, str | None]:
        """The ``credential`` account's password hash of each user that has one."""
        if not user_ids or not self.has_column("account", "password"):
            return {}
        query = sql.SQL(
            "SELECT {user}::text, {password}::text FROM {table} "
            "WHERE {provider} = 'credential' AND {user}::text = ANY(%s)"
        ).format(
            user=self._col("account", "userId"),
            password=self._col("account", "password"),
            provider=self._col("account", "providerId"),
            table=self._ident("account"),
        )
        return {uid: pw for uid, pw in self.conn.execute(query, [user_ids]).fetchall()}

    def account_providers(self) -> Counter[str]:
        query = sql.SQL("SELECT {provider}::text, count(*) FROM {table} GROUP BY 1").format(
            provider=self._col("account", "providerId"), table=self._ident("account")
        )
        return Counter({p: int(n) for p, n in self.conn.execute(query).fetchall()})

    def user_flag(self, logical: str, user_ids: list[str]) -> dict[str, Any]:
        """One column of the user table for the given users (e.g. ``twoFactorEnabled``)."""
        if not user_ids or not self.has_column("user", logical):
            return {}
        query = sql.SQL("SELECT {id}::text, {col} FROM {table} WHERE {id}::text = ANY(%s)").format(
            id=self._col("user", "id"), col=self._col("user", logical), table=self._ident("user")
        )
        return {uid: value for uid, value in self.conn.execute(query, [user_ids]).fetchall()}

    def organization_owners(self) -> dict[str, str]:
        """Each organization's first owner (members may hold several comma-separated roles)."""
        if not self.has("member"):
            return {}
        role = self._col("member", "role") if self.has_column("member", "role") else None
        if role is None:
            return {}
        created = (
            self._col("member", "createdAt")
            if self.has_column("member", "createdAt")
            else self._col("member", "id")
        )
        query = sql.SQL(
            "SELECT DISTINCT ON ({org}) {org}::text, {user}::text FROM {table} "
            "WHERE 'owner' = ANY(string_to_array(replace({role}::text, ' ', ''), ',')) "
            "ORDER BY {org}, {created}, {id}"
        ).format(
            org=self._col("member", "organizationId"),
            user=self._col("member", "userId"),
            role=role,
            created=created,
            id=self._col("member", "id"),
            table=self._ident("member"),
        )
        return {org: user for org, user in self.conn.execute(query).fetchall()}


def _first_line(exc: BaseException) -> str:
    """An error's first line: libpq's messages name host and database, never the password."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
