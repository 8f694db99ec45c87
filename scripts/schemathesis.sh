#!/usr/bin/env bash
# Fuzz the live OpenAPI schema with schemathesis: any 5xx or any response that does not
# match the schema fails the run. Bounded in examples and time; loopback only.
# Needs DATABASE_URL (a migrated database) and the project venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${FUZZ_PORT:-8765}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-15}"
MAX_TIME="${FUZZ_MAX_TIME:-240}"
export MANA_ENV=test RATE_LIMITS_ENABLED=false BASE_URL="http://127.0.0.1:$PORT"
export EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
# A throwaway RSA key, so mission grants answer 200 instead of GRANT_NOT_CONFIGURED.
MANA_AI_PUBLIC_KEY_PEM=$(.venv/bin/python -c "
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
print(key.public_bytes(serialization.Encoding.PEM,
      serialization.PublicFormat.SubjectPublicKeyInfo).decode().replace(chr(10), chr(92) + 'n'))")
export MANA_AI_PUBLIC_KEY_PEM
export DJANGO_SETTINGS_MODULE=mana_auth.settings

.venv/bin/python manage.py migrate --no-input -v0
TOKEN=$(.venv/bin/python manage.py fuzz_token)

.venv/bin/gunicorn -c gunicorn.conf.py --bind "127.0.0.1:$PORT" --workers 2 \
  --access-logfile /dev/null mana_auth.wsgi:application >/tmp/mana-fuzz-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.2
done

set +e
.venv/bin/schemathesis run "http://127.0.0.1:$PORT/api/v1/schema/" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --workers 2 \
  --header "Authorization: Bearer $TOKEN" \
  --exclude-path-regex '/auth/(logout|account|sessions/.+|change-password)$|/me/data$' \
  --suppress-health-check all \
  --no-color
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail)"; tail -n 60 /tmp/mana-fuzz-server.log
fi
exit "$status"
