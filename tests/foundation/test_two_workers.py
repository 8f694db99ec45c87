"""The real service, as the README runs it, without Redis: gunicorn with two sync workers,
MANA_ENV=test, no REDIS_URL, its own freshly migrated database, a free port on loopback.

Every request goes over a fresh connection, so which worker answers is the kernel's choice; each
response names its worker (``tests/workers_wsgi.py``), and the tests check that requests of one
flow really landed on both. What must hold whichever worker answers:

- passkey registration and sign-in, 20 times in a row (options and verify are separate requests);
- a logout is seen by the other worker at once (``validate`` answers invalid right after);
- a per-IP limit holds across both workers: exactly the budget succeeds, then 429.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from security import ratelimit
from tests.passkeys.authenticator import SoftAuthenticator

pytestmark = pytest.mark.workers

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "two workers share one truth 7"
ROUNDS = 20


@dataclass
class Answer:
    status: int
    body: Any
    worker: str


@dataclass
class Server:
    port: int
    workers: set[str] = field(default_factory=set)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Answer:
        """One request on a fresh connection (sync workers close it after the answer)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            payload = json.dumps(body) if body is not None else None
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            worker = response.getheader("X-Test-Worker") or ""
        finally:
            connection.close()
        self.workers.add(worker)
        return Answer(response.status, json.loads(raw) if raw else None, worker)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url() -> str:
    """A database of its own, next to the test database, named for this test."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/mana_auth"
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'mana_auth'}_two_workers"
    return urlunsplit(parts._replace(path=f"/{name}"))


def _database(url: str, *, create: bool) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if create:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = _database_url()
    log_path = tmp_path_factory.mktemp("two-workers") / "gunicorn.log"
    port = _free_port()
    origin = f"http://localhost:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MANA_", "REDIS_", "WEBAUTHN_", "GUNICORN_", "RATE_LIMIT"))
    }
    env.update(
        MANA_ENV="test",
        DATABASE_URL=url,
        BASE_URL=origin,
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS=origin,
        REQUIRE_EMAIL_VERIFICATION="false",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        # Passkey options are limited per IP (20/min); this test makes 40 in a minute from one.
        RATE_LIMIT_OVERRIDES=f"{ratelimit.PASSKEY_OPTIONS_IP.name}=1000",
        LOG_LEVEL="WARNING",
    )
    env.pop("REDIS_URL", None)
    _database(url, create=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "tests.workers_wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Server(port=port)
    try:
        deadline = time.monotonic() + 30
        while len(running.workers - {""}) < 2:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start two workers"
            try:
                running.call("GET", "/health")
            except OSError:
                time.sleep(0.2)
        running.workers.clear()
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        _database(url, create=False)


def _crossed(pairs: list[tuple[str, str]]) -> int:
    return sum(1 for first, second in pairs if first != second)


def _signed_in(server: Server, email: str) -> str:
    answer = server.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert answer.status == 200, answer.body
    return answer.body["accessToken"]


def test_passkey_registration_and_sign_in_twenty_times_across_two_workers(server: Server):
    email = "passkeys@example.com"
    created = server.call("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert created.status == 201, created.body
    token = _signed_in(server, email)
    origin = f"http://localhost:{server.port}"
    base = "/api/v1/auth/passkeys/"
    registrations: list[tuple[str, str]] = []
    sign_ins: list[tuple[str, str]] = []
    for round_ in range(ROUNDS):
        device = SoftAuthenticator(origin=origin, rp_id="localhost")
        options = server.call("POST", f"{base}register/options", {"password": PASSWORD}, token)
        assert options.status == 200, (round_, options.body)
        stored = server.call(
            "POST", f"{base}register/verify", {"credential": device.create(options.body)}, token
        )
        assert stored.status == 201, (round_, stored.body)
        registrations.append((options.worker, stored.worker))

        request = server.call("POST", f"{base}authenticate/options", {})
        assert request.status == 200, (round_, request.body)
        # The contract's body: the credential alone.
        verified = server.call(
            "POST", f"{base}authenticate/verify", {"credential": device.get(request.body)}
        )
        assert verified.status == 200, (round_, verified.body)
        assert verified.body["user"]["email"] == email
        sign_ins.append((request.worker, verified.worker))
    assert len(server.workers) == 2
    assert _crossed(registrations) >= 3, registrations
    assert _crossed(sign_ins) >= 3, sign_ins


def test_a_logout_is_seen_by_the_other_worker_at_once(server: Server):
    email = "revocation@example.com"
    created = server.call("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert created.status == 201, created.body
    pairs: list[tuple[str, str]] = []
    for round_ in range(ROUNDS):
        token = _signed_in(server, email)
        live = server.call("POST", "/api/v1/auth/validate", {"token": token})
        assert live.status == 200 and live.body["valid"] is True, (round_, live.body)
        logout = server.call("POST", "/api/v1/auth/logout", None, token)
        assert logout.status == 204, (round_, logout.body)
        after = server.call("POST", "/api/v1/auth/validate", {"token": token})
        assert after.body == {"valid": False, "code": "SESSION_REVOKED"}, (round_, after.worker)
        pairs.append((logout.worker, after.worker))
    assert _crossed(pairs) >= 3, pairs


def test_a_per_ip_limit_holds_across_both_workers(server: Server):
    budget = ratelimit.FORGOT_IP.limit
    answers = [
        server.call("POST", "/api/v1/auth/forgot-password", {"email": f"f{index}@example.com"})
        for index in range(budget + 3)
    ]
    assert [answer.status for answer in answers] == [202] * budget + [429] * 3
    assert answers[budget].body["code"] == "RATE_LIMITED"
    assert len({answer.worker for answer in answers[:budget]}) == 2, "one worker took them all"
