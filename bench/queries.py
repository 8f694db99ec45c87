"""SQL statements per request of every measured endpoint, counted in-process.

Django's test client runs the whole stack (middleware, DRF, services) against the bench
database and cache, with ``CaptureQueriesContext``. Each path is warmed once, then counted
three times; the figure is the last count (the steady state the load sees). BEGIN, COMMIT and
savepoints count (each is a round trip, and ``django_assert_max_num_queries`` counts them
too). Not counted: the connection's ``SELECT 1`` health check (``CONN_HEALTH_CHECKS``), which
runs on a psycopg cursor outside Django's wrappers.

    python -m bench.queries --out FILE [--explain FILE]

With ``--explain``, each endpoint is called once more after counting, and every statement it
sends (BEGIN, COMMIT, savepoints and repeats left out) is first run under ``EXPLAIN (ANALYZE,
BUFFERS)`` with the same parameters, just before the real one and in a savepoint (or
transaction) that is rolled back: the plan sees the data the statement sees (the refresh
token not yet claimed, the session not yet inserted) and keeps no write. The plans go to that
file (the scale series writes ``bench/out/explain-<size>.txt`` at its largest size).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

REPEAT = 3
ORIGIN = os.environ.get("BENCH_WEBAUTHN_ORIGIN", "https://localhost")
RP_ID = os.environ.get("WEBAUTHN_RP_ID", "localhost")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--explain", help="write EXPLAIN (ANALYZE, BUFFERS) of every statement")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import Resolver404, resolve

    from accounts.signin import session as signin_session
    from bench.users import verified_user_maker
    from mana_auth.clientip import RequestMeta

    # A view that raises answers 500 here, as under gunicorn: that row says "error".
    client = Client(SERVER_NAME="localhost", REMOTE_ADDR="127.0.0.1", raise_request_exception=False)
    meta = RequestMeta(ip="127.0.0.1", user_agent="mana-auth-bench/queries")
    password = "bench-" + secrets.token_urlsafe(18)
    user_make = verified_user_maker("bench-q", password, meta)

    def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is None:
            return getattr(client, method)(path, headers=headers)
        return getattr(client, method)(
            path, data=json.dumps(body), content_type="application/json", headers=headers
        )

    def present(path: str) -> bool:
        try:
            resolve(path)
        except Resolver404:
            return False
        return True

    results: dict[str, Any] = {}
    explainer = Explainer()

    def count(
        key: str, request: Callable[[Any], Any], prepare: Callable[[], Any] | None = None
    ) -> None:
        """Warm once, count REPEAT times; ``prepare`` (not counted) makes each request's body."""
        counts: list[int] = []
        statements: list[str] = []
        for attempt in range(REPEAT + 1):
            argument = prepare() if prepare else None
            with CaptureQueriesContext(connection) as captured:
                response = request(argument)
            if response.status_code >= 300:
                results[key] = {"error": f"HTTP {response.status_code} {response.content[:200]!r}"}
                return
            if attempt:
                counts.append(len(captured.captured_queries))
                statements = [query["sql"][:300] for query in captured.captured_queries]
        results[key] = {"queries": counts[-1], "counts": counts, "sql": statements}
        if args.explain:
            argument = prepare() if prepare else None
            explainer.key = key
            with connection.execute_wrapper(explainer):
                request(argument)
            explainer.key = None

    user = user_make("main")
    sign_in = signin_session.session_start(user=user, meta=meta, method="password")
    access = sign_in.tokens.access_token

    count("validate", lambda _: call("post", "/api/v1/auth/validate", {"token": access}))
    count("session", lambda _: call("get", "/api/v1/auth/session", token=access))
    count("jwks", lambda _: call("get", "/.well-known/jwks.json"))

    chain = {"token": sign_in.tokens.refresh_token}

    def refresh(_: Any) -> Any:
        response = call("post", "/api/v1/auth/refresh", {"refreshToken": chain["token"]})
        if response.status_code == 200:
            chain["token"] = response.json()["refreshToken"]
        return response

    count("refresh", refresh)

    login_user = user_make("login")
    count(
        "login",
        lambda _: call(
            "post", "/api/v1/auth/login", {"email": login_user.email, "password": password}
        ),
    )

    if present("/api/v1/spaces") and present(f"/api/v1/spaces/{user.id}/access"):
        listing = call("get", "/api/v1/spaces", token=access)
        items = listing.json().get("items") if listing.status_code == 200 else None
        if items:
            path = f"/api/v1/spaces/{items[0]['id']}/access"
            count("access", lambda _: call("get", path, token=access))
        else:
            results["access"] = {"error": f"no Space listed (HTTP {listing.status_code})"}
    else:
        results["access"] = {"missing": True}

    base = "/api/v1/auth/passkeys/"
    if all(present(base + tail) for tail in ("register/verify", "authenticate/verify")):
        problem = _passkey_count(call, count, user_make, password)
        if problem:
            results["passkey"] = {"error": problem}
    else:
        results["passkey"] = {"missing": True}

    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=1)
    if args.explain:
        with open(args.explain, "w") as handle:
            handle.write(explainer.text())
    return 0


EXPLAINED = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


class Explainer:
    """A Django execute wrapper: before each statement of the endpoint ``key`` runs, its
    ``EXPLAIN (ANALYZE, BUFFERS)`` with the same parameters, rolled back."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.plans: dict[str, list[tuple[str, str]]] = {}
        self.seen: dict[str, set[str]] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        words = sql.lstrip().split(None, 1)
        if self.key and not many and words and words[0].upper() in EXPLAINED:
            seen = self.seen.setdefault(self.key, set())
            if sql not in seen:
                seen.add(sql)
                self.plans.setdefault(self.key, []).append(
                    (self.shown(context, sql, params), self.plan(context, sql, params))
                )
        return execute(sql, params, many, context)

    @staticmethod
    def shown(context: Any, sql: str, params: Any) -> str:
        try:
            return context["cursor"].cursor.mogrify(sql, params)
        except Exception:  # noqa: BLE001 - only for display
            return f"{sql}\n-- params: {params!r}"

    @staticmethod
    def plan(context: Any, sql: str, params: Any) -> str:
        import psycopg

        connection = context["connection"]
        raw = context["cursor"].cursor  # psycopg's own cursor: not logged, not counted
        inside = connection.in_atomic_block
        raw.execute("SAVEPOINT bench_explain" if inside else "BEGIN")
        try:
            raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            return "\n".join(row[0] for row in raw.fetchall())
        except psycopg.Error as exc:
            return f"EXPLAIN failed: {str(exc).strip()[:300]}"
        finally:
            raw.execute("ROLLBACK TO SAVEPOINT bench_explain" if inside else "ROLLBACK")

    def text(self) -> str:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM accounts_user")
            users = cursor.fetchone()[0]
        parts = [
            f"-- EXPLAIN (ANALYZE, BUFFERS) of the hot queries: {users:,} users, database "
            f"{size / 1024 / 1024:,.0f} MiB. Each statement as the endpoint sent it, explained "
            "just before it ran, in a savepoint rolled back.\n"
        ]
        for key, plans in self.plans.items():
            for index, (sql, plan) in enumerate(plans, start=1):
                parts.append(f"\n== {key}, statement {index} ==\n{sql}\n\n{plan}\n")
        return "".join(parts)


def _passkey_count(call: Any, count: Any, user_make: Any, password: str) -> str | None:
    """Register a software passkey, then count sign-in verifications (options not counted).
    Returns what went wrong, or None."""
    try:
        from tests.passkeys.authenticator import SoftAuthenticator
    except ImportError as exc:
        return f"no software authenticator ({exc})"
    from accounts.signin import session as signin_session
    from mana_auth.clientip import RequestMeta

    user = user_make("passkey")
    token = signin_session.session_start(
        user=user, meta=RequestMeta(ip="127.0.0.1"), method="password"
    ).tokens.access_token
    device = SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, counter_step=0)
    base = "/api/v1/auth/passkeys/"
    options = call("post", base + "register/options", {"password": password}, token)
    if options.status_code != 200:
        return f"register/options HTTP {options.status_code}"
    created = call(
        "post", base + "register/verify", {"credential": device.create(options.json())}, token
    )
    if created.status_code != 201:
        return f"register/verify HTTP {created.status_code} {created.content[:200]!r}"

    def prepare() -> dict[str, Any]:
        request_options = call("post", base + "authenticate/options", {}).json()
        credential = device.get(request_options)
        return {"ceremonyId": request_options["ceremonyId"], "credential": credential}

    count("passkey", lambda body: call("post", base + "authenticate/verify", body), prepare)
    return None


if __name__ == "__main__":
    sys.exit(main())
