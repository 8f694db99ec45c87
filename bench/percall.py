"""In-process cost per request of the hot paths, through the WSGI handler gunicorn calls.

Deterministic where ``make bench`` is not on a busy machine: no sockets, no other process,
only this interpreter and the database (and Redis, when ``REDIS_URL`` is set). Each endpoint
is warmed, then called ``--number`` times in ``--repeat`` batches; the figure is the best
batch's mean (as ``timeit`` reports), in µs per request, with the SQL statements of one call.
Requests that need a fresh body (refresh chains its token, passkey verify signs a fresh
challenge) prepare it outside the timed call.

    DATABASE_URL=… [REDIS_URL=…] python -m bench.percall [--only validate,session]
        [--number 300] [--repeat 5] [--profile passkey --profile-out FILE]
        [--middleware]   # each middleware's cost on /health and on validate
        [--bounds]       # each row's irreducible work alone too (bench/bound.py): bound-<row>

The database must be migrated; the script creates its own users (and leaves them).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ORIGIN = "https://localhost"
RP_ID = "localhost"


def _production_env() -> None:
    os.environ.update(
        {
            "MANA_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "mana_auth.settings",
            "SECRET_KEY": secrets.token_urlsafe(64),
            # Fixed: the database keeps what it sealed (signing keys) from one run to the next.
            "MANA_AUTH_KEK": base64.b64encode(bytes(range(1, 33))).decode(),
            "MANA_SERVICE_KEY": secrets.token_urlsafe(40),
            "PERSONA_SEED_SECRET": secrets.token_urlsafe(40),
            "BASE_URL": ORIGIN,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "RATE_LIMITS_ENABLED": "false",
            "WEBAUTHN_RP_ID": RP_ID,
            "WEBAUTHN_ORIGINS": ORIGIN,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CACHE_KEY_PREFIX": f"percall-{secrets.token_hex(4)}",
            "REQUEST_LOG": os.environ.get("REQUEST_LOG", "true"),
        }
    )


def out(*parts: Any) -> None:
    """Results go to stdout: stderr carries the service's own log lines, as under gunicorn."""
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")
    sys.stdout.flush()


@contextmanager
def _recording(statements: list[str]) -> Iterator[None]:
    """Every statement of the block, BEGIN/COMMIT included (Django logs those too when the
    debug cursor is forced), across requests: ``request_started`` would clear the log."""
    from django.core.signals import request_started
    from django.db import connection, reset_queries

    connection.ensure_connection()
    request_started.disconnect(reset_queries)
    forced, connection.force_debug_cursor = connection.force_debug_cursor, True
    start = len(connection.queries_log)
    try:
        yield
    finally:
        statements.extend(query["sql"] for query in list(connection.queries_log)[start:])
        connection.force_debug_cursor = forced
        request_started.connect(reset_queries)


def environ(
    method: str, path: str, body: Any = None, token: str | None = None, query: str = ""
) -> dict[str, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": "mana-auth-bench/percall",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body is not None:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(raw))
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


class Caller:
    """Calls a WSGI application as gunicorn does: start_response, iterate, close."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.status = ""

    def _start(self, status: str, headers: list[Any], exc_info: Any = None) -> None:
        self.status = status

    def __call__(self, env: dict[str, Any]) -> tuple[int, bytes]:
        result = self.app(env, self._start)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        return int(self.status[:3]), body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="")
    parser.add_argument("--number", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", default="")
    parser.add_argument("--profile-out", default="")
    parser.add_argument("--middleware", action="store_true")
    parser.add_argument("--sql", action="store_true", help="print each statement")
    parser.add_argument(
        "--bounds", action="store_true", help="also each row's irreducible work (bench/bound.py)"
    )
    args = parser.parse_args(argv)

    _production_env()
    if args.bounds:
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.bound_settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    from accounts.signin import session as signin_session
    from bench.users import verified_user_maker
    from mana_auth.clientip import RequestMeta

    call = Caller(WSGIHandler())
    meta = RequestMeta(ip="127.0.0.1", user_agent="mana-auth-bench/percall")
    password = "bench-" + secrets.token_urlsafe(18)
    user_make = verified_user_maker("percall", password, meta)

    user = user_make("main")
    tokens = signin_session.session_start(user=user, meta=meta, method="password").tokens
    access = tokens.access_token
    chain = {"token": tokens.refresh_token}

    def refresh_env() -> dict[str, Any]:
        return environ("POST", "/api/v1/auth/refresh", {"refreshToken": chain["token"]})

    def refresh_after(body: bytes) -> None:
        chain["token"] = json.loads(body)["refreshToken"]

    status, body = call(environ("GET", "/api/v1/spaces", token=access))
    space_id = json.loads(body)["items"][0]["id"]
    login_user = user_make("login")

    endpoints: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[bytes], None] | None]] = {
        "health": (lambda: environ("GET", "/health"), None),
        "validate": (lambda: environ("POST", "/api/v1/auth/validate", {"token": access}), None),
        "session": (lambda: environ("GET", "/api/v1/auth/session", token=access), None),
        "jwks": (lambda: environ("GET", "/.well-known/jwks.json"), None),
        "refresh": (refresh_env, refresh_after),
        "access": (
            lambda: environ("GET", f"/api/v1/spaces/{space_id}/access", token=access),
            None,
        ),
        "login": (
            lambda: environ(
                "POST", "/api/v1/auth/login", {"email": login_user.email, "password": password}
            ),
            None,
        ),
    }
    if args.bounds:
        from bench.bound import BOUND_VIEWS, PREFIX

        for key in BOUND_VIEWS:
            endpoints[f"bound-{key}"] = (lambda key=key: environ("GET", f"/{PREFIX}{key}"), None)
    passkey_env = _passkey_setup(call, user_make, password)
    if passkey_env is not None:
        endpoints["passkey"] = (passkey_env, None)

    only = [name for name in args.only.split(",") if name] or list(endpoints)
    out(
        f"# per request, best of {args.repeat} x {args.number} (login: /10), "
        f"redis={'yes' if settings.REDIS_URL else 'no'}"
    )
    for name in only:
        make, after = endpoints[name]
        number = max(args.number // 10, 5) if name in ("login",) else args.number
        for _ in range(5):  # warm
            status, body = call(make())
            if after and status == 200:
                after(body)
        env = make()
        statements: list[str] = []
        with _recording(statements):
            status, body = call(env)
        if after and status == 200:
            after(body)
        if status >= 300:
            out(f"{name}: HTTP {status} {body[:200]!r}")
            continue
        best = best_cpu = float("inf")
        for _ in range(args.repeat):
            spent = cpu = 0.0
            for _ in range(number):
                env = make()
                started, started_cpu = time.perf_counter(), time.process_time()
                status, body = call(env)
                spent += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
                if after:
                    after(body)
            best, best_cpu = min(best, spent / number), min(best_cpu, cpu / number)
        out(
            f"{name:10s} {best * 1e6:8.0f} µs wall {best_cpu * 1e6:8.0f} µs cpu"
            f"  {len(statements)} SQL"
        )
        if args.sql:
            for sql in statements:
                out(f"    {sql[:160]}")
        if args.profile == name:
            _profile(call, make, after, number, args.profile_out)

    if args.middleware:
        _middleware_costs(endpoints, args.number, args.repeat)
    return 0


def _profile(
    call: Caller,
    make: Callable[[], dict[str, Any]],
    after: Callable[[bytes], None] | None,
    number: int,
    out: str,
) -> None:
    envs = [make() for _ in range(number)] if after is None else None
    # CPU time, not wall time: on a shared machine the wait for PostgreSQL is noise here.
    profiler = cProfile.Profile(time.process_time)
    for index in range(number):
        env = envs[index] if envs is not None else make()
        profiler.enable()
        _status, body = call(env)
        profiler.disable()
        if after:
            after(body)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stream.write(f"# {number} requests, cProfile, cumulative\n")
    stats.sort_stats("cumulative").print_stats(60)
    stream.write("\n# by own time\n")
    stats.sort_stats("tottime").print_stats(40)
    stream.write("\n# the service's own code and the WebAuthn/CBOR/crypto libraries\n")
    own = r"/(mana_auth|accounts|spaces|security)/|webauthn|cbor|cryptography"
    stats.sort_stats("cumulative").print_stats(own, 80)
    text = stream.getvalue()
    if out:
        with open(out, "w") as handle:
            handle.write(text)
    else:
        out(text)


def _middleware_costs(endpoints: dict[str, Any], number: int, repeat: int) -> None:
    """Each middleware's cost: the stack without it against the whole stack, per path.

    CPU time (process_time), every configuration measured once per round, round after round
    (``repeat`` rounds), the best round kept: drift on a busy machine hits all of them alike.
    """
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    full = list(settings.MIDDLEWARE)

    def handler_with(middleware: list[str]) -> Caller:
        settings.MIDDLEWARE = middleware
        try:
            return Caller(WSGIHandler())
        finally:
            settings.MIDDLEWARE = full

    configs: dict[str, list[str]] = {"whole stack": full, "no middleware": []}
    for item in full:
        configs[item.rsplit(".", 1)[-1]] = [m for m in full if m != item]
    callers = {name: handler_with(stack) for name, stack in configs.items()}
    paths = {name: endpoints[name][0] for name in ("health", "validate", "session")}
    best: dict[tuple[str, str], float] = {}
    for caller in callers.values():
        for make in paths.values():
            for _ in range(5):
                caller(make())
    for _ in range(repeat):
        for name, caller in callers.items():
            for path, make in paths.items():
                started = time.process_time()
                for _ in range(number):
                    caller(make())
                spent = (time.process_time() - started) / number * 1e6
                best[name, path] = min(best.get((name, path), spent), spent)
    out("\n# µs CPU per request: whole stack, none, and saved by removing each middleware")
    out("# (health / validate / session)")
    for name in callers:
        if name in ("whole stack", "no middleware"):
            figures = [best[name, path] for path in paths]
        else:
            figures = [best["whole stack", path] - best[name, path] for path in paths]
        out(f"{name:28s} " + " / ".join(f"{figure:5.0f}" for figure in figures))


def _passkey_setup(
    call: Caller, user_make: Callable[[str], Any], password: str
) -> Callable[[], dict[str, Any]] | None:
    try:
        from tests.passkeys.authenticator import SoftAuthenticator
    except ImportError:
        return None
    from accounts.signin import session as signin_session
    from mana_auth.clientip import RequestMeta

    user = user_make("passkey")
    token = signin_session.session_start(
        user=user, meta=RequestMeta(ip="127.0.0.1"), method="password"
    ).tokens.access_token
    device = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, counter_step=0)
    base = "/api/v1/auth/passkeys/"
    _, body = call(environ("POST", base + "register/options", {"password": password}, token))
    status, body = call(
        environ(
            "POST",
            base + "register/verify",
            {"credential": device.create(json.loads(body))},
            token,
        )
    )
    if status != 201:
        out(f"passkey: register/verify HTTP {status} {body[:200]!r}")
        return None

    def make() -> dict[str, Any]:
        _, raw = call(environ("POST", base + "authenticate/options", {}))
        options = json.loads(raw)
        credential = device.get(options)
        return environ(
            "POST",
            base + "authenticate/verify",
            {"ceremonyId": options["ceremonyId"], "credential": credential},
        )

    return make


if __name__ == "__main__":
    sys.exit(main())
