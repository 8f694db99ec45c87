"""Embedded PostgreSQL for development on a machine without a database server.

Only used when ``MANA_ENV=development`` and ``DATABASE_URL`` is unset. The server (from the
``pgserver`` package) keeps its data under ``.data/pg`` and keeps running between commands.
"""

from __future__ import annotations

from pathlib import Path

import pgserver  # only imported when settings start the embedded server


def embedded_database_url(data_dir: Path, database: str = "mana_auth") -> str:
    """Start (or reuse) the embedded server and return a URL for ``database`` on it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    # ``database`` is our own constant, never input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return f"postgres://postgres@/{database}?host={data_dir}"
