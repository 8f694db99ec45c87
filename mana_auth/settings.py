"""Django settings, read from the environment (see README "Configuration").

Development works with no variables set; production refuses to boot without its secrets.
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from mana_auth import config
from mana_auth.config import ConfigError, env_bool, env_int, env_list, env_str
from mana_auth.origins import PRODUCTION_COOKIE_DOMAIN, normalize_origin, trusted_origins
from mana_auth.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ

MANA_ENV = env_str(ENV, "MANA_ENV", "development")
if MANA_ENV not in config.ENVIRONMENTS:
    raise ConfigError(f"MANA_ENV must be one of {config.ENVIRONMENTS}, got {MANA_ENV!r}")
IS_PRODUCTION = MANA_ENV == "production"

if IS_PRODUCTION:
    _problems = config.production_problems(ENV)
    if _problems:
        raise ConfigError("Refusing to boot in production:\n  - " + "\n  - ".join(_problems))

SECRET_KEY = env_str(ENV, "SECRET_KEY", config.DEV_SECRET_KEY)
DEBUG = (not IS_PRODUCTION) and env_bool(ENV, "DEBUG", MANA_ENV == "development")
BASE_URL = env_str(ENV, "BASE_URL", "http://localhost:8000").rstrip("/")
# Where mailed links point (reset, magic link, invitation, "this wasn't me", the verification
# outcome): this service's own pages by default, or another web app that serves the same paths
# and query parameters (README "Pages").
PUBLIC_PAGES_URL = env_str(ENV, "PUBLIC_PAGES_URL", BASE_URL).rstrip("/")
if normalize_origin(PUBLIC_PAGES_URL) is None or (
    IS_PRODUCTION and not PUBLIC_PAGES_URL.startswith("https://")
):
    raise ConfigError("PUBLIC_PAGES_URL must be an absolute http(s) URL (https in production)")

ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS") or (
    [] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = [urlsplit(BASE_URL).hostname or ""]

# --- Keys -----------------------------------------------------------------------------------
_kek_raw = env_str(ENV, "MANA_AUTH_KEK")
if _kek_raw:
    MANA_AUTH_KEK = config.decode_kek(_kek_raw)
else:
    MANA_AUTH_KEK = config.DEV_KEK
    if MANA_ENV == "development":
        logging.getLogger("mana_auth.config").warning(
            "MANA_AUTH_KEK is not set: using the all-zero DEVELOPMENT key-encryption key. "
            "Never run like this with real data."
        )
MANA_AUTH_KEKS_RETIRED = [
    config.decode_kek(raw, "MANA_AUTH_KEKS_RETIRED")
    for raw in env_list(ENV, "MANA_AUTH_KEKS_RETIRED")
]
MANA_SERVICE_KEY = env_str(ENV, "MANA_SERVICE_KEY", config.DEV_SERVICE_KEY)
PERSONA_SEED_SECRET = env_str(ENV, "PERSONA_SEED_SECRET", "dev-persona-seed-secret")
MANA_AI_PUBLIC_KEY_PEM = env_str(ENV, "MANA_AI_PUBLIC_KEY_PEM").replace("\\n", "\n")
# Opt-in: label the grant's RSA-OAEP wrap with its context (only for receivers that build it).
MISSION_GRANT_BIND_CONTEXT = env_bool(ENV, "MISSION_GRANT_BIND_CONTEXT", False)

# --- Applications ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "accounts",
    "security",
    "vault",
    "spaces",
    "personas",
    "predecessor",
]

# Order matters. The security headers (SecurityMiddleware, XFrameOptionsMiddleware) sit outside
# every layer that builds a response of its own (the envelope, the body limit, WhiteNoise,
# CORS preflights), so every response carries them, errors included. The envelope sits outside
# CORS and the body limit, so it keeps their headers when it replaces an HTML error.
MIDDLEWARE = [
    "mana_auth.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mana_auth.middleware.ErrorEnvelopeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "mana_auth.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "mana_auth.middleware.PageMessageMiddleware",
]

ROOT_URLCONF = "mana_auth.urls"
WSGI_APPLICATION = "mana_auth.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_database_url = env_str(ENV, "DATABASE_URL")
if not _database_url:
    if MANA_ENV == "development" and env_bool(ENV, "EMBEDDED_POSTGRES", True):
        # Imported only here: pgserver costs ~0.1 s to import and only this case needs it.
        from mana_auth.embedded_db import embedded_database_url

        _database_url = embedded_database_url(BASE_DIR / ".data" / "pg")
    else:
        _database_url = "postgres://postgres@127.0.0.1:5432/mana_auth"
DATABASES = {"default": config.parse_database_url(_database_url)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int(ENV, "DB_CONN_MAX_AGE", 60)
# Off by default: the check is a `SELECT 1` round trip at the start of every request. A dead
# connection fails its first query instead (503), and Django discards it at the request's end.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool(ENV, "DB_CONN_HEALTH_CHECKS", False)
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", "5")
_sync_url = env_str(ENV, "SYNC_DATABASE_URL")
if _sync_url and _sync_url != _database_url:
    DATABASES["sync"] = config.parse_database_url(_sync_url)
    DATABASES["sync"]["OPTIONS"].setdefault("connect_timeout", "5")
    DATABASES["sync"]["TEST"] = {"DEPENDENCIES": []}
DATABASE_ROUTERS = ["spaces.routers.SyncStoreRouter"]

# --- Cache and shared state -----------------------------------------------------------------
# State that every worker must see (rate counters, cooldowns, passkey ceremonies, the validate
# cache) goes through ``security.shared_state``: Redis when REDIS_URL is set, else PostgreSQL.
# Django's own cache holds nothing of that kind; without Redis it is per-process memory.
REDIS_URL = env_str(ENV, "REDIS_URL")
CACHE_KEY_PREFIX = env_str(ENV, "CACHE_KEY_PREFIX", "mana-auth")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "mana_auth.cache.ManaRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Passwords ------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "accounts.hashers.ManaArgon2PasswordHasher",
    # Verifies only: hashes imported from the predecessor, upgraded to argon2id at sign-in.
    "accounts.hashers.BetterAuthScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# OWASP's argon2id minimum: 19 MiB, two passes, one lane (see the Performance section).
# The test suite hashes hundreds of passwords: it uses real argon2id at a lower cost.
ARGON2_MEMORY_COST_KIB = env_int(
    ENV, "ARGON2_MEMORY_COST_KIB", 4 * 1024 if MANA_ENV == "test" else 19 * 1024
)
ARGON2_TIME_COST = env_int(ENV, "ARGON2_TIME_COST", 1 if MANA_ENV == "test" else 2)
ARGON2_PARALLELISM = env_int(ENV, "ARGON2_PARALLELISM", 1)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.validators.MaximumLengthValidator"},
]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The pages' German (``locale/de/LC_MESSAGES/django.po``; the compiled .mo is committed).
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's and the API docs' assets from STATIC_ROOT (`collectstatic`
# runs in the Dockerfile); outside production it finds them in the apps directly.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
if not IS_PRODUCTION:  # no collectstatic outside production: the finders serve the assets
    warnings.filterwarnings("ignore", message="No directory at")

# --- HTTP -----------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
MAX_REQUEST_BODY_BYTES = 1024 * 1024
TRUSTED_PROXIES = config.parse_networks(env_list(ENV, "TRUSTED_PROXIES"), "TRUSTED_PROXIES")
TRUSTED_ORIGINS = trusted_origins(
    production=IS_PRODUCTION,
    extra=[BASE_URL, PUBLIC_PAGES_URL, *env_list(ENV, "TRUSTED_ORIGINS")],
)
CORS_ALLOWED_ORIGINS = TRUSTED_ORIGINS
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-request-id",
    "x-service-key",
)
CORS_EXPOSE_HEADERS = ("x-request-id", "retry-after")
CSRF_TRUSTED_ORIGINS = TRUSTED_ORIGINS
CSRF_FAILURE_VIEW = "mana_auth.error_views.csrf_failure"
COOKIE_DOMAIN = env_str(ENV, "COOKIE_DOMAIN") or (PRODUCTION_COOKIE_DOMAIN if IS_PRODUCTION else "")
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool(ENV, "SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health"]
    SECURE_HSTS_SECONDS = env_int(ENV, "SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Tokens and sessions --------------------------------------------------------------------
JWT_AUDIENCE = env_str(ENV, "JWT_AUDIENCE", "mana")
JWT_ISSUER = BASE_URL
JWT_ACCESS_TTL_SECONDS = env_int(ENV, "JWT_ACCESS_TTL_SECONDS", 900)
REFRESH_TTL_DAYS = env_int(ENV, "REFRESH_TTL_DAYS", 30)
SESSION_IDLE_TTL_DAYS = env_int(ENV, "SESSION_IDLE_TTL_DAYS", 14)
SESSION_ABSOLUTE_TTL_DAYS = env_int(ENV, "SESSION_ABSOLUTE_TTL_DAYS", REFRESH_TTL_DAYS)
# How long `validate` may answer "live" from the shared cache. Every revocation deletes the
# entry at once (before and after its commit); 0 turns the cache off.
SESSION_CACHE_SECONDS = env_int(ENV, "SESSION_CACHE_SECONDS", 30)
# How long `GET /spaces/{id}/access` may answer from Redis. Every membership, role, tier or
# module-permission change replaces the Space's version (before and after its commit), which
# orphans every entry computed before it; 0 turns the cache off. Without Redis: no cache.
SPACE_ACCESS_CACHE_SECONDS = env_int(ENV, "SPACE_ACCESS_CACHE_SECONDS", 30)
SSO_COOKIE_SECURE = IS_PRODUCTION or env_bool(ENV, "SSO_COOKIE_SECURE", False)
SSO_COOKIE_NAME = "__Secure-mana.session_token" if SSO_COOKIE_SECURE else "mana.session_token"
DEVICE_COOKIE_NAME = "mana.device"
# Set by `register` in the browser that signs up; its verification link keeps the chosen
# password only when opened there (or with the password): see accounts.registration.email_verify.
# `__Host-` when secure: Secure, Path=/ and no Domain are then enforced by the browser, so no
# sibling subdomain can plant or overwrite it. The previous release's `__Secure-mana.signup`
# is not read (a sibling subdomain could plant it), only cleared: accounts.cookies.
SIGNUP_COOKIE_NAME = "__Host-mana.signup" if SSO_COOKIE_SECURE else "mana.signup"
REAUTH_WINDOW_SECONDS = env_int(ENV, "REAUTH_WINDOW_SECONDS", 600)
EMAIL_VERIFICATION_TTL_HOURS = env_int(ENV, "EMAIL_VERIFICATION_TTL_HOURS", 24)
PASSWORD_RESET_TTL_MINUTES = env_int(ENV, "PASSWORD_RESET_TTL_MINUTES", 60)
MAGIC_LINK_TTL_MINUTES = env_int(ENV, "MAGIC_LINK_TTL_MINUTES", 15)
MFA_TOKEN_TTL_SECONDS = env_int(ENV, "MFA_TOKEN_TTL_SECONDS", 300)
SECURITY_REPORT_TTL_DAYS = env_int(ENV, "SECURITY_REPORT_TTL_DAYS", 7)  # "this wasn't me" links
REQUIRE_EMAIL_VERIFICATION = env_bool(ENV, "REQUIRE_EMAIL_VERIFICATION", True)
MAX_DAILY_SIGNUPS = env_int(ENV, "MAX_DAILY_SIGNUPS", None)
# Where the verify-email link lands without a trusted callbackURL: the verification page.
DEFAULT_REDIRECT_URL = env_str(ENV, "DEFAULT_REDIRECT_URL", PUBLIC_PAGES_URL + "/verify-email")

# --- Lockout and rate limits (security app) -------------------------------------------------
LOCKOUT_MAX_FAILURES = env_int(ENV, "LOCKOUT_MAX_FAILURES", 5)
LOCKOUT_WINDOW_SECONDS = env_int(ENV, "LOCKOUT_WINDOW_SECONDS", 15 * 60)
LOCKOUT_DURATION_SECONDS = env_int(ENV, "LOCKOUT_DURATION_SECONDS", 30 * 60)
RATE_LIMITS_ENABLED = env_bool(ENV, "RATE_LIMITS_ENABLED", True)
# Login attempts (email key, IP, user agent) older than this are deleted by ``flush_outbox``;
# 0 keeps them forever.
LOGIN_ATTEMPT_RETENTION_DAYS = env_int(ENV, "LOGIN_ATTEMPT_RETENTION_DAYS", 90)
# "name=budget,name=budget" (names in security/ratelimit.py), e.g. "login-ip=120"
RATE_LIMIT_OVERRIDES = {
    name.strip(): int(value)
    for name, _, value in (item.partition("=") for item in env_list(ENV, "RATE_LIMIT_OVERRIDES"))
}
BREACHED_PASSWORD_CHECK = env_bool(ENV, "BREACHED_PASSWORD_CHECK", False)
BREACHED_PASSWORD_API = env_str(
    ENV, "BREACHED_PASSWORD_API", "https://api.pwnedpasswords.com/range/"
)

# --- WebAuthn -------------------------------------------------------------------------------
# Production: an explicit WEBAUTHN_RP_ID, else the explicit COOKIE_DOMAIN (the boot check
# refuses neither, and an RP id that is not BASE_URL's host or a parent domain of it).
WEBAUTHN_RP_ID = config.webauthn_rp_id(ENV, production=IS_PRODUCTION)
WEBAUTHN_RP_NAME = env_str(ENV, "WEBAUTHN_RP_NAME", "Mana")
WEBAUTHN_ORIGINS = env_list(ENV, "WEBAUTHN_ORIGINS") or TRUSTED_ORIGINS

# --- Other services -------------------------------------------------------------------------
MANA_CREDITS_URL = env_str(ENV, "MANA_CREDITS_URL")
# How long the GDPR summary and export wait for mana-credits' balance and transactions.
MANA_CREDITS_TIMEOUT_MS = env_int(ENV, "MANA_CREDITS_TIMEOUT_MS", 2000)

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = env_str(ENV, "EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int(ENV, "EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str(ENV, "EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str(ENV, "EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool(ENV, "EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str(ENV, "EMAIL_BACKEND", EMAIL_BACKEND)
EMAIL_FILE_PATH = env_str(ENV, "EMAIL_FILE_PATH")  # for the file backend (the fuzzing run)
DEFAULT_FROM_EMAIL = env_str(ENV, "DEFAULT_FROM_EMAIL", "Mana <no-reply@mana.how>")
# Queued mail (accounts/mailqueue.py) is sent by a background thread in each process after
# the response; off in the test settings, where tests deliver with mail_queue_deliver_now().
MAIL_QUEUE_WORKER = env_bool(ENV, "MAIL_QUEUE_WORKER", MANA_ENV != "test")

# --- DRF and OpenAPI ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["mana_auth.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "mana_auth.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mana-auth",
    "DESCRIPTION": "Identity service of the Mana ecosystem (contract v1).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A PATCH body is what its serializer says (PATCH passkeys needs ``name``), not all-optional.
    "COMPONENT_SPLIT_PATCH": False,
    "CAMELIZE_NAMES": False,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": ["owner", "admin", "member"],
        "RestrictableRoleEnum": ["admin", "member"],
        "LevelEnum": ["none", "read", "write", "admin"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mana_auth.openapi.postprocess",
    ],
}

# --- Logging and error tracking -------------------------------------------------------------
LOG_FORMAT = env_str(ENV, "LOG_FORMAT", "json" if IS_PRODUCTION else "text")
# One access-log line per request (logger ``mana_auth.request``; see mana_auth/middleware.py).
REQUEST_LOG = env_bool(ENV, "REQUEST_LOG", True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "mana_auth.logging.RequestIdFilter"},
        "redact": {"()": "mana_auth.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "mana_auth.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env_str(ENV, "LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
    },
}

SENTRY_DSN = env_str(ENV, "SENTRY_DSN") or env_str(ENV, "GLITCHTIP_DSN")
if SENTRY_DSN:
    init_sentry(dsn=SENTRY_DSN, environment=MANA_ENV)

# auth.E003: addresses are unique by their comparison key (accounts_user_email_key_unique on
# User.email_key, see accounts/emails.py), not by the spelling in User.email.
SILENCED_SYSTEM_CHECKS = ["auth.E003"]
LOGIN_URL = "admin:login"
OTP_TOTP_ISSUER = "Mana"
ADMIN_TOTP_ENFORCED = env_bool(ENV, "ADMIN_TOTP_ENFORCED", True)

SESSION_ENGINE = "django.contrib.sessions.backends.db"
ADMIN_SESSION_AGE = timedelta(hours=8).total_seconds()
SESSION_COOKIE_AGE = int(ADMIN_SESSION_AGE)

# --- Spaces ---------------------------------------------------------------------------------
# The sync store's tables (``sync_changes``) are their own app so the router can send them to
# the ``sync`` alias (``SYNC_DATABASE_URL``) by app label, migrations included.
INSTALLED_APPS += ["spaces.sync_store"]
SPACE_INVITATION_TTL_DAYS = env_int(ENV, "SPACE_INVITATION_TTL_DAYS", 7)
