"""`make bench`: the hot paths side by side with this machine's ceilings, in one run.

Starts the service under gunicorn with production settings on a fresh PostgreSQL database,
seeds users and tokens, counts SQL per request and prices each middleware in-process, then
measures every endpoint alternating with its ceiling (wrk on loopback, or the Python driver):
a warm-up, then BENCH_ROUNDS rounds of (ceiling slice, endpoint slice), for BENCH_PASSES
passes. HTTP rows have two ceilings: ``/health`` behind the project's middleware (the floors
apply to it) and the same constant view on Django's bare minimum (``bench/bare.py``, a second
gunicorn with the same settings), one slice per endpoint. Prints the table (also written to
``bench/out/latest.md`` and ``.json``), the RSS of every worker after each pass against the
150 MiB ceiling, and stops the servers whatever happens.

Knobs (environment): BENCH_DURATION (6: seconds measured per endpoint and per ceiling),
BENCH_ROUNDS (2: slices it is split into), BENCH_WARMUP (1 s), BENCH_PASSES (2; 1 in the
matrix and the scale series), BENCH_WORKERS (CPU count), BENCH_WORKER_CLASS (sync | gthread),
BENCH_THREADS (gthread: 2), BENCH_MATRIX (1: every row under sync, gthread x2 and gthread x4,
side by side), BENCH_SCALE (e.g. 1k,100k,1M: grow the data by COPY to each size and measure
validate, session, refresh, login and access at each, EXPLAIN at the largest),
BENCH_MIDDLEWARE (0: do not price the middleware), BENCH_CONNECTIONS (16), BENCH_WRK_THREADS
(2), BENCH_DRIVER (auto | wrk | python), BENCH_BUDGET_SECONDS (600, per worker model and per
size: later measurements are skipped, not run late), BENCH_DATABASE_URL (…/mana_auth_bench;
dropped and re-created, so its name must contain "bench"), BENCH_REDIS_URL
(redis://127.0.0.1:6379/10; empty: no Redis), BENCH_PORT (and the next port, for the bare
ceiling), BENCH_ONLY (e.g. "login,passkey": measure only those rows, while tuning).
ARGON2_* pass through to the server, to try other hashing costs.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import report
from bench.lifetime import die_with_parent
from bench.report import ENDPOINTS, Measurement, Row

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
LUA = REPO / "bench" / "lua"
PYTHON = sys.executable
ORIGIN = "https://localhost"
PASSKEYS = "/api/v1/auth/passkeys/"
VALIDATE, SESSION, JWKS, LOGIN = (
    "/api/v1/auth/validate",
    "/api/v1/auth/session",
    "/.well-known/jwks.json",
    "/api/v1/auth/login",
)
# Endpoints whose requests can be reused: (Lua script, URL path, data file).
WRK_RUNS = {
    "validate": ("validate", "/", "validate"),
    "session": ("bearer_get", "/", "session"),
    "access": ("bearer_get", "/", "access"),
    "jwks": ("plain", JWKS, None),
    "login": ("login", "/", "login"),
}
RP_ID = "localhost"
MIB = 1024
# Rows with an irreducible-work view in bench/bound.py (jwks' bound is /health itself).
BOUND_KEYS = ("validate", "session", "refresh", "access", "passkey", "login")


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Config:
    duration: int
    warmup: int
    passes: int
    workers: int
    connections: int
    wrk_threads: int
    driver: str
    budget: float
    database_url: str
    redis_url: str
    port: int
    rounds: int = 2
    only: tuple[str, ...] = ()
    worker_class: str = "sync"
    middleware: bool = True
    threads: int = 1
    matrix: bool = False
    scale: tuple[int, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Config:
        def number(name: str, default: int) -> int:
            return max(1, int(env.get(name) or default))

        worker_class = env.get("BENCH_WORKER_CLASS") or "sync"
        if worker_class not in WORKER_CLASSES:
            raise SystemExit(f"BENCH_WORKER_CLASS must be one of {', '.join(WORKER_CLASSES)}")
        matrix = (env.get("BENCH_MATRIX") or "") not in ("", "0", "false", "no")
        scale = parse_sizes(env.get("BENCH_SCALE") or "")
        # The matrix and the scale series run several configurations or sizes: one pass each
        # unless told otherwise.
        default_passes = 1 if matrix or scale else 2
        return cls(
            duration=number("BENCH_DURATION", 6),
            rounds=number("BENCH_ROUNDS", 2),
            warmup=max(0, int(env.get("BENCH_WARMUP") or 1)),
            passes=number("BENCH_PASSES", default_passes),
            workers=number("BENCH_WORKERS", os.cpu_count() or 2),
            connections=number("BENCH_CONNECTIONS", 16),
            wrk_threads=number("BENCH_WRK_THREADS", 2),
            driver=env.get("BENCH_DRIVER") or "auto",
            budget=float(env.get("BENCH_BUDGET_SECONDS") or 600),
            database_url=env.get("BENCH_DATABASE_URL")
            or "postgres://postgres@127.0.0.1:5432/mana_auth_bench",
            redis_url=env.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
            port=int(env.get("BENCH_PORT") or 0),
            only=tuple(key.strip() for key in (env.get("BENCH_ONLY") or "").split(",") if key),
            worker_class=worker_class,
            threads=number("BENCH_THREADS", 1 if worker_class == "sync" else 2),
            matrix=matrix,
            scale=scale,
            middleware=(env.get("BENCH_MIDDLEWARE") or "1") not in ("0", "false", "no"),
        )

    def worker_models(self) -> list[tuple[str, int]]:
        """(worker class, threads) of every server configuration this run measures."""
        if self.matrix:
            return list(MATRIX)
        return [(self.worker_class, self.threads if self.worker_class == "gthread" else 1)]


WORKER_CLASSES = ("sync", "gthread")
MATRIX = (("sync", 1), ("gthread", 2), ("gthread", 4))
SCALE_ROWS = ("validate", "session", "refresh", "login", "access")
MAX_SCALE_LOSS = 0.10


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1k,100k,1M"`` → (1000, 100000, 1000000), ascending, without duplicates."""
    sizes = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        factor = {"k": 1_000, "m": 1_000_000}.get(part[-1].lower(), 1)
        number = part[:-1] if factor > 1 else part
        try:
            value = int(float(number) * factor)
        except ValueError:
            raise SystemExit(f"BENCH_SCALE: cannot read {part!r} (e.g. 1k,100k,1M)") from None
        if value < 1:
            raise SystemExit(f"BENCH_SCALE: {part!r} is not a positive size")
        sizes.add(value)
    return tuple(sorted(sizes))


def size_label(size: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def model_label(worker_class: str, threads: int) -> str:
    return "sync" if worker_class == "sync" else f"gthread x{threads}"


# --- Infrastructure ---------------------------------------------------------------------------


def droppable_database(url: str) -> str:
    """The bench database's name; refuses any database not named for benchmarks."""
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    return name


def database_recreate(url: str) -> tuple[str, str]:
    """Drop and create the bench database, owned by an ordinary role ``<name>_app`` (created
    or reset here: production refuses to serve as a superuser, and so does the bench's server).
    Returns the server's version and the URL that connects as that role."""
    import psycopg
    from psycopg import sql

    name = droppable_database(url)
    role, password = f"{name}_app", secrets.token_urlsafe(24)
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        connection.execute(
            sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"),
                sql.Identifier(role),
                sql.Literal(password),
            )
        )
        connection.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
        version = connection.info.server_version
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return f"{version // 10000}.{version % 10000}", urlunsplit(parts._replace(netloc=netloc))


def redis_probe(url: str) -> str | None:
    """The Redis server's version when it answers at ``url``, else None."""
    if not url:
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return str(client.info("server").get("redis_version", "?"))
    except (redis.RedisError, OSError):
        return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def random_kek() -> str:
    """Base64 of 32 random bytes, none of them zero."""
    return base64.b64encode(bytes(secrets.randbelow(255) + 1 for _ in range(32))).decode()


def server_env(config: Config, port: int, redis_ok: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "BENCH_", "DATABASE_", "SYNC_DATABASE", "MANA_"))
        and key not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")
    }
    env.update(
        {
            "MANA_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "mana_auth.settings",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "MANA_AUTH_KEK": random_kek(),
            "MANA_SERVICE_KEY": secrets.token_urlsafe(40),
            "PERSONA_SEED_SECRET": secrets.token_urlsafe(40),
            "BASE_URL": ORIGIN,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": config.database_url,
            "RATE_LIMITS_ENABLED": "false",
            "WEBAUTHN_RP_ID": RP_ID,
            "WEBAUTHN_ORIGINS": ORIGIN,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CACHE_KEY_PREFIX": f"mana-auth-bench-{secrets.token_hex(4)}",
            # As the Dockerfile sets them: glibc reads these when the process starts.
            "MALLOC_MMAP_MAX_": "0",
            "MALLOC_TRIM_THRESHOLD_": "1073741824",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(config.workers),
            "GUNICORN_WORKER_CLASS": config.worker_class,
            "GUNICORN_THREADS": str(config.threads if config.worker_class == "gthread" else 1),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if redis_ok:
        env["REDIS_URL"] = config.redis_url
    return env


def model_env(env: dict[str, str], worker_class: str, threads: int) -> dict[str, str]:
    """The server's environment with another worker model."""
    return {**env, "GUNICORN_WORKER_CLASS": worker_class, "GUNICORN_THREADS": str(threads)}


def bound_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The bounds' server: the service itself, with the irreducible-work views added."""
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "bench.bound_settings",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }


def bare_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The second ceiling's server: the same gunicorn settings, Django's bare minimum."""
    return {**env, "DJANGO_SETTINGS_MODULE": "bench.bare", "GUNICORN_BIND": f"127.0.0.1:{port}"}


class StepFailed(RuntimeError):
    """A helper module failed; its message carries the end of its stderr."""


def run_json(args: list[str], env: dict[str, str], timeout: float) -> Any:
    """Run a helper module; its stdout is JSON."""
    done = subprocess.run(  # noqa: S603 - our own modules, fixed arguments
        [PYTHON, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise StepFailed(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout) if done.stdout.strip() else None


class Server:
    """gunicorn with the production config file, in its own session; always stopped."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        log_path: Path,
        app: str = "mana_auth.wsgi:application",
    ) -> None:
        self.env, self.port, self.log_path, self.app = env, port, log_path, app
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        gunicorn = str(Path(PYTHON).with_name("gunicorn"))
        with open(self.log_path, "wb") as handle:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                # No control socket: gunicorn 27 puts it in ~/.gunicorn/ by default, where
                # another gunicorn on this machine may have its own.
                [
                    gunicorn,
                    "-c",
                    "gunicorn.conf.py",
                    "--no-control-socket",
                    self.app,
                ],
                cwd=REPO,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # safe: this process runs no threads
            )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = request(self.port, "GET", "/health")
                if status == 200 and len(self.workers()) >= int(self.env["GUNICORN_WORKERS"]):
                    return
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer /health within 40 s; see {self.log_path}")

    def workers(self) -> list[int]:
        if self.process is None:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if report.parse_ppid((entry / "stat").read_text()) == self.process.pid:
                    children.append(int(entry.name))
            except (OSError, ValueError):
                continue
        return sorted(children)

    def rss(self) -> dict[int, int]:
        sizes = {}
        for pid in self.workers():
            with contextlib.suppress(OSError):
                kib = report.parse_rss_kib(Path(f"/proc/{pid}/status").read_text())
                if kib is not None:
                    sizes[pid] = kib
        return sizes

    def cpu_ticks(self) -> int:
        """CPU time its workers have used so far, in clock ticks (utime + stime)."""
        total = 0
        for pid in self.workers():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total

    def quiesce(self, timeout: float = 3.0) -> None:
        """Wait until its workers stop using CPU: when wrk stops, requests it already sent
        are still in the listen queue and get served (16 sign-ins are ~170 ms of argon2 on
        2 workers), which would otherwise run into the next slice of another server."""
        deadline, last = time.monotonic() + timeout, self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu_ticks()
            if now == last:
                return
            last = now

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # gunicorn's master stops its workers on SIGTERM
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def request(
    port: int, method: str, path: str, payload: Any = None, token: str | None = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = None if payload is None else json.dumps(payload)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data[:200]


# --- The run ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.started = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="mana-auth-bench-"))
        self.wrk = shutil.which("wrk") if config.driver in ("auto", "wrk") else None
        if config.driver == "wrk" and not self.wrk:
            raise SystemExit("BENCH_DRIVER=wrk but wrk is not installed")
        self.server: Server | None = None
        self.bare_server: Server | None = None
        self.bound_server: Server | None = None
        self.bound_port = 0
        self.port = 0
        self.bare_port = 0
        self.model: tuple[str, int] | None = None
        self.refresh_cursor = 0
        self.middleware_md = ""
        self.env: dict[str, str] = {}
        self.seed: dict[str, Any] = {}
        self.queries: dict[str, Any] = {}
        self.unavailable: dict[str, str] = {}  # endpoint key -> why it has no figures
        self.data: dict[str, Path] = {}
        self.passkey_chunks: list[Path] = []
        self.passkey_sizes: list[int] = []
        self.facts: dict[str, str] = {}

    # -- setup --

    def setup(self) -> None:
        config = self.config
        log(f"fresh database {urlsplit(config.database_url).path.lstrip('/')}")
        self.facts["postgres"], app_database_url = database_recreate(config.database_url)
        redis_version = redis_probe(config.redis_url)
        self.facts["redis"] = (
            f"{redis_version} ({config.redis_url})" if redis_version else "none (PostgreSQL)"
        )
        self.port = config.port or free_port()
        self.bare_port = config.port + 1 if config.port else free_port()
        self.bound_port = config.port + 2 if config.port else free_port()
        self.env = server_env(config, self.port, redis_version is not None)
        self.env["DATABASE_URL"] = app_database_url
        log("migrate")
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"migrate failed:\n{done.stderr[-3000:]}")
        log("seed users and sessions")
        seed_file = self.tmp / "seed.json"
        runs = len(config.worker_models()) * max(1, len(config.scale))
        sets = str(config.passes * (1 + config.rounds) * runs)
        run_json(
            ["-m", "bench.seed", "--out", str(seed_file), "--refresh-sets", sets], self.env, 300
        )
        self.seed = json.loads(seed_file.read_text())
        log("count SQL per request (in-process)")
        queries_file = OUT / "queries.json"
        try:
            run_json(["-m", "bench.queries", "--out", str(queries_file)], self.env, 300)
            self.queries = json.loads(queries_file.read_text())
        except StepFailed as exc:  # the load still tells something: go on without counts
            log(f"SQL counts unavailable: {exc}")
            self.queries = {}
        if config.middleware:
            log("price each middleware (in-process)")
            try:
                priced = run_json(
                    ["-m", "bench.middleware_cost", "--out", str(OUT / "middleware.md")],
                    self.env,
                    300,
                )
                (OUT / "middleware.json").write_text(json.dumps(priced, indent=1))
                self.middleware_md = priced["markdown"]
            except StepFailed as exc:
                log(f"middleware prices unavailable: {exc}")
        self.servers_start(config.worker_models()[0])
        self.smoke()
        self.data_files()

    def servers_start(self, model: tuple[str, int]) -> None:
        """The service and the bare-Django ceiling, both with this worker model (restarted
        when another one runs)."""
        if self.model == model:
            return
        self.servers_stop()
        worker_class, threads = model
        config, env = self.config, model_env(self.env, *model)
        log(
            f"start gunicorn ({config.workers} {model_label(worker_class, threads)} workers) "
            f"on 127.0.0.1:{self.port}, bare Django on 127.0.0.1:{self.bare_port}"
        )
        self.server = Server(env, self.port, OUT / "gunicorn.log")
        self.server.start()
        self.bare_server = Server(
            bare_env(env, self.bare_port),
            self.bare_port,
            OUT / "gunicorn-bare.log",
            "bench.bare:application",
        )
        self.bare_server.start()
        if self.bounds_wanted():
            self.bound_server = Server(
                bound_env(env, self.bound_port),
                self.bound_port,
                OUT / "gunicorn-bound.log",
            )
            self.bound_server.start()
        self.model = model

    def servers_stop(self) -> None:
        for server in (self.server, self.bare_server, self.bound_server):
            if server is not None:
                server.stop()
        self.server = self.bare_server = self.bound_server = None
        self.model = None

    def smoke(self) -> None:
        """One request per endpoint before any load: missing or broken ones get no load."""
        seed, routes, port = self.seed, self.seed["routes"], self.port
        token = seed["access_tokens"][0]
        checks = {
            "validate": lambda: request(port, "POST", "/api/v1/auth/validate", {"token": token}),
            "session": lambda: request(port, "GET", "/api/v1/auth/session", token=token),
            "jwks": lambda: request(port, "GET", "/.well-known/jwks.json"),
            "refresh": lambda: request(
                port, "POST", "/api/v1/auth/refresh", {"refreshToken": seed["smoke_refresh"]}
            ),
            "login": lambda: request(
                port,
                "POST",
                "/api/v1/auth/login",
                {"email": seed["emails"][0], "password": seed["password"]},
            ),
        }
        for key, check in checks.items():
            if not routes.get(key):
                self.unavailable[key] = "n/a (endpoint missing)"
                continue
            status, body = check()
            if status != 200 or (key == "validate" and not (body or {}).get("valid")):
                self.unavailable[key] = f"error: HTTP {status} {str(body)[:120]}"
        self.spaces_discover()
        # Ceremony state is shared by every worker, in Redis or (without it) in PostgreSQL.
        if not routes.get("passkey") or not routes.get("passkey_register"):
            self.unavailable["passkey"] = "n/a (endpoint missing)"

    def spaces_discover(self) -> None:
        """Each user's first Space (GET /api/v1/spaces), for GET /spaces/{id}/access."""
        if not (self.seed["routes"].get("spaces") and self.seed["routes"].get("access")):
            self.unavailable["access"] = "n/a (endpoint missing)"
            return
        paths = []
        for token in self.seed["access_tokens"]:
            status, body = request(self.port, "GET", "/api/v1/spaces", token=token)
            items = body.get("items") if status == 200 and isinstance(body, dict) else None
            if not items:
                self.unavailable["access"] = f"error: GET /api/v1/spaces HTTP {status}"
                return
            paths.append(f"/api/v1/spaces/{items[0]['id']}/access")
        status, body = request(self.port, "GET", paths[0], token=self.seed["access_tokens"][0])
        if status != 200:
            self.unavailable["access"] = f"error: HTTP {status} {str(body)[:120]}"
            return
        self.seed["access_paths"] = paths

    def data_files(self) -> None:
        seed = self.seed

        def write(name: str, lines: list[str]) -> None:
            path = self.tmp / f"{name}.txt"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            self.data[name] = path

        tokens = seed["access_tokens"]
        write("validate", tokens)
        write("session", [f"{token}\t/api/v1/auth/session" for token in tokens])
        write("login", [f"{email}\t{seed['password']}" for email in seed["emails"]])
        for index, chain in enumerate(seed["refresh_sets"]):
            write(f"refresh-{index}", chain)
        if seed.get("access_paths"):
            write(
                "access",
                [f"{t}\t{p}" for t, p in zip(tokens, seed["access_paths"], strict=True)],
            )

    # -- measurements --
    #
    # Every endpoint: a warm-up, then BENCH_ROUNDS rounds of (ceiling slice, endpoint slice),
    # so a burst of noise on this shared machine lands on both sides of a ratio.

    def remaining(self) -> float:
        return self.config.budget - (time.monotonic() - self.started)

    def slice_seconds(self) -> int:
        return max(1, self.config.duration // self.config.rounds)

    def driver(self) -> str:
        return "wrk" if self.wrk else "python"

    def cost(self, key: str) -> float:
        config, one = self.config, self.slice_seconds() + 1.0
        seconds = config.warmup + 1.0 + 2 * config.rounds * one
        if key == "passkey":
            seconds += self.prefetch_seconds() + 4.0
        if key == "login":
            seconds += 1.5 * config.rounds  # the hash loop's interpreter start
        else:
            seconds += self.bare_seconds() + 1.0  # one slice of the bare-Django ceiling
        if self.bounds_wanted() and key in BOUND_KEYS:
            seconds += config.warmup + 1.0 + config.rounds * one  # the row's bound, each round
        return seconds

    def bare_seconds(self) -> int:
        """The bare-Django ceiling is measured once per endpoint and pass, a shorter slice."""
        return max(1, self.slice_seconds() - 1)

    def next_refresh_set(self) -> int:
        """Refresh tokens are single-use: every run starts chains from a set of its own."""
        index = self.refresh_cursor
        if index >= len(self.seed["refresh_sets"]):
            raise RuntimeError("no unused refresh token set left (seeded too few)")
        self.refresh_cursor += 1
        return index

    def wrk_once(
        self, script: str, path: str, data: Path | None, seconds: int, port: int | None = None
    ) -> Measurement:
        source = self.tmp / f"{script}.lua"
        if not source.exists():
            source.write_text(
                (LUA / "common.lua").read_text() + (LUA / f"{script}.lua").read_text()
            )
        config = self.config
        env = {**os.environ, "BENCH_THREADS": str(config.wrk_threads)}
        if data is not None:
            env["BENCH_DATA"] = str(data)
        command = [
            str(self.wrk),
            f"-t{config.wrk_threads}",
            f"-c{config.connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(source),
            f"http://127.0.0.1:{port or self.port}{path}",
        ]
        done = subprocess.run(  # noqa: S603 - fixed arguments
            command, env=env, capture_output=True, text=True, timeout=seconds + 30
        )
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed: {done.stderr[-500:]}")
        return report.measurement_from_wrk(script, report.parse_wrk(done.stdout))

    def py_run(self, spec: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        full = {
            "host": "127.0.0.1",
            "port": self.port,
            "duration": self.slice_seconds(),
            "warmup": 0,
            "procs": 2,
            "threads": max(1, config.connections // 2),
            **spec,
        }
        spec_file = self.tmp / "driver-spec.json"
        descriptor = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(full, handle)
        timeout = 300 + full["duration"] + spec.get("passkey", {}).get("prefetch", 0)
        return run_json(["-m", "bench.pydriver", str(spec_file)], os.environ.copy(), timeout)

    def py_once(self, spec: dict[str, Any], seconds: int) -> Measurement:
        return report.measurement_from_driver("python", self.py_run({**spec, "duration": seconds}))

    def ceiling_once(self, kind: str) -> Measurement:
        seconds = self.slice_seconds()
        if kind == "hash":
            arguments = ["--seconds", str(seconds), "--procs", str(self.config.workers)]
            loop = run_json(["-m", "bench.hashloop", *arguments], self.env, 120)
            self.facts["argon2"] = (
                f"{loop['memory_kib']} KiB, t={loop['time_cost']}, p={loop['parallelism']}"
            )
            return report.hash_ceiling(loop)
        if self.wrk:
            return self.wrk_once("plain", "/health", None, seconds)
        return self.py_once({"mode": "static", "requests": [{"path": "/health"}]}, seconds)

    def bare_once(self) -> Measurement:
        """The second ceiling: the constant view on Django's bare minimum (bench/bare.py)."""
        seconds = self.bare_seconds()
        if self.wrk:
            result = self.wrk_once("plain", "/health", None, seconds, port=self.bare_port)
        else:
            spec = {"mode": "static", "requests": [{"path": "/health"}], "port": self.bare_port}
            result = self.py_once(spec, seconds)
        result.name = "bare Django"
        return result

    def bounds_wanted(self) -> bool:
        """The bounds (bench/bound.py) are measured in the plain run and the worker matrix; the
        scale series compares sizes, not implementations."""
        return not self.config.scale

    def bound_once(self, key: str, seconds: int) -> Measurement:
        """The row's irreducible work alone (bench/bound.py), one slice."""
        path = f"/api/v1/bench-bound/{key}"
        if self.wrk:
            result = self.wrk_once("plain", path, None, seconds, port=self.bound_port)
        else:
            spec = {"mode": "static", "requests": [{"path": path}], "port": self.bound_port}
            result = self.py_once(spec, seconds)
        result.name = f"bound {key}"
        return result

    def endpoint_once(
        self, key: str, pass_index: int, round_index: int | None, seconds: int
    ) -> Measurement:
        """One run of an endpoint (``round_index`` None: the warm-up)."""
        data = self.data
        if key == "passkey":
            chunk = self.passkey_chunks[0 if round_index is None else 1 + round_index]
            if self.wrk:
                return self.wrk_once("passkey", "/", chunk, seconds)
            path = PASSKEYS + "authenticate/verify"
            return self.py_once({"mode": "oneshot", "path": path, "bodies": str(chunk)}, seconds)
        if key == "refresh":
            chains = data[f"refresh-{self.next_refresh_set()}"]
            if self.wrk:
                return self.wrk_once("refresh", "/", chains, seconds)
            tokens = chains.read_text().split()
            return self.py_once({"mode": "refresh", "tokens": tokens}, seconds)
        if self.wrk:
            script, path, lines = WRK_RUNS[key]
            return self.wrk_once(script, path, data[lines] if lines else None, seconds)
        return self.py_once(self.static_spec(key), seconds)

    def static_spec(self, key: str) -> dict[str, Any]:
        """The Python driver's requests for the endpoints whose requests can be reused."""
        seed = self.seed
        tokens = seed["access_tokens"]
        if key == "validate":
            requests = [
                {"method": "POST", "path": VALIDATE, "body": json.dumps({"token": t})}
                for t in tokens
            ]
        elif key == "session":
            requests = [
                {"path": SESSION, "headers": {"Authorization": f"Bearer {t}"}} for t in tokens
            ]
        elif key == "access":
            requests = [
                {"path": p, "headers": {"Authorization": f"Bearer {t}"}}
                for t, p in zip(tokens, seed["access_paths"], strict=True)
            ]
        elif key == "jwks":
            requests = [{"path": JWKS}]
        elif key == "login":
            requests = [
                {
                    "method": "POST",
                    "path": LOGIN,
                    "body": json.dumps({"email": email, "password": seed["password"]}),
                }
                for email in seed["emails"]
            ]
        else:
            raise KeyError(key)
        return {"mode": "static", "requests": requests}

    def prefetch_seconds(self) -> float:
        # Options cost a fraction of a verification: this many seconds of them outlast the
        # warm-up and the rounds (if not, the windows shrink and the row says so).
        return round(0.5 * (self.config.duration + self.config.warmup), 1)

    def passkey_prepare(self) -> str | None:
        """The Python driver registers one software passkey per connection and prefetches
        signed assertions (options + signature, not measured), split into one file for the
        warm-up and one per round; each assertion is sent once. Returns what went wrong."""
        bodies = self.tmp / "passkey-bodies.txt"
        result = self.py_run(
            {
                "mode": "passkey",
                "prefetch_only": True,
                "out": str(bodies),
                "passkey": {
                    "users": self.seed["passkey_users"],
                    "password": self.seed["password"],
                    "origin": ORIGIN,
                    "rp_id": RP_ID,
                    "prefetch": self.prefetch_seconds(),
                },
            }
        )
        if result.get("error"):
            return str(result["error"])
        lines = bodies.read_text().splitlines()
        warm = len(lines) // 6 if self.config.warmup else 0
        rounds = self.config.rounds
        per_round = (len(lines) - warm) // rounds
        chunks = [lines[:warm]] + [
            lines[warm + i * per_round : warm + (i + 1) * per_round] for i in range(rounds)
        ]
        self.passkey_chunks = []
        for index, chunk in enumerate(chunks):
            path = self.tmp / f"passkey-{index}.txt"
            path.write_text("\n".join(chunk) + "\n")
            self.passkey_chunks.append(path)
        self.passkey_sizes = [len(chunk) for chunk in chunks]
        return None

    def measure(
        self, key: str, pass_index: int
    ) -> tuple[Measurement, Measurement | None, Measurement, Measurement | None]:
        """(ceiling, bare-Django ceiling, endpoint, bound), each merged over the rounds; the
        bare ceiling (HTTP rows only) is one slice, after the first round's ceiling; the row's
        bound (its irreducible work alone) is measured in every round, like the endpoint."""
        config, label = self.config, report.ENDPOINTS_BY_KEY[key].label
        kind = report.ENDPOINTS_BY_KEY[key].target.ceiling
        seconds, note = self.slice_seconds(), ""
        if key == "passkey":
            problem = self.passkey_prepare()
            if problem:
                return (
                    Measurement("ceiling", self.driver()),
                    None,
                    Measurement(label, self.driver(), note=f"error: {problem[:160]}"),
                    None,
                )
        if config.warmup:
            warm = self.endpoint_once(key, pass_index, None, config.warmup)
            if key == "passkey" and warm.ok and warm.requests < self.passkey_sizes[0]:
                # The warm-up's rate says how long each round's assertions last.
                affordable = int(0.9 * min(self.passkey_sizes[1:]) / max(warm.rps or 1.0, 1.0))
                if affordable < seconds:
                    seconds = max(1, affordable)
                    note = f"{seconds} s rounds: the prefetched assertions last that long"
        with_bound = self.bounds_wanted() and key in BOUND_KEYS
        if with_bound and config.warmup:
            self.bound_once(key, config.warmup)
            assert self.bound_server is not None
            self.bound_server.quiesce()
        ceilings, results, bounds, bare = [], [], [], None
        for round_index in range(config.rounds):
            ceilings.append(self.ceiling_once(kind))
            if kind == "http" and round_index == 0:
                bare = self.bare_once()
            if with_bound:
                bounds.append(self.bound_once(key, seconds))
                assert self.bound_server is not None
                self.bound_server.quiesce()  # its queued tail must not run into the endpoint
            results.append(self.endpoint_once(key, pass_index, round_index, seconds))
            assert self.server is not None
            self.server.quiesce()  # nor the endpoint's into the next round's ceiling
        result = report.merge_runs(label, results)
        result.note = "; ".join(part for part in (result.note, note) if part)
        bound = report.merge_runs(f"bound {key}", bounds) if bounds else None
        return report.merge_runs("ceiling", ceilings), bare, result, bound

    def one_pass(self, pass_index: int, keys: tuple[str, ...] = (), title: str = "") -> list[Row]:
        """Every endpoint (or those in ``keys``) once: ceilings and endpoint alternating."""
        rows = []
        for endpoint in ENDPOINTS:
            key = endpoint.key
            if keys and key not in keys:
                continue
            queries = self.queries.get(key, {})
            row = Row(
                endpoint=endpoint,
                result=Measurement(name=endpoint.label, driver=""),
                ceiling=None,
                queries=queries.get("queries"),
                queries_note=queries_note(queries),
            )
            rows.append(row)
            if key in self.unavailable:
                row.result.note = self.unavailable[key]
                continue
            if self.config.only and key not in self.config.only:
                row.result.note = "not selected (BENCH_ONLY)"
                continue
            if self.remaining() < self.cost(key):
                row.result.note = "skipped (time budget; raise BENCH_BUDGET_SECONDS)"
                continue
            where = f"{title}, " if title else ""
            log(
                f"{where}pass {pass_index + 1}: {key} ({self.driver()}, "
                f"{self.config.rounds} rounds)"
            )
            try:
                row.ceiling, row.bare, row.result, row.bound = self.measure(key, pass_index)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                row.result = Measurement(
                    name=endpoint.label, driver=self.driver(), note=f"error: {str(exc)[:160]}"
                )
        return rows

    def run(self) -> int:
        self.setup()
        if self.config.scale:
            return self.run_scale()
        sections: list[Section] = []
        load_before = os.getloadavg()
        for model in self.config.worker_models():
            self.servers_start(model)
            self.started = time.monotonic()  # every worker model gets the whole budget
            title = model_label(*model) if self.config.matrix else ""
            section = Section(model_label(*model))
            for index in range(self.config.passes):
                section.passes.append(self.one_pass(index, title=title))
                assert self.server is not None
                section.memory.append(self.server.rss())
            sections.append(section)
        load_after = os.getloadavg()
        lines = self.header(load_before, load_after)
        for section in sections:
            if self.config.matrix:
                lines += [f"### Worker model: {section.label}", ""]
            lines += section_lines(section, level="####" if self.config.matrix else "###")
        if self.config.matrix:
            lines += ["### Worker models side by side (every row, pass 1)", ""]
            lines += [report.matrix_table([(s.label, s.passes[0]) for s in sections]), ""]
        if self.middleware_md:
            lines += ["### What each middleware costs (bench/middleware_cost.py)", ""]
            lines += [self.middleware_md, ""]
        text = "\n".join(lines)
        self.write("latest", text, {"sections": [section.as_json() for section in sections]})
        return 0

    def run_scale(self) -> int:
        """BENCH_SCALE: grow the data by COPY to each size, measure the rows that read it."""
        config = self.config
        load_before = os.getloadavg()
        sizes: list[report.ScaleStep] = []
        seeded = 0
        for size in config.scale:
            label = size_label(size)
            log(f"scale {label}: seed {size - seeded:,} users by COPY (from {seeded:,})")
            seed = run_json(
                ["-m", "bench.scale", "--start", str(seeded), "--users", str(size - seeded)],
                self.env,
                4 * 3600,
            )
            seeded = size
            self.started = time.monotonic()  # every size gets the whole budget
            step = report.ScaleStep(
                size=size,
                label=label,
                seed_seconds=seed["seconds"],
                database_bytes=seed["database_bytes"],
                rows=seed["rows"],
            )
            for index in range(config.passes):
                step.passes.append(self.one_pass(index, keys=SCALE_ROWS, title=f"{label} users"))
                assert self.server is not None
                step.memory.append(self.server.rss())
            sizes.append(step)
        largest = size_label(config.scale[-1])
        explain = OUT / f"explain-{largest}.txt"
        log(f"scale {largest}: EXPLAIN (ANALYZE, BUFFERS) of the hot queries -> {explain}")
        try:
            run_json(
                [
                    "-m",
                    "bench.queries",
                    "--out",
                    str(OUT / f"queries-{largest}.json"),
                    "--explain",
                    str(explain),
                ],
                self.env,
                900,
            )
        except StepFailed as exc:
            log(f"EXPLAIN failed: {exc}")
        load_after = os.getloadavg()
        lines = self.header(load_before, load_after)
        lines += [
            f"- scale: each size adds users by PostgreSQL COPY (bench/scale.py), each with a "
            f"personal Space (owner membership) and 2 sessions (one refresh token each); the "
            f"measured users are the {len(self.seed.get('emails', []))} seeded normally; "
            f"{config.passes} pass(es) per size",
            "",
            "### Cost as the data grows",
            "",
            report.scale_table(sizes, max_loss=MAX_SCALE_LOSS),
            "",
            report.scale_facts_table(sizes),
            "",
            f"EXPLAIN (ANALYZE, BUFFERS) of every hot query at {largest}: `bench/out/"
            f"{explain.name}`",
            "",
        ]
        for step in sizes:
            lines += [f"### {step.label} users", ""]
            lines += section_lines(Section(step.label, step.passes, step.memory), level="####")
        text = "\n".join(lines)
        self.write(
            f"scale-{largest}", text, {"scale": [step.as_json() for step in sizes]}, latest=False
        )
        return 0

    def write(self, name: str, text: str, data: dict[str, Any], latest: bool = True) -> None:
        print(text, flush=True)
        (OUT / f"{name}.md").write_text(text + "\n")
        (OUT / f"{name}.json").write_text(json.dumps({"facts": self.facts, **data}, indent=1))
        log(f"written: {OUT / (name + '.md')}, {OUT / (name + '.json')}, {OUT / 'queries.json'}")

    def header(
        self, load_before: tuple[float, float, float], load_after: tuple[float, float, float]
    ) -> list[str]:
        config = self.config
        facts = self.facts
        loop_params = facts.get("argon2", "with the settings' parameters (login not measured)")
        tool = (
            f"Python driver (wrk not installed), 2 processes x {max(1, config.connections // 2)} "
            "threads"
        )
        if self.wrk:
            done = subprocess.run(  # noqa: S603 - fixed arguments
                [self.wrk, "-v"], capture_output=True, text=True, timeout=10
            )
            tool = (done.stdout or done.stderr).splitlines()[0].split(" [")[0]
            tool += f", {config.wrk_threads} threads, {config.connections} connections"
        models = ", ".join(model_label(*model) for model in config.worker_models())
        return [
            f"## mana-auth bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, {memory_total()}, "
            f"Linux {platform.release()}; load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after",
            f"- server: gunicorn {version('gunicorn')} (gunicorn.conf.py), {config.workers} "
            f"workers ({models}), MANA_ENV=production (DEBUG off), Django {version('Django')}, "
            f"Python {platform.python_version()}, PostgreSQL {facts.get('postgres')}, "
            f"Redis {facts.get('redis')}",
            f"- argon2id {loop_params}; MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 "
            "in the server's environment",
            "- RATE_LIMITS_ENABLED=false for the load (otherwise the limits, not the code, "
            "would be measured); mail: dummy backend",
            f"- load: {tool}, loopback only; per endpoint {config.warmup} s warm-up, then "
            f"{config.rounds} rounds of {self.slice_seconds()} s ceiling / "
            f"{self.slice_seconds()} s endpoint, alternating, with the same tool; req/s over "
            "all rounds, p50 the request-weighted mean of the rounds', p99 the worst round's",
            "- ceilings: `/health` behind the whole middleware stack (the floors apply to this "
            "ratio), and bare Django — the same constant view with no project middleware "
            f"(bench/bare.py, a second gunicorn with the same settings), one {self.bare_seconds()}"
            " s slice per endpoint after the first round's ceiling",
            "- passkey verify: a software authenticator (ES256) registers one passkey per "
            "connection, then options are fetched and assertions signed before the measured "
            "window (not measured); each assertion is sent once",
            "- SQL/req: statements per request once warm, counted in-process "
            "(CaptureQueriesContext); BEGIN/COMMIT and savepoints count (each is a round trip), "
            "the connection health check (SELECT 1, CONN_HEALTH_CHECKS) does not",
            "",
        ]

    def close(self) -> None:
        self.servers_stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class Section:
    """The passes of one worker model (or one scale size), and RSS after each pass."""

    label: str
    passes: list[list[Row]] = field(default_factory=list)
    memory: list[dict[int, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "passes": [report.rows_json(rows) for rows in self.passes],
            "memory_kib": [{str(k): v for k, v in snap.items()} for snap in self.memory],
        }


def section_lines(section: Section, level: str = "###") -> list[str]:
    """The tables of every pass, the ratios side by side, the memory verdict."""
    lines: list[str] = []
    for index, rows in enumerate(section.passes):
        lines += [f"{level} Pass {index + 1}", "", report.markdown_table(rows), ""]
    if len(section.passes) > 1:
        lines += [
            f"{level} Ratios in every pass (vs /health / vs bare Django)",
            "",
            report.ratios_table(section.passes),
            "",
        ]
    bounds = report.bounds_table(section.passes)
    if bounds:
        lines += [
            f"{level} Bounds: each row's irreducible work alone (bench/bound.py)",
            "",
            "The same stack and gunicorn serving only what the row cannot avoid (one shared-state"
            " round trip, one read, one durable write, the signatures, the hash); its ratio to"
            " the same ceiling is the most any implementation of the row could reach.",
            "",
            bounds,
            "",
        ]
    verdict = report.memory_report(section.memory)
    lines += [f"{level} Memory (RSS per gunicorn worker after each pass)", ""]
    lines += [f"- {line}" for line in verdict.lines]
    lines += ["", verdict.summary(), ""]
    return lines


def queries_note(queries: dict[str, Any]) -> str:
    if queries.get("missing"):
        return "n/a"
    return "error" if queries.get("error") else ""


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def memory_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / MIB / MIB:.0f} GiB RAM"
    return "? RAM"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    bench = Bench(Config.from_env(dict(os.environ)))
    try:
        return bench.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except StepFailed as exc:
        log(str(exc))
        return 1
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
