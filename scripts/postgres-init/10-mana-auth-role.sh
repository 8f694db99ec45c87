#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data directory
# (docker-compose.yml mounts this folder at /docker-entrypoint-initdb.d).
#
# The service must not connect as a superuser: superusers and BYPASSRLS roles are exempt from
# the vault's row-level security, and production refuses to serve as one (mana_auth/boot.py).
# This creates the ordinary role the service logs in as, and its database, owned by it (the
# owner runs `migrate`; FORCE ROW LEVEL SECURITY binds the owner too).
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --host "${PGHOST:-/var/run/postgresql}" --username "${POSTGRES_USER:-postgres}" \
  --dbname postgres \
  -v role="${MANA_DB_USER:-mana_auth}" \
  -v dbname="${MANA_DB_NAME:-mana_auth}" \
  -v password="${MANA_DB_PASSWORD:?set MANA_DB_PASSWORD}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password'
  NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE :"dbname" OWNER :"role";
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO :"role";
SQL
