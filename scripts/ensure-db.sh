#!/usr/bin/env bash
# Make sure the PostgreSQL named by DATABASE_URL answers and its database exists.
# Starts the local cluster when it is down; fails loudly when there is none.
set -euo pipefail
url="${DATABASE_URL:-}"
[ -n "$url" ] || exit 0   # empty: the embedded PostgreSQL is used (development only)
host=$(python3 -c "from urllib.parse import urlparse as u;import sys;p=u(sys.argv[1]);print(p.hostname or '127.0.0.1')" "$url")
port=$(python3 -c "from urllib.parse import urlparse as u;import sys;p=u(sys.argv[1]);print(p.port or 5432)" "$url")
user=$(python3 -c "from urllib.parse import urlparse as u;import sys;p=u(sys.argv[1]);print(p.username or 'postgres')" "$url")
db=$(python3 -c "from urllib.parse import urlparse as u;import sys;p=u(sys.argv[1]);print(p.path.lstrip('/'))" "$url")
if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL at $host:$port is down; starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
  fi
fi
if ! pg_isready -q -h "$host" -p "$port"; then
  echo "ERROR: no PostgreSQL answers at $host:$port (DATABASE_URL). Start one, or unset DATABASE_URL for the embedded server." >&2
  exit 1
fi
if ! psql -h "$host" -p "$port" -U "$user" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
  psql -h "$host" -p "$port" -U "$user" -d postgres -qc "CREATE DATABASE \"$db\""
fi
