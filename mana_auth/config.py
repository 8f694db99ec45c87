"""Parse configuration from the environment.

Pure functions with no Django import, so settings can use them and tests can call them with a
dict instead of ``os.environ``. A production deployment with a missing or malformed secret
must fail at boot, not at the first request that needs it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlparse

ENVIRONMENTS = ("development", "test", "production")
DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production-0123456789"
DEV_SERVICE_KEY = "dev-service-key"
DEV_KEK = bytes(32)
DEV_PERSONA_SEED_SECRET = "dev-persona-seed-secret"


class ConfigError(Exception):
    """A setting is missing or malformed; raised at boot."""


def env_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env_str(env, name)
    if raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env_str(env, name)
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_list(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env_str(env, name).split(",") if item.strip()]


def decode_kek(raw: str, name: str = "MANA_AUTH_KEK") -> bytes:
    """Decode a base64 key-encryption key; it must be exactly 32 bytes."""
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} is not valid base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{name} must decode to exactly 32 bytes, got {len(key)}")
    return key


def parse_database_url(url: str) -> dict[str, object]:
    """Turn ``postgres://user:pass@host:port/name?options`` into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ConfigError("DATABASE_URL must be a postgres:// URL")
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ConfigError("DATABASE_URL must name a database")
    options: dict[str, str] = {}
    host = unquote(parsed.hostname or "")
    for pair in filter(None, parsed.query.split("&")):
        key, _, value = pair.partition("=")
        if key == "host":
            host = unquote(value)
        else:
            options[key] = unquote(value)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "OPTIONS": options,
    }


def parse_networks(
    values: list[str], name: str
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise ConfigError(f"{name}: {value!r} is not an address or CIDR") from exc
    return networks


def webauthn_rp_id(env: Mapping[str, str], *, production: bool) -> str:
    """The passkey relying party id: ``WEBAUTHN_RP_ID``; in production else the explicitly set
    ``COOKIE_DOMAIN`` (the SSO domain every app lives under, as the predecessor did); outside
    production else ``localhost``. Empty in production when neither is set (boot refuses)."""
    explicit = env_str(env, "WEBAUTHN_RP_ID").lower()
    if explicit:
        return explicit
    if production:
        return env_str(env, "COOKIE_DOMAIN").lstrip(".").lower()
    return "localhost"


def rp_id_problem(rp_id: str, base_url: str) -> str | None:
    """Why passkeys cannot work with ``rp_id`` for the service at ``base_url``, or None.

    WebAuthn accepts an RP id only when it is the page's host or a registrable parent domain of
    it (on a label boundary; a bare top-level label is a public suffix). Without a public
    suffix list, multi-label public suffixes (``co.uk``) are not recognised here.
    """
    host = (urlparse(base_url).hostname or "").lower()
    if not rp_id:
        return "the passkey relying party id is empty"
    if not host:
        return "BASE_URL has no host"
    if any(ch in rp_id for ch in ":/@ ") or rp_id.startswith(".") or rp_id.endswith("."):
        return f"WEBAUTHN_RP_ID {rp_id!r} is not a domain name"
    try:
        ipaddress.ip_address(rp_id)
    except ValueError:
        pass
    else:
        return f"WEBAUTHN_RP_ID {rp_id!r} is an IP address; passkeys need a domain"
    if host == rp_id:
        return None
    if not host.endswith("." + rp_id):
        return f"WEBAUTHN_RP_ID {rp_id!r} is neither BASE_URL's host {host!r} nor a parent of it"
    if "." not in rp_id:
        return f"WEBAUTHN_RP_ID {rp_id!r} is a top-level domain, not a registrable one"
    return None


def production_problems(env: Mapping[str, str]) -> list[str]:
    """List what stops a production boot. Empty means the secrets are present and well formed."""
    problems = []
    secret = env_str(env, "SECRET_KEY")
    if not secret:
        problems.append("SECRET_KEY is required in production")
    elif secret == DEV_SECRET_KEY or len(secret) < 50 or len(set(secret)) < 5:
        problems.append("SECRET_KEY must be a random value of at least 50 characters")
    kek = env_str(env, "MANA_AUTH_KEK")
    if not kek:
        problems.append("MANA_AUTH_KEK is required in production (base64 of 32 bytes)")
    else:
        try:
            if decode_kek(kek) == DEV_KEK:
                problems.append("MANA_AUTH_KEK must not be the all-zero development key")
        except ConfigError as exc:
            problems.append(str(exc))
    for retired in env_list(env, "MANA_AUTH_KEKS_RETIRED"):
        try:
            decode_kek(retired, "MANA_AUTH_KEKS_RETIRED")
        except ConfigError as exc:
            problems.append(str(exc))
    service_key = env_str(env, "MANA_SERVICE_KEY")
    if not service_key:
        problems.append("MANA_SERVICE_KEY is required in production")
    elif service_key == DEV_SERVICE_KEY or len(service_key) < 32:
        problems.append("MANA_SERVICE_KEY must be a unique value of at least 32 characters")
    persona_secret = env_str(env, "PERSONA_SEED_SECRET")
    if not persona_secret:
        problems.append("PERSONA_SEED_SECRET is required in production")
    elif persona_secret == DEV_PERSONA_SEED_SECRET:
        problems.append("PERSONA_SEED_SECRET must not be the development fallback value")
    if not env_str(env, "DATABASE_URL"):
        problems.append("DATABASE_URL is required in production")
    base_url = env_str(env, "BASE_URL")
    if not base_url.startswith("https://"):
        problems.append("BASE_URL must be an https:// URL in production")
    rp_id = webauthn_rp_id(env, production=True)
    if not rp_id:
        problems.append(
            "WEBAUTHN_RP_ID or COOKIE_DOMAIN is required in production (the passkey relying "
            "party id: BASE_URL's host or a parent domain of it)"
        )
    elif base_url.startswith("https://"):
        problem = rp_id_problem(rp_id, base_url)
        if problem:
            problems.append(f"{problem}: passkeys would fail on every browser")
    return problems
