"""The single source of trusted origins.

CORS, CSRF, WebAuthn and redirect (``callbackURL``) validation all derive from this list, so an
app added here is trusted everywhere at once and nowhere else by accident.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# As the predecessor settled it: the consolidation into one web app retired the per-app
# subdomains (chat, notes, todo, calendar, contacts, …); an origin nothing serves any more is
# only a host an attacker may one day claim. tests/foundation/test_platform.py pins this list.
PRODUCTION_APPS = (
    "mana.how",
    "auth.mana.how",
    "app.mana.how",
    "calc.mana.how",
    "arcade.mana.how",
    "whopxl.mana.how",
    "admin.mana.how",
)
PRODUCTION_ORIGINS = tuple(f"https://{host}" for host in PRODUCTION_APPS)
PRODUCTION_COOKIE_DOMAIN = "mana.how"

# Local development servers of the Mana web apps (Vite/SvelteKit ports), the predecessor's port
# (3001, which local web apps still call) and this service.
DEVELOPMENT_PORTS = (3000, 3001, 5173, 5174, 5026, 8000, 4173)
DEVELOPMENT_ORIGINS = tuple(
    origin
    for port in DEVELOPMENT_PORTS
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}")
)


def normalize_origin(value: str) -> str | None:
    """Return ``scheme://host[:port]`` for an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def trusted_origins(*, production: bool, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Build the ordered, duplicate-free list of trusted origins for an environment."""
    candidates: list[str] = list(PRODUCTION_ORIGINS)
    if not production:
        candidates.extend(DEVELOPMENT_ORIGINS)
    candidates.extend(extra)
    result: list[str] = []
    for candidate in candidates:
        origin = normalize_origin(candidate)
        if origin and origin not in result:
            result.append(origin)
    return result


def is_trusted_redirect(url: str, origins: list[str]) -> bool:
    """Whether ``url`` is an absolute http(s) URL on a trusted origin (no open redirects)."""
    if not url or any(ch in url for ch in ("\\", "\r", "\n", "\t")):
        return False
    origin = normalize_origin(url)
    return origin is not None and origin in origins


def safe_redirect(url: str | None, origins: list[str], default: str) -> str:
    """Return ``url`` when it is trusted, otherwise ``default``."""
    return url if url and is_trusted_redirect(url, origins) else default
