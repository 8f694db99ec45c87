"""A predecessor database for each test: created in the test PostgreSQL from the DDL in
``predecessor_schema.sql``, filled with rows made the way Better Auth makes them
(``tests/importer/betterauth.py``), dropped afterwards."""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from psycopg import sql

from tests.importer import betterauth as ba
from tests.passkeys.authenticator import SoftAuthenticator

SCHEMA_SQL = (Path(__file__).parent / "predecessor_schema.sql").read_text()
SECRET = "better-auth-secret-for-the-import-test-0123456789"
ROTATED_SECRET = "rotated-secret-version-two-0123456789abcdef"
ENV = {
    "PRED_SECRET": SECRET,
    "PRED_SECRETS": f"2:{ROTATED_SECRET},1:{SECRET}",
}


def _server_url(dbname: str) -> str:
    """A URL on the test PostgreSQL server for ``dbname``."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def _name_prefix() -> str:
    """``mana_pred_<suffix of the configured database>_``: one helper's names never clash
    with another's (``mana_auth_we`` → ``mana_pred_we_``)."""
    configured = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/") or "mana_auth"
    suffix = configured.removeprefix("mana_auth").strip("_")
    return f"mana_pred_{suffix}_" if suffix else "mana_pred_"


@dataclass
class PredecessorDb:
    url: str
    name: str
    conn: psycopg.Connection[Any]

    def execute(self, query: str, params: Any = None) -> None:
        self.conn.execute(query, params)

    def insert(self, table: str, **values: Any) -> None:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in values)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in values)
        query = sql.SQL("INSERT INTO auth.{} ({}) VALUES ({})").format(
            sql.Identifier(table), columns, marks
        )
        self.conn.execute(query, list(values.values()))

    def url_with(self, **parts: str) -> str:
        split = urlsplit(self.url)
        return urlunsplit(split._replace(**parts))


@pytest.fixture
def predecessor_db() -> Iterator[PredecessorDb]:
    name = f"{_name_prefix()}{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _server_url(name)
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute(SCHEMA_SQL)
        yield PredecessorDb(url=url, name=name, conn=conn)
    finally:
        conn.close()
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _at(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


@dataclass
class Person:
    id: str
    email: str
    password: str | None = None
    totp_secret: str | None = None
    backup_codes: list[str] = field(default_factory=list)
    master_key: bytes | None = None
    api_key: str | None = None
    authenticator: SoftAuthenticator | None = None


@dataclass
class World:
    db: PredecessorDb
    kek: bytes
    people: dict[str, Person] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)
    invitations: dict[str, str] = field(default_factory=dict)
    zk_wrap: tuple[str, str] = ("", "")

    def __getitem__(self, name: str) -> Person:
        return self.people[name]

    # -- Rows as Better Auth writes them -------------------------------------------------------

    def user(
        self,
        name: str,
        email: str,
        *,
        uid: str | None = None,
        password: str | None = None,
        verified: bool = True,
        role: str = "user",
        tier: str = "public",
        kind: str = "human",
        two_factor: bool = False,
        created: datetime | None = None,
    ) -> Person:
        person = Person(id=uid or ba.generate_id(), email=email, password=password)
        self.db.insert(
            "user",
            id=person.id,
            name=name.title(),
            email=email,
            emailVerified=verified,
            createdAt=created or _at(-100),
            updatedAt=created or _at(-100),
            twoFactorEnabled=two_factor,
            role=role,
            accessTier=tier,
            kind=kind,
        )
        if password is not None:
            self.db.insert(
                "account",
                id=ba.generate_id(),
                accountId=person.id,
                providerId="credential",
                userId=person.id,
                password=ba.hash_password(password),
                updatedAt=_at(-100),
            )
        self.people[name] = person
        return person

    def two_factor(
        self, person: Person, *, version: int | None = None, verified: bool | None = True
    ) -> None:
        person.totp_secret = ba.totp_secret()
        person.backup_codes = ba.backup_codes()
        secret = ROTATED_SECRET if version == 2 else SECRET
        self.db.insert(
            "twoFactor",
            id=ba.generate_id(),
            userId=person.id,
            secret=ba.symmetric_encrypt(person.totp_secret, secret, version),
            backupCodes=ba.symmetric_encrypt(json.dumps(person.backup_codes), secret, version),
            verified=verified,
        )

    def passkey(self, person: Person) -> None:
        device = SoftAuthenticator()
        device.sign_count = 5
        person.authenticator = device
        self.db.insert(
            "passkey",
            id=ba.generate_id(),
            name="Laptop",
            publicKey=base64.b64encode(device.cose_public_key()).decode(),
            userId=person.id,
            credentialID=device.credential_id_b64,
            counter=5,
            deviceType="singleDevice",
            backedUp=False,
            transports="internal,hybrid",
            createdAt=_at(-50),
            aaguid="6d616e61-2d74-6573-742d-617574686e00",
        )

    def org(self, key: str, name: str, slug: str, metadata: dict[str, Any] | None) -> str:
        oid = ba.generate_id()
        self.db.insert(
            "organization",
            id=oid,
            name=name,
            slug=slug,
            createdAt=_at(-90),
            metadata=json.dumps(metadata) if metadata is not None else None,
        )
        self.orgs[key] = oid
        return oid

    def member(self, org: str, person: Person, role: str) -> None:
        self.db.insert(
            "member",
            id=ba.generate_id(),
            organizationId=self.orgs[org],
            userId=person.id,
            role=role,
            createdAt=_at(-80),
        )

    def invitation(
        self, key: str, org: str, email: str, inviter: Person, *, status: str, days: float
    ) -> None:
        iid = ba.generate_id()
        self.db.insert(
            "invitation",
            id=iid,
            organizationId=self.orgs[org],
            email=email,
            role="member",
            status=status,
            expiresAt=_at(days),
            inviterId=inviter.id,
        )
        self.invitations[key] = iid

    def api_key(self, person: Person, *, permissions: Any, enabled: bool = True) -> str:
        key = "mana_" + ba.generate_id(59)
        self.db.insert(
            "apikey",
            id=ba.generate_id(),
            configId="default",
            name="CI",
            start=key[:6],
            referenceId=person.id,
            prefix="mana_",
            key=ba.api_key_hash(key),
            enabled=enabled,
            createdAt=_at(-30),
            updatedAt=_at(-30),
            permissions=json.dumps(permissions) if permissions is not None else None,
        )
        return key

    def vault(self, person: Person, kek: bytes) -> None:
        person.master_key = os.urandom(32)
        wrapped, iv = ba.vault_wrap(person.master_key, kek)
        self.db.insert(
            "encryption_vaults", user_id=person.id, wrapped_mk=wrapped, wrap_iv=iv, kek_id="env-v1"
        )

    def zero_knowledge_vault(self, person: Person) -> None:
        wrapped, iv = base64.b64encode(os.urandom(48)), base64.b64encode(b"i" * 12)
        self.zk_wrap = (wrapped.decode(), iv.decode())
        self.db.insert(
            "encryption_vaults",
            user_id=person.id,
            kek_id="env-v1",
            recovery_wrapped_mk=self.zk_wrap[0],
            recovery_iv=self.zk_wrap[1],
            recovery_set_at=_at(-10),
            zero_knowledge=True,
        )

    def audit(self, person: Person, action: str) -> None:
        self.db.insert(
            "encryption_vault_audit",
            id=ba.generate_id(21),
            user_id=person.id,
            action=action,
            ip_address="203.0.113.7",
            user_agent="Mozilla/5.0",
            status=200,
            context=json.dumps({"mode": "standard"}),
        )


def build_world(db: PredecessorDb, own_kek: bytes) -> World:
    """The predecessor as the tests find it (see each test for what it relies on)."""
    world = World(db=db, kek=os.urandom(32))
    alice = world.user(
        "alice",
        "Alice.Smith@Example.COM ",
        password="Alice-Pässwort-ﬁ-2026",
        role="admin",
        tier="founder",
        two_factor=True,
        created=_at(-120),
    )
    world.two_factor(alice)
    world.passkey(alice)
    world.vault(alice, world.kek)
    world.audit(alice, "init")
    world.audit(alice, "fetch")
    alice.api_key = world.api_key(
        alice, permissions={"profile": ["read"], "sync": ["read", "write"], "billing": ["read"]}
    )
    # The same address after normalisation: the later one cannot be imported.
    world.user("alice2", "alice.smith@example.com", password="x-other-password", created=_at(-5))
    bob = world.user("bob", "bob@example.com", uid=str(uuid.uuid4()), password="Bob-Passwort-2026")
    world.vault(bob, own_kek)  # wrapped with this service's own KEK: opens without --source-kek
    world.api_key(bob, permissions=None, enabled=False)
    world.user("dave", "dave@example.com", password="Dave-Passwort-2026")
    erin = world.user("erin", "erin@example.com", password="Erin-Passwort-2026", two_factor=True)
    world.two_factor(erin, version=2)  # under secret rotation: the $ba$2$ envelope
    zoe = world.user("zoe", "zoe@example.com", password="Zoe-Passwort-2026")
    world.zero_knowledge_vault(zoe)
    world.user("gus", "gus@example.com")
    db.insert("account", id=ba.generate_id(), accountId="g-123", providerId="google",
              userId=world["gus"].id, updatedAt=_at(-1))  # fmt: skip
    tom = world.user("tom", "tom@example.com", password="Tom-Passwort-2026")
    world.two_factor(tom, verified=False)  # started, never confirmed
    penny = world.user(
        "penny", "penny@mana.test", password="p" * 64, tier="founder", kind="persona"
    )
    db.insert("personas", user_id=penny.id, archetype="solo-dev", system_prompt="You build.",
              module_mix=json.dumps({"todo": 0.5, "notes": 0.5}), tick_cadence="daily")  # fmt: skip
    for tick in ("t1", "t2"):
        db.insert("persona_actions", persona_id=penny.id, tick_id=tick, tool_name="todo.add",
                  input_hash=f"h-{tick}", result="ok", latency_ms=42)  # fmt: skip
    db.insert("persona_feedback", persona_id=penny.id, tick_id="t1", module="todo", rating=4,
              notes="fine")  # fmt: skip

    world.org("alice-personal", "Personal", "alice-smith", {"type": "personal", "tier": "founder"})
    world.member("alice-personal", alice, "owner")
    world.org("team", "Mana Core", "admin", {"type": "team"})  # a reserved slug here
    world.member("team", alice, "owner")
    world.member("team", bob, "admin")
    world.org("family", "Sun family", "sun-family", {"type": "family"})
    world.member("family", alice, "owner,admin")
    world.member("family", bob, "member")
    world.org("club", "Old club", "old-club", None)  # from before metadata.type was enforced
    world.member("club", bob, "owner")
    world.invitation("dave", "team", "DAVE@example.com", alice, status="pending", days=3)
    world.invitation("late", "team", "late@example.com", alice, status="pending", days=-1)
    world.invitation("done", "family", "x@example.com", alice, status="accepted", days=3)
    db.insert("jwks", id=ba.generate_id(), publicKey="{}", privateKey="enc", createdAt=_at(-200))
    return world


@pytest.fixture
def world(predecessor_db: PredecessorDb, monkeypatch: pytest.MonkeyPatch) -> World:
    built = build_world(predecessor_db, settings.MANA_AUTH_KEK)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRED_KEK", base64.b64encode(built.kek).decode())
    return built


@dataclass
class Outcome:
    out: str
    err: str


def run_import(url: str, *extra: str, secrets: bool = True, kek: bool = True) -> Outcome:
    args = ["--source", url, *extra]
    if secrets:
        args += ["--source-secret-env", "PRED_SECRET", "--source-secrets-env", "PRED_SECRETS"]
    if kek:
        args += ["--source-kek-env", "PRED_KEK"]
    out, err = io.StringIO(), io.StringIO()
    call_command("import_predecessor", *args, stdout=out, stderr=err)
    return Outcome(out=out.getvalue(), err=err.getvalue())
