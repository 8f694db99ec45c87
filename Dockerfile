# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /venv
COPY requirements.lock pyproject.toml ./
RUN /venv/bin/pip install -r requirements.lock

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MANA_ENV=production MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824
RUN useradd --system --uid 10001 --home /app mana
WORKDIR /app
COPY --from=build /venv /venv
COPY --chown=mana:mana . .
RUN SECRET_KEY=build-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH MANA_ENV=test \
    python manage.py collectstatic --no-input
USER mana
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "mana_auth.wsgi:application"]
