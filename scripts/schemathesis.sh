#!/usr/bin/env bash
# Fuzz the live OpenAPI schema with schemathesis: any 5xx or any response that does not
# match the schema fails the run. Bounded in examples and time; loopback only.
# The run signs in: `manage.py fuzz_seed` creates the accounts, scripts/schemathesis_hooks.py
# gives every operation its identity (user, operator, service key), real ids for its path and a
# few cases only a real client could build (passwords, mailed tokens, passkey assertions).
# Needs DATABASE_URL (a migrated database) and the project venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${FUZZ_PORT:-8765}"
# One pass over every operation, bounded by examples (about four minutes here). A time budget
# (FUZZ_MAX_TIME) makes schemathesis repeat its phases until the time is up, and the last,
# truncated pass can show an operation only the odd refused case.
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-100}"
TIME_LIMIT=()
if [ -n "${FUZZ_MAX_TIME:-}" ]; then TIME_LIMIT=(--max-time "$FUZZ_MAX_TIME"); fi
WORK="$(mktemp -d)"
export MANA_ENV=test RATE_LIMITS_ENABLED=false BASE_URL="http://127.0.0.1:$PORT"
# The fuzzer reuses addresses it saw with random passwords: no account may lock for it.
export LOCKOUT_MAX_FAILURES=1000000
# Mails go to files, so the hooks can follow the links a real user would get.
export EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend
# Queued mail (forgot-password, magic links, …) is delivered after each response, as in
# production, so the hooks find the links in the files.
export MAIL_QUEUE_WORKER=true
export EMAIL_FILE_PATH="$WORK/mail"
# Tokens outlive the run; passkeys answer for the software authenticator's origin.
export JWT_ACCESS_TTL_SECONDS=3600 WEBAUTHN_RP_ID=localhost WEBAUTHN_ORIGINS=http://localhost:8000
# A throwaway RSA key, so mission grants answer 200 instead of GRANT_NOT_CONFIGURED.
MANA_AI_PUBLIC_KEY_PEM=$(.venv/bin/python -c "
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
print(key.public_bytes(serialization.Encoding.PEM,
      serialization.PublicFormat.SubjectPublicKeyInfo).decode().replace(chr(10), chr(92) + 'n'))")
export MANA_AI_PUBLIC_KEY_PEM
export DJANGO_SETTINGS_MODULE=mana_auth.settings
# Two workers share ceremonies and counters through Redis when FUZZ_REDIS_URL names one (CI
# does); without it they share them through PostgreSQL.
if [ -n "${FUZZ_REDIS_URL:-}" ]; then export REDIS_URL="$FUZZ_REDIS_URL"; fi
MANA_SERVICE_KEY="${MANA_SERVICE_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')}"
export MANA_SERVICE_KEY

.venv/bin/python manage.py migrate --no-input -v0
.venv/bin/python manage.py fuzz_seed --out "$WORK/targets.json"

.venv/bin/gunicorn -c gunicorn.conf.py --bind "127.0.0.1:$PORT" --workers 2 \
  --access-logfile /dev/null mana_auth.wsgi:application >"$WORK/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.2
done

export SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks FUZZ_TARGETS="$WORK/targets.json" \
  FUZZ_BASE_URL="http://127.0.0.1:$PORT" FUZZ_MAIL_DIR="$WORK/mail"
set +e
.venv/bin/schemathesis --config-file scripts/schemathesis.toml \
  run "http://127.0.0.1:$PORT/api/v1/schema/" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" "${TIME_LIMIT[@]}" --workers 2 \
  --suppress-health-check all \
  --no-color ${FUZZ_EXTRA:-}
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail)"; tail -n 60 "$WORK/server.log"
fi
exit "$status"
