"""Where a page goes when its flow is done: a trusted ``callbackURL`` or a same-origin ``next``.

Both arrive as query parameters or hidden form fields, so neither is believed: every request
checks them again. A ``callbackURL`` counts only on a trusted origin (``mana_auth.links``); a
``next`` only as a path on this site (``/…``, never ``//host`` or a scheme). Anything else is
dropped silently and the flow ends on the signed-in page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme

from mana_auth.links import CALLBACK_MAX_LENGTH, trusted_callback

HOME = "/"


def safe_next(value: object) -> str:
    """``value`` when it is a path on this site, else ``""``."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > CALLBACK_MAX_LENGTH:
        return ""
    if value.startswith(("//", "/\\")) or any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return ""
    return value if url_has_allowed_host_and_scheme(value, allowed_hosts=set()) else ""


@dataclass(frozen=True)
class Target:
    callback: str = ""  # an absolute URL on a trusted origin
    next: str = ""  # a path on this site

    @property
    def url(self) -> str:
        """Where to go now."""
        return self.callback or self.next or HOME

    def params(self) -> dict[str, str]:
        """The query parameters (and hidden fields) that carry this target to the next step."""
        found = {"callbackURL": self.callback, "next": self.next}
        return {key: value for key, value in found.items() if value}

    def query(self, **extra: str) -> str:
        """``?…`` with this target (and ``extra``), or ``""``."""
        params = {**{k: v for k, v in extra.items() if v}, **self.params()}
        return f"?{urlencode(params)}" if params else ""

    def mailed(self) -> str:
        """The callback a mailed link should carry: the callback, else ``next`` made absolute
        on this service's URL (trusted by construction), else nothing."""
        if self.callback:
            return self.callback
        return trusted_callback(settings.BASE_URL + self.next) if self.next else ""


def target_from(data: Mapping[str, object]) -> Target:
    """The target named by a request's query or form data, each part checked."""
    return Target(
        callback=trusted_callback(data.get("callbackURL")), next=safe_next(data.get("next"))
    )


def with_status(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query, before any fragment (a callback learns a
    flow's outcome)."""
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))
