"""Optional breached-password check (Have I Been Pwned's k-anonymity range API).

Off by default (``BREACHED_PASSWORD_CHECK``). Only the first five hex characters of the
password's SHA-1 leave this service. A network failure never blocks sign-up: it is logged and
the check fails open.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request

from django.conf import settings

logger = logging.getLogger("mana_auth.security.breached")


def password_breach_count(password: str, *, timeout: float = 2.0) -> int:
    if not settings.BREACHED_PASSWORD_CHECK:
        return 0
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    request = urllib.request.Request(  # noqa: S310 - the URL is an https setting
        settings.BREACHED_PASSWORD_API + prefix,
        headers={"Add-Padding": "true", "User-Agent": "mana-auth"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        logger.warning("breached-password check unavailable (%s); failing open", type(exc).__name__)
        return 0
    for line in body.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate == suffix:
            try:
                return int(count)
            except ValueError:
                return 1
    return 0
