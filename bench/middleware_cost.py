"""What each middleware of ``settings.MIDDLEWARE`` costs per request, measured in-process.

Django's own WSGI handler is built once per stack (``override_settings(MIDDLEWARE=…)`` while
it loads its chain) and called with a prepared ``GET /health`` environ, the response read and
closed, as gunicorn does (minus the HTTP parsing, which every stack pays alike). Stacks:

- none (Django's bare minimum: the view only), then every prefix of the list (the cost a
  middleware adds on top of those before it, "marginal");
- the full list without one middleware at a time (what removing it would save, "leave out").

Every stack runs ``--repeats`` times ``--requests`` requests, the stacks interleaved so noise
lands on all of them; a stack's figure is the median of all its requests' times (a busy
machine preempts a minority of them; the median does not see those).
Prints JSON; ``--out`` also writes a markdown table (``bench/out/middleware.md``).

    python -m bench.middleware_cost [--requests 500] [--repeats 5] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

PATH = "/health"


def environ_for(path: str = PATH) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_USER_AGENT": "mana-auth-bench/middleware",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
    }


def handler_for(stack: Sequence[str]) -> Callable[..., Any]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    with override_settings(MIDDLEWARE=list(stack)):
        return WSGIHandler()


def timed_batch(
    handler: Callable[..., Any], requests: int, template: dict[str, Any]
) -> list[float]:
    """Seconds of each of ``requests`` calls."""
    statuses: list[str] = []
    durations: list[float] = []
    clock = time.perf_counter

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    for _ in range(requests):
        started = clock()
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(b"")
        response = handler(environ, start_response)
        for _chunk in response:
            pass
        response.close()
        durations.append(clock() - started)
    if not statuses or not statuses[-1].startswith("200"):
        raise RuntimeError(f"{PATH} answered {statuses[-1] if statuses else 'nothing'}")
    return durations


def measure(middleware: Sequence[str], requests: int, repeats: int) -> dict[str, dict[str, float]]:
    """µs per request of every stack: ``prefix`` (k first) and ``without`` (all but one)."""
    stacks: dict[tuple[str, int], list[str]] = {}
    for k in range(len(middleware) + 1):
        stacks[("prefix", k)] = list(middleware[:k])
    for index in range(len(middleware)):
        stacks[("without", index)] = [m for i, m in enumerate(middleware) if i != index]
    handlers = {key: handler_for(stack) for key, stack in stacks.items()}
    template = environ_for()
    for key, handler in list(handlers.items()):  # warm every chain (imports, caches, DB)
        try:
            timed_batch(handler, 20, template)
        except RuntimeError:
            # A later middleware needs this one (authentication needs sessions): that stack
            # does not serve, so leaving this one out alone is not an option.
            if key[0] == "prefix":
                raise
            del handlers[key]
    pooled: dict[tuple[str, int], list[float]] = {key: [] for key in handlers}
    for _ in range(repeats):
        for key, handler in handlers.items():
            pooled[key] += timed_batch(handler, requests, template)
    best = {key: statistics.median(values) for key, values in pooled.items()}
    prefix = {str(k): best[("prefix", k)] * 1e6 for k in range(len(middleware) + 1)}
    without = {
        str(i): best[key] * 1e6 for i in range(len(middleware)) if (key := ("without", i)) in best
    }
    return {"prefix": prefix, "without": without}


def rows(middleware: Sequence[str], figures: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    prefix, without = figures["prefix"], figures["without"]
    full = prefix[str(len(middleware))]
    out = []
    for index, name in enumerate(middleware):
        out.append(
            {
                "middleware": name,
                "cumulative_us": prefix[str(index + 1)],
                "marginal_us": prefix[str(index + 1)] - prefix[str(index)],
                "leave_out_us": full - without[str(index)] if str(index) in without else None,
            }
        )
    return out


def markdown(middleware: Sequence[str], figures: dict[str, dict[str, float]], note: str) -> str:
    prefix = figures["prefix"]
    bare, full = prefix["0"], prefix[str(len(middleware))]
    stack = full - bare
    lines = [
        f"Per request, in-process, `GET {PATH}` through Django's WSGI handler ({note}); "
        f"no middleware: {bare:,.0f} µs, the whole stack: {full:,.0f} µs "
        f"(+{stack:,.0f} µs, {stack / full * 100 if full else 0:.0f}% of the request).",
        "",
        "| # | middleware | stack up to here µs | marginal µs | leave it out: saves µs "
        "| share of the stack |",
        "|---|---|---|---|---|---|",
    ]
    for index, row in enumerate(rows(middleware, figures), start=1):
        share = row["marginal_us"] / stack * 100 if stack > 0 else 0.0
        leave_out = (
            "— (a later one needs it)"
            if row["leave_out_us"] is None
            else f"{row['leave_out_us']:+,.1f}"
        )
        lines.append(
            f"| {index} | `{row['middleware']}` | {row['cumulative_us']:,.1f} "
            f"| {row['marginal_us']:+,.1f} | {leave_out} | {share:.0f}% |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
    import django

    django.setup()
    import logging

    from django.conf import settings

    # Every request logs a line, as under gunicorn: keep the cost, not the output.
    sink = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    for handler in logging.getLogger().handlers + [
        h
        for logger in logging.Logger.manager.loggerDict.values()
        for h in getattr(logger, "handlers", [])
    ]:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)

    middleware = list(settings.MIDDLEWARE)
    figures = measure(middleware, args.requests, args.repeats)
    note = f"median of {args.repeats} x {args.requests} requests per stack, stacks interleaved"
    result = {
        "path": PATH,
        "middleware": middleware,
        **figures,
        "rows": rows(middleware, figures),
        "markdown": markdown(middleware, figures, note),
    }
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(result["markdown"] + "\n")
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
