"""The compose stack ships an ordinary database role (issue 15, point 6): its init script makes
a NOSUPERUSER NOBYPASSRLS role that owns the database, the app connects as that role, and the
production server migrates and serves as it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import yaml
from django.db import connection

from tests.foundation.test_boot_refusals import _serve
from tests.foundation.test_platform import GOOD_PRODUCTION

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "scripts" / "postgres-init" / "10-mana-auth-role.sh"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _defaults(value: str) -> str:
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_the_compose_app_connects_as_the_ordinary_role_the_init_script_makes():
    services = _compose()["services"]
    url = _defaults(services["app"]["environment"]["DATABASE_URL"])
    assert url.startswith("postgres://mana_auth:")
    assert url.endswith("@db:5432/mana_auth")
    db = services["db"]
    assert "./scripts/postgres-init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert "POSTGRES_DB" not in db["environment"]  # the init script creates it, owned by the role
    assert "MANA_DB_PASSWORD" in db["environment"]


def test_the_init_script_role_migrates_and_serves_in_production(db):
    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", str(settings["PORT"] or 5432)
    name = f"mana_compose_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "PGHOST": host,
        "PGPORT": port,
        "PGPASSWORD": settings["PASSWORD"] or "",
        "POSTGRES_USER": settings["USER"] or "postgres",
        "MANA_DB_USER": name,
        "MANA_DB_NAME": name,
        "MANA_DB_PASSWORD": "compose-test-password",
    }
    admin = psycopg.connect(
        host=host, port=port, user=env["POSTGRES_USER"], dbname="postgres", autocommit=True
    )
    try:
        done = subprocess.run(
            ["sh", str(INIT)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        role = admin.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole FROM pg_roles "
            "WHERE rolname = %s",
            [name],
        ).fetchone()
        assert role == (False, False, False, False)
        owner = admin.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        assert owner == (name,)

        url = f"postgres://{name}:compose-test-password@{host}:{port}/{name}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MANA_")}
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**base, **GOOD_PRODUCTION, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrated.returncode == 0, migrated.stderr
        code, output = _serve(url, workers=1, redis=True)
        assert code is None, output
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        admin.close()
