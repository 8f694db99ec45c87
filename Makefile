# Everyday commands. `make dev` and `make test` set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mana_auth

.PHONY: install dev test lint fmt check-migrations bench bench-workers bench-scale schema messages admin clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock

# Development server. Uses DATABASE_URL (default: local PostgreSQL, created when missing);
# `make dev DATABASE_URL=` runs on the embedded PostgreSQL under .data/ instead.
dev: install
	@scripts/ensure-db.sh
	MANA_ENV=development $(BIN)/python manage.py migrate --no-input
	MANA_ENV=development $(BIN)/python manage.py ensure_dev_admin
	MANA_ENV=development $(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	@scripts/ensure-db.sh
	MANA_ENV=test $(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-migrations: install
	MANA_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run

schema: install
	MANA_ENV=test $(BIN)/python manage.py spectacular --file openapi.yaml --validate

bench: install
	bench/run.sh

# Every row under sync, gthread x2 and gthread x4 workers, side by side (about 15 minutes).
bench-workers: install
	BENCH_MATRIX=1 bench/run.sh

# The hot rows at 1k, 100k and 1M users seeded by COPY (BENCH_SCALE to choose the sizes).
bench-scale: install
	BENCH_SCALE=$${BENCH_SCALE:-1k,100k,1M} bench/run.sh

# The pages' German catalogue: collect new strings into locale/de/LC_MESSAGES/django.po, then
# compile django.mo (both are committed; needs gettext). Translate what is new, run it again.
messages: install
	MANA_ENV=test $(BIN)/python manage.py makemessages -l de --add-location=file \
		--ignore=tests --ignore=predecessor --ignore=bench --ignore=scripts \
		--ignore=staticfiles --ignore=accounts/hashers.py
	MANA_ENV=test $(BIN)/python manage.py compilemessages -l de --ignore=.venv

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
