"""Do the enumeration-safe endpoints answer known and unknown addresses in the same time?

``python -m bench.enumeration_timing`` starts the service under gunicorn (production settings,
throwaway secrets, rate limits off) on a fresh database, seeds a verified and an unverified
account, then sends ``forgot-password``, ``magic-link``, ``resend-verification`` and
``register`` (with the verified and with the unverified account's address; the other side
signs up a new address each time) for a known and for an unknown address, alternating, N times
each, over one keep-alive connection, and prints the median and 90th percentile of each side
and their difference.

Knobs (environment): TIMING_DATABASE_URL (…/mana_auth_timing; dropped and re-created, so its
name must contain "timing"), TIMING_PORT (8390), TIMING_REQUESTS (200 per side and endpoint),
TIMING_WORKERS (1), TIMING_PAUSE_MS (20: pause after each request, so that work deferred
past a response does not overlap the next one), TIMING_EMAIL_BACKEND (console | smtp | file;
default console), TIMING_SMTP_PORT (for smtp: a sink such as
``python -m aiosmtpd -n -l 127.0.0.1:PORT``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.bench import random_kek
from bench.lifetime import die_with_parent

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
KNOWN, PENDING = "known-timing@example.com", "pending-timing@example.com"
SIGN_UP_PASSWORD = "an-unguessable-timing-passphrase-93"
# name → (path, the known address, the expected status, the body carries a password)
ENDPOINTS = {
    "forgot-password": ("/api/v1/auth/forgot-password", KNOWN, 202, False),
    "magic-link": ("/api/v1/auth/magic-link", KNOWN, 202, False),
    "resend-verification": ("/api/v1/auth/resend-verification", PENDING, 202, False),
    "register (verified owner)": ("/api/v1/auth/register", KNOWN, 201, True),
    "register (unverified owner)": ("/api/v1/auth/register", PENDING, 201, True),
}
SEED = f"""
from django.utils import timezone
from accounts import registration
from accounts.signin import session as signin_session
from accounts.models import User
from mana_auth.clientip import RequestMeta
for email, verified in (("{KNOWN}", True), ("{PENDING}", False)):
    user, _ = registration.user_register(email=email, password="correct horse battery staple",
        meta=RequestMeta(ip="127.0.0.1"), send_verification=False)
    if verified:
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
"""


def _database_url() -> str:
    url = os.environ.get(
        "TIMING_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mana_auth_timing"
    )
    if "timing" not in urlsplit(url).path:
        raise SystemExit("TIMING_DATABASE_URL must name a database containing 'timing'")
    return url


def _recreate(url: str) -> str:
    """Drop and create the database, owned by an ordinary role ``<name>_app`` (production
    refuses to serve as a superuser); returns the URL that connects as that role."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    role, password = f"{name}_app", secrets.token_urlsafe(24)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
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
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _env(url: str, port: int, mail_dir: str) -> dict[str, str]:
    backend = os.environ.get("TIMING_EMAIL_BACKEND", "console")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "DATABASE_", "MANA_", "EMAIL_"))
        and key not in ("REDIS_URL", "DEBUG")
    }
    env.update(
        {
            "MANA_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "mana_auth.settings",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "MANA_AUTH_KEK": random_kek(),
            "MANA_SERVICE_KEY": secrets.token_urlsafe(40),
            "PERSONA_SEED_SECRET": secrets.token_urlsafe(40),
            "BASE_URL": "https://localhost",
            "WEBAUTHN_RP_ID": "localhost",  # production refuses to boot without a passkey RP id
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": url,
            "RATE_LIMITS_ENABLED": "false",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": os.environ.get("TIMING_WORKERS", "1"),
            "GUNICORN_WORKER_CLASS": "sync",
            "MALLOC_MMAP_MAX_": "0",
            "MALLOC_TRIM_THRESHOLD_": "1073741824",
        }
    )
    if backend == "smtp":
        env["EMAIL_HOST"] = "127.0.0.1"
        env["EMAIL_PORT"] = os.environ.get("TIMING_SMTP_PORT", "8325")
        env["EMAIL_USE_TLS"] = "false"
    elif backend == "file":
        env["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
        env["EMAIL_FILE_PATH"] = mail_dir
    else:
        env["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    return env


def _post(
    connection: http.client.HTTPConnection,
    path: str,
    email: str,
    expected: int = 202,
    password: bool = False,
) -> float:
    body = json.dumps(
        {"email": email, "password": SIGN_UP_PASSWORD} if password else {"email": email}
    )
    started = time.perf_counter()
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != expected:
        raise SystemExit(f"{path} answered {response.status}")
    return elapsed * 1000


def _measure(port: int, count: int, pause: float) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for name, (path, known, expected, password) in ENDPOINTS.items():
        for _ in range(20):  # warm-up, both sides
            _post(connection, path, known, expected, password)
            _post(
                connection, path, f"nobody-{secrets.token_hex(4)}@example.com", expected, password
            )
        sides: dict[str, list[float]] = {"known": [], "unknown": []}
        for index in range(count):
            order = ("known", "unknown") if index % 2 == 0 else ("unknown", "known")
            for side in order:
                email = known if side == "known" else f"nobody-{secrets.token_hex(4)}@example.com"
                sides[side].append(_post(connection, path, email, expected, password))
                time.sleep(pause)  # let work deferred past the response finish
        results[name] = sides
    connection.close()
    return results


def _table(results: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        "| endpoint | known p50 | unknown p50 | Δ p50 | known p90 | unknown p90 |",
        "|---|---|---|---|---|---|",
    ]
    for name, sides in results.items():
        known, unknown = sides["known"], sides["unknown"]
        k50, u50 = statistics.median(known), statistics.median(unknown)
        k90 = statistics.quantiles(known, n=10)[-1]
        u90 = statistics.quantiles(unknown, n=10)[-1]
        lines.append(
            f"| {name} | {k50:.2f} ms | {u50:.2f} ms | {k50 - u50:+.2f} ms "
            f"| {k90:.2f} ms | {u90:.2f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    url = _database_url()
    port = int(os.environ.get("TIMING_PORT", "8390"))
    count = int(os.environ.get("TIMING_REQUESTS", "200"))
    url = _recreate(url)
    with tempfile.TemporaryDirectory() as mail_dir:
        env = _env(url, port, mail_dir)
        for args in (
            ["manage.py", "migrate", "--no-input", "-v0"],
            ["manage.py", "shell", "-c", SEED],
        ):
            subprocess.run([PYTHON, *args], cwd=REPO, env=env, check=True)  # noqa: S603
        log = open(Path(mail_dir) / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
        gunicorn = str(Path(PYTHON).with_name("gunicorn"))
        server = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                gunicorn,
                "-c",
                "gunicorn.conf.py",
                "--no-control-socket",
                "mana_auth.wsgi:application",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            deadline = time.monotonic() + 40
            while True:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    probe.request("GET", "/health")
                    if probe.getresponse().status == 200:
                        break
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start")
                time.sleep(0.3)
            results = _measure(port, count, int(os.environ.get("TIMING_PAUSE_MS", "20")) / 1000)
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
    backend = os.environ.get("TIMING_EMAIL_BACKEND", "console")
    print(f"{count} requests per side, mail backend: {backend}")
    print(_table(results))


if __name__ == "__main__":
    main()
