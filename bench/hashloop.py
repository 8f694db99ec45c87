"""The hash ceiling: argon2id verifications in a loop and nothing else, one thread per worker.

``--procs N`` one-thread loops run at the same time (N = the gunicorn workers), so the
ceiling sees the cores the workers would get, also on a busy machine. Runs with the server's
environment (settings, ``ARGON2_*``, allocator variables) and the service's own hasher: its
rate is what the workers could do if a login were only the hash. Prints JSON: verifications
per second (all loops), per loop, p50/p99 of one verification, the parameters.

    python -m bench.hashloop --seconds 5 --procs 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import sys
import time
from typing import Any


def loop(password: str, encoded: str, seconds: float, queue: Any) -> None:
    from django.contrib.auth.hashers import check_password

    from bench.lifetime import die_with_parent

    die_with_parent()

    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        before = time.perf_counter()
        check_password(password, encoded)
        latencies.append(time.perf_counter() - before)
    queue.put((latencies, time.perf_counter() - started))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    from bench.report import percentile

    password = "bench-" + secrets.token_urlsafe(18)
    encoded = make_password(password)
    if not check_password(password, encoded):  # warm, and a sanity check
        raise SystemExit("the hasher does not verify its own hash")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=loop, args=(password, encoded, args.seconds, queue), daemon=True)
        for _ in range(max(1, args.procs))
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=args.seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=5)
    latencies = [value for values, _ in results for value in values]
    rates = [len(values) / elapsed for values, elapsed in results]
    json.dump(
        {
            "hasher": get_hasher().algorithm,
            "memory_kib": settings.ARGON2_MEMORY_COST_KIB,
            "time_cost": settings.ARGON2_TIME_COST,
            "parallelism": settings.ARGON2_PARALLELISM,
            "procs": len(processes),
            "verifies": len(latencies),
            "seconds": max(elapsed for _, elapsed in results),
            "rate": sum(rates),
            "rate_per_loop": [round(rate, 1) for rate in rates],
            "p50_ms": (percentile(latencies, 50) or 0.0) * 1000,
            "p99_ms": (percentile(latencies, 99) or 0.0) * 1000,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
