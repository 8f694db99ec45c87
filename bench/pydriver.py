"""A small closed-loop HTTP load driver: processes x threads, one keep-alive ``http.client``
connection each (it reconnects when the server closes, as gunicorn's sync workers do).

Used where wrk cannot be: passkey sign-ins (every request needs a fresh WebAuthn assertion
signed over a challenge from the server), and every endpoint when wrk is missing. The ceiling
those rows are compared with is measured by this same driver.

    python -m bench.pydriver SPEC.json     # prints one JSON result on stdout

Spec: ``host``, ``port``, ``mode`` (``static``: round robin over ``requests``; ``refresh``:
chains of single-use refresh tokens from ``tokens``; ``oneshot``: each line of the file
``bodies`` POSTed once to ``path``; ``passkey``: register one software
passkey per thread, prefetch signed assertions for ``prefetch`` seconds, then measure
``authenticate/verify``; with ``prefetch_only`` the signed bodies are written to ``out``
instead, one per line, for wrk to send), ``duration``, ``warmup``, ``procs``, ``threads``.
Requests completing inside the measured window count (like wrk, non-2xx answers count as
requests and as errors). Every phase is bounded in time.
"""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
import os
import queue as queue_lib
import sys
import time
from collections import deque
from typing import Any

from bench.lifetime import die_with_parent
from bench.report import percentile

PASSKEYS = "/api/v1/auth/passkeys/"
BARRIER_TIMEOUT = 90.0
POOL_CAP_PER_THREAD = 5000


class Phase:
    """Warm-up then the measured window, from one instant shared by every thread."""

    def __init__(self, warmup: float, duration: float) -> None:
        self.start = time.monotonic()
        self.measure_start = self.start + warmup
        self.end = self.measure_start + duration


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.failures = 0  # connection errors and timeouts
        self.first_error = ""
        self.stopped_after: float | None = None  # ran out of requests this far into the window
        self.bodies: list[str] = []  # prefetched request bodies (passkey, prefetch only)

    def record(self, phase: Phase, began: float, finished: float, status: int | None) -> None:
        if not phase.measure_start <= finished <= phase.end:
            return
        if status is None:
            self.failures += 1
            return
        self.latencies.append(finished - began)
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def error(self, text: str) -> None:
        self.first_error = self.first_error or text

    def as_dict(self) -> dict[str, Any]:
        return {
            "latencies": self.latencies,
            "statuses": self.statuses,
            "failures": self.failures,
            "first_error": self.first_error,
            "stopped_after": self.stopped_after,
            "bodies": self.bodies,
        }


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def json_request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    payload: Any = None,
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = None if payload is None else json.dumps(payload).encode()
    status, data = exchange(connection, method, path, body, headers)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


def timed(
    connection: http.client.HTTPConnection, tally: Tally, phase: Phase, request: dict[str, Any]
) -> tuple[int | None, bytes]:
    began = time.monotonic()
    try:
        status, data = exchange(
            connection, request["method"], request["path"], request.get("body"), request["headers"]
        )
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        tally.error(f"{type(exc).__name__}: {exc}")
        tally.record(phase, began, time.monotonic(), None)
        return None, b""
    tally.record(phase, began, time.monotonic(), status)
    return status, data


def prepared(item: dict[str, Any]) -> dict[str, Any]:
    headers = dict(item.get("headers") or {})
    body = item.get("body")
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
        body = body.encode() if isinstance(body, str) else body
    return {
        "method": item.get("method", "GET"),
        "path": item["path"],
        "body": body,
        "headers": headers,
    }


def share(items: list[Any], slot: int, total: int) -> list[Any]:
    """This thread's items: every ``total``-th from ``slot`` (all of them when too few)."""
    mine = items[slot::total]
    return mine or list(items)


# --- Thread bodies ----------------------------------------------------------------------------


def run_static(spec: dict[str, Any], slot: int, total: int, barrier: Any, tally: Tally) -> None:
    connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=spec["timeout"])
    requests = [prepared(item) for item in share(spec["requests"], slot, total)]
    barrier.wait(BARRIER_TIMEOUT)
    phase = Phase(spec["warmup"], spec["duration"])
    index = 0
    while time.monotonic() < phase.end:
        timed(connection, tally, phase, requests[index % len(requests)])
        index += 1
    connection.close()


def run_refresh(spec: dict[str, Any], slot: int, total: int, barrier: Any, tally: Tally) -> None:
    """Each token starts a chain: every 200 answer hands back the next refresh token."""
    connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=spec["timeout"])
    pool = deque(share(spec["tokens"], slot, total))
    barrier.wait(BARRIER_TIMEOUT)
    phase = Phase(spec["warmup"], spec["duration"])
    while time.monotonic() < phase.end:
        if not pool:
            tally.stopped_after = time.monotonic() - phase.measure_start
            tally.error("refresh token pool empty")
            break
        body = json.dumps({"refreshToken": pool.popleft()}).encode()
        request = prepared({"method": "POST", "path": "/api/v1/auth/refresh", "body": body})
        status, data = timed(connection, tally, phase, request)
        if status == 200:
            pool.append(json.loads(data)["refreshToken"])
    connection.close()


def run_oneshot(spec: dict[str, Any], slot: int, total: int, barrier: Any, tally: Tally) -> None:
    """POST each prefetched body (``bodies``: a file, one per line) to ``path`` once."""
    connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=spec["timeout"])
    with open(spec["bodies"]) as handle:
        pool = deque(share([line for line in handle.read().splitlines() if line], slot, total))
    barrier.wait(BARRIER_TIMEOUT)
    phase = Phase(spec["warmup"], spec["duration"])
    while time.monotonic() < phase.end:
        if not pool:
            tally.stopped_after = time.monotonic() - phase.measure_start
            break
        timed(
            connection,
            tally,
            phase,
            prepared({"method": "POST", "path": spec["path"], "body": pool.popleft()}),
        )
    connection.close()


def run_passkey(spec: dict[str, Any], slot: int, total: int, barrier: Any, tally: Tally) -> None:
    """Register a passkey, prefetch signed assertions, then measure only the verifications."""
    from tests.passkeys.authenticator import SoftAuthenticator

    options = spec["passkey"]
    user = options["users"][slot % len(options["users"])]
    connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=spec["timeout"])
    device = SoftAuthenticator(origin=options["origin"], rp_id=options["rp_id"], counter_step=0)
    ready = False
    try:
        status, body = json_request(
            connection,
            "POST",
            PASSKEYS + "register/options",
            {"password": options["password"]},
            user["access_token"],
        )
        if status == 200:
            status, body = json_request(
                connection,
                "POST",
                PASSKEYS + "register/verify",
                {"credential": device.create(body), "name": "bench"},
                user["access_token"],
            )
            ready = status == 201
        if not ready:
            tally.error(f"passkey registration: HTTP {status} {str(body)[:200]}")
    except (OSError, http.client.HTTPException) as exc:
        tally.error(f"passkey registration: {type(exc).__name__}: {exc}")
    barrier.wait(BARRIER_TIMEOUT)
    prefetch_end = time.monotonic() + options["prefetch"]
    pool: deque[bytes] = deque()
    while ready and time.monotonic() < prefetch_end and len(pool) < POOL_CAP_PER_THREAD:
        try:
            status, body = json_request(connection, "POST", PASSKEYS + "authenticate/options", {})
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            tally.error(f"authenticate/options: {type(exc).__name__}: {exc}")
            continue
        if status != 200 or not isinstance(body, dict):
            tally.error(f"authenticate/options: HTTP {status} {str(body)[:200]}")
            break
        assertion = {"ceremonyId": body["ceremonyId"], "credential": device.get(body)}
        pool.append(json.dumps(assertion).encode())
    if spec.get("prefetch_only"):  # wrk sends them (bench.bench)
        tally.bodies = [body.decode() for body in pool]
        connection.close()
        return
    barrier.wait(BARRIER_TIMEOUT + options["prefetch"])
    phase = Phase(spec["warmup"], spec["duration"])
    while ready and time.monotonic() < phase.end:
        if not pool:
            tally.stopped_after = time.monotonic() - phase.measure_start
            break
        request = prepared(
            {"method": "POST", "path": PASSKEYS + "authenticate/verify", "body": pool.popleft()}
        )
        timed(connection, tally, phase, request)
    connection.close()


MODES = {
    "static": run_static,
    "refresh": run_refresh,
    "oneshot": run_oneshot,
    "passkey": run_passkey,
}


def process_main(spec: dict[str, Any], index: int, barrier: Any, queue: Any) -> None:
    import threading

    die_with_parent()

    total = spec["procs"] * spec["threads"]
    tallies = [Tally() for _ in range(spec["threads"])]
    body = MODES[spec["mode"]]

    def thread_main(slot: int, tally: Tally) -> None:
        try:
            body(spec, slot, total, barrier, tally)
        except threading.BrokenBarrierError:
            tally.error("a driver thread did not reach the start in time")
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            tally.error(f"{type(exc).__name__}: {exc}")
            barrier.abort()

    threads = [
        threading.Thread(target=thread_main, args=(index * spec["threads"] + i, tally))
        for i, tally in enumerate(tallies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put([tally.as_dict() for tally in tallies])


def prefetched(parts: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Write every thread's prefetched bodies to ``spec["out"]``, one per line, interleaved
    (so each wrk thread's share mixes all passkeys)."""
    first_error = next((part["first_error"] for part in parts if part["first_error"]), "")
    lines = [
        body
        for row in itertools.zip_longest(*(part["bodies"] for part in parts))
        for body in row
        if body is not None
    ]
    if not lines:
        return {"error": first_error or "no assertion prefetched"}
    descriptor = os.open(spec["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return {"count": len(lines), "first_error": first_error}


def combine(parts: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """One result from every thread's tally."""
    latencies = [value for part in parts for value in part["latencies"]]
    statuses: dict[str, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    failures = sum(part["failures"] for part in parts)
    errors = failures + sum(
        count for status, count in statuses.items() if not status.startswith("2")
    )
    first_error = next((part["first_error"] for part in parts if part["first_error"]), "")
    duration = float(spec["duration"])
    note = ""
    stops = [part["stopped_after"] for part in parts if part["stopped_after"] is not None]
    if stops and len(stops) == len(parts):
        note = "prepared requests ran out early; rate over the time they lasted"
    if not latencies:
        return {"error": first_error or "no request completed in the measured window"}
    if note:
        # Every thread stopped early: the window is as long as the last one's requests lasted.
        duration = max(duration * 0.1, min(duration, max(stops)))
    requests = len(latencies)
    return {
        "requests": requests,
        "duration_s": duration,
        "rps": requests / duration,
        "p50_ms": (percentile(latencies, 50) or 0.0) * 1000,
        "p90_ms": (percentile(latencies, 90) or 0.0) * 1000,
        "p99_ms": (percentile(latencies, 99) or 0.0) * 1000,
        "errors": errors,
        "statuses": statuses,
        "note": note or (f"first error: {first_error}" if errors and first_error else ""),
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"timeout": 10.0, "warmup": 1.0, "procs": 2, "threads": 8, **spec}
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(spec["procs"] * spec["threads"])
    queue = context.Queue()
    processes = [
        context.Process(target=process_main, args=(spec, index, barrier, queue), daemon=True)
        for index in range(spec["procs"])
    ]
    for process in processes:
        process.start()
    prefetch = spec.get("passkey", {}).get("prefetch", 0)
    budget = 2 * BARRIER_TIMEOUT + prefetch + spec["warmup"] + spec["duration"] + 30
    parts: list[dict[str, Any]] = []
    reported = 0
    deadline = time.monotonic() + budget
    while reported < len(processes) and time.monotonic() < deadline:
        try:
            parts.extend(queue.get(timeout=1.0))
            reported += 1
        except queue_lib.Empty:
            if not any(process.is_alive() for process in processes) and queue.empty():
                break
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
    if reported < len(processes):
        return {"error": "a driver process died or hung"}
    if spec.get("prefetch_only"):
        return prefetched(parts, spec)
    return combine(parts, spec)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    with open(arguments[0]) as handle:
        spec = json.load(handle)
    json.dump(run(spec), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
