"""Production refuses to serve as a PostgreSQL superuser or BYPASSRLS role (issue 15, point 6),
and serves with several workers with or without Redis (what they share lives in Redis or
PostgreSQL, issue 14 point 2). Each test boots the real thing: gunicorn
with ``gunicorn.conf.py`` and ``mana_auth.wsgi``, MANA_ENV=production, in a subprocess, as a
real role created in the test cluster."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from tests.foundation.test_platform import GOOD_PRODUCTION

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PORTS = range(8400, 8500)  # this worktree's port range


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8400-8499")


@pytest.fixture
def cluster(db) -> Iterator[dict[str, str]]:
    """The test database's coordinates, and a way to make roles in it (dropped afterwards)."""
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    )
    made: list[str] = []

    def role(options: str) -> str:
        name = f"mana_boot_{uuid.uuid4().hex[:10]}"
        admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'boot-test' {options}")
        made.append(name)
        return _url(name, "boot-test")

    def _url(user: str, password: str = "") -> str:
        secret = f":{quote(password)}" if password else ""
        host = db["HOST"] or "127.0.0.1"
        return f"postgres://{user}{secret}@{host}:{db['PORT'] or 5432}/{db['NAME']}"

    try:
        yield {
            "ordinary": role("NOSUPERUSER NOBYPASSRLS"),
            "bypassrls": role("NOSUPERUSER BYPASSRLS"),
            "superuser": _url(db["USER"] or "postgres", db["PASSWORD"] or ""),
        }
    finally:
        for name in made:
            admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.close()


def _serve(database_url: str, *, workers: int, redis: bool = False, cli: tuple[str, ...] = ()):
    """Start gunicorn as production does; return (exit code or None if it serves, output)."""
    port = _free_port()
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MANA_", "GUNICORN_", "DATABASE_", "SYNC_DATABASE"))
        and key not in ("SECRET_KEY", "REDIS_URL", "WEB_CONCURRENCY", "DJANGO_SETTINGS_MODULE")
    }
    env = {
        **base,
        **GOOD_PRODUCTION,
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
    }
    if redis:
        env["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
    process = subprocess.Popen(
        [GUNICORN, "-c", "gunicorn.conf.py", "--no-control-socket", *cli, "mana_auth.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return process.returncode, process.stdout.read().decode()
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return None, ""
            time.sleep(0.3)
        raise AssertionError("gunicorn neither served nor exited within 60 s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        process.stdout.close()


def test_a_superuser_connection_is_refused(cluster):
    code, output = _serve(cluster["superuser"], workers=1, redis=True)
    assert code not in (None, 0)
    assert "Refusing to serve in production" in output
    assert "superuser (rolsuper)" in output


def test_a_bypassrls_role_is_refused(cluster):
    code, output = _serve(cluster["bypassrls"], workers=1, redis=True)
    assert code not in (None, 0)
    assert "BYPASSRLS (rolbypassrls)" in output
    assert "superuser" not in output


def test_an_unreachable_database_is_refused_not_assumed_safe(cluster):
    code, output = _serve("postgres://nobody@127.0.0.1:1/none", workers=1, redis=True)
    assert code not in (None, 0)
    assert "could not check the database role" in output


@pytest.mark.parametrize(("workers", "redis"), [(2, True), (2, False), (1, False)])
def test_an_ordinary_role_serves_with_any_number_of_workers_with_or_without_redis(
    cluster, workers, redis
):
    code, output = _serve(cluster["ordinary"], workers=workers, redis=redis)
    assert code is None, output


def test_management_commands_still_run_as_the_owner(cluster):
    # migrate, check and the operations commands never load the WSGI application.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MANA_") and key != "SECRET_KEY"
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check", "--no-input"],
        cwd=ROOT,
        env={**env, **GOOD_PRODUCTION, "DATABASE_URL": cluster["superuser"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
