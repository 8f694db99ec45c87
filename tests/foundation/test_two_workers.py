"""The real service without Redis, served by two worker processes: two gunicorn servers
(``gunicorn.conf.py``, one sync worker each, MANA_ENV=test, no REDIS_URL) on two loopback ports
over one freshly migrated database. Two processes share exactly what two workers of one
gunicorn share (the database, nothing in memory), but here the test, not the kernel, decides
which process answers: every flow starts on one and ends on the other, so every round crosses
(with ``-w 2`` behind one socket the kernel may hand a whole run to one worker under load).
Each response names its process (``tests/workers_wsgi.py``). What must hold:

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


@dataclass
class Pair:
    """Two worker processes of the service; ``origin`` is the pages' origin for WebAuthn."""

    first: Server
    second: Server
    origin: str

    def each(self, index: int) -> tuple[Server, Server]:
        """The (start, finish) servers of round ``index``: alternating, always two processes."""
        return (self.first, self.second) if index % 2 == 0 else (self.second, self.first)


def _start(port: int, env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, Server]:
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
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
    log.close()
    return process, Server(port=port)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    url = _database_url()
    logs = tmp_path_factory.mktemp("two-workers")
    ports = (_free_port(), _free_port())
    while ports[1] == ports[0]:
        ports = (ports[0], _free_port())
    origin = f"http://localhost:{ports[0]}"
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
        WEBAUTHN_ORIGINS=",".join(f"http://localhost:{port}" for port in ports),
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
    started = [_start(port, env, logs / f"gunicorn-{port}.log") for port in ports]
    try:
        deadline = time.monotonic() + 30
        for (process, server), port in zip(started, ports, strict=True):
            while not server.workers - {""}:
                assert process.poll() is None, (logs / f"gunicorn-{port}.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                try:
                    server.call("GET", "/health")
                except OSError:
                    time.sleep(0.2)
        pair = Pair(first=started[0][1], second=started[1][1], origin=origin)
        assert pair.first.workers.isdisjoint(pair.second.workers), "one process, not two"
        yield pair
    finally:
        for process, _ in started:
            _stop(process)
        _database(url, create=False)


def _crossed(pairs: list[tuple[str, str]]) -> int:
    return sum(1 for first, second in pairs if first != second)


def _signed_in(server: Server, email: str) -> str:
    answer = server.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert answer.status == 200, answer.body
    return answer.body["accessToken"]


def test_passkey_registration_and_sign_in_twenty_times_across_two_workers(servers: Pair):
    email = "passkeys@example.com"
    created = servers.first.call(
        "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD}
    )
    assert created.status == 201, created.body
    token = _signed_in(servers.second, email)
    base = "/api/v1/auth/passkeys/"
    registrations: list[tuple[str, str]] = []
    sign_ins: list[tuple[str, str]] = []
    for round_ in range(ROUNDS):
        start, finish = servers.each(round_)
        device = SoftAuthenticator(origin=servers.origin, rp_id="localhost")
        options = start.call("POST", f"{base}register/options", {"password": PASSWORD}, token)
        assert options.status == 200, (round_, options.body)
        stored = finish.call(
            "POST", f"{base}register/verify", {"credential": device.create(options.body)}, token
        )
        assert stored.status == 201, (round_, stored.body)
        registrations.append((options.worker, stored.worker))

        request = finish.call("POST", f"{base}authenticate/options", {})
        assert request.status == 200, (round_, request.body)
        # The contract's body: the credential alone.
        verified = start.call(
            "POST", f"{base}authenticate/verify", {"credential": device.get(request.body)}
        )
        assert verified.status == 200, (round_, verified.body)
        assert verified.body["user"]["email"] == email
        sign_ins.append((request.worker, verified.worker))
    assert _crossed(registrations) == ROUNDS, registrations
    assert _crossed(sign_ins) == ROUNDS, sign_ins


def test_a_logout_is_seen_by_the_other_worker_at_once(servers: Pair):
    email = "revocation@example.com"
    created = servers.first.call(
        "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD}
    )
    assert created.status == 201, created.body
    pairs: list[tuple[str, str]] = []
    for round_ in range(ROUNDS):
        start, finish = servers.each(round_)
        token = _signed_in(start, email)
        # Both processes have seen the session live (and, with a cache, would remember it).
        for server in (start, finish):
            live = server.call("POST", "/api/v1/auth/validate", {"token": token})
            assert live.status == 200 and live.body["valid"] is True, (round_, live.body)
        logout = start.call("POST", "/api/v1/auth/logout", None, token)
        assert logout.status == 204, (round_, logout.body)
        after = finish.call("POST", "/api/v1/auth/validate", {"token": token})
        assert after.body == {"valid": False, "code": "SESSION_REVOKED"}, (round_, after.worker)
        pairs.append((logout.worker, after.worker))
    assert _crossed(pairs) == ROUNDS, pairs


def test_a_per_ip_limit_holds_across_both_workers(servers: Pair):
    budget = ratelimit.FORGOT_IP.limit
    answers = [
        servers.each(index)[0].call(
            "POST", "/api/v1/auth/forgot-password", {"email": f"f{index}@example.com"}
        )
        for index in range(budget + 3)
    ]
    assert [answer.status for answer in answers] == [202] * budget + [429] * 3
    assert answers[budget].body["code"] == "RATE_LIMITED"
    assert len({answer.worker for answer in answers[:budget]}) == 2, "one worker took them all"
