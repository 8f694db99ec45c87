#!/usr/bin/env bash
# `make bench`: the hot paths measured side by side with this machine's ceilings.
# Needs the venv (`make install`), a PostgreSQL (BENCH_DATABASE_URL, default the local one:
# started when down, the database `mana_auth_bench` dropped and re-created) and, when present,
# Redis (BENCH_REDIS_URL, default db 10). Installs wrk from Debian's packages when missing and
# running as root; otherwise the Python driver measures everything. Knobs: bench/bench.py.
# `make bench-workers` (BENCH_MATRIX=1): every row under sync, gthread x2 and gthread x4.
# `make bench-scale` (BENCH_SCALE=1k,100k,1M): the hot rows as the data grows (COPY seeding).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${BENCH_PYTHON:-.venv/bin/python}
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mana_auth_bench}

# The local cluster up (ensure-db starts it and creates the database when missing).
DATABASE_URL=$BENCH_DATABASE_URL scripts/ensure-db.sh

if [ "${BENCH_DRIVER:-auto}" != python ] && ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing wrk (apt-get install wrk)" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 120 apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { timeout 120 apt-get update -qq >/dev/null 2>&1 \
           && timeout 120 apt-get install -y -qq wrk >/dev/null 2>&1; } \
      || echo "bench: could not install wrk; the Python driver measures every row" >&2
  else
    echo "bench: wrk not found (apt-get install wrk); the Python driver measures every row" >&2
  fi
fi

# bench.py stops the servers it starts on exit, interrupt or SIGTERM. The worker-model matrix
# (BENCH_MATRIX=1) and the scale series (BENCH_SCALE=1k,100k,1M) run much longer.
limit=900
if [ -n "${BENCH_SCALE:-}" ] || [ "${BENCH_MATRIX:-0}" != 0 ]; then limit=14400; fi
exec timeout --foreground -s TERM "${BENCH_TIMEOUT_SECONDS:-$limit}" "$PY" -m bench.bench "$@"
