"""Links the service mails, and the callbacks they may carry.

A mailed link opens a page: this service's own (``accounts.pages``, ``spaces.pages``) or, when
an operator sets ``PUBLIC_PAGES_URL``, another web app that serves the same paths and query
parameters (README "Pages"). Links are built from settings, never from a request's ``Host``.

A ``callbackURL`` is honoured only on a trusted origin (``mana_auth.origins``); anything else is
dropped without a word, so a mail never carries, and a page never redirects to, an address off
the list.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings

from mana_auth.origins import is_trusted_redirect

CALLBACK_MAX_LENGTH = 2000


def trusted_callback(url: object) -> str:
    """``url`` when it is an absolute URL on a trusted origin, else ``""``."""
    if not isinstance(url, str) or not url or len(url) > CALLBACK_MAX_LENGTH:
        return ""
    return url if is_trusted_redirect(url, settings.TRUSTED_ORIGINS) else ""


def page_link(path: str, **params: str) -> str:
    """``PUBLIC_PAGES_URL`` + ``path`` + the non-empty ``params``; a ``callbackURL`` among them
    only when it is trusted."""
    if "callbackURL" in params:
        params["callbackURL"] = trusted_callback(params["callbackURL"])
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{settings.PUBLIC_PAGES_URL}{path}" + (f"?{query}" if query else "")
