"""Templated mail in German and English, HTML and plain text.

Templates live in ``templates/emails/<name>.<locale>.txt`` (first line ``Subject: …``) and
``templates/emails/<name>.<locale>.html``. Send failures are not swallowed: callers run inside
the transaction of the change, so a mail outage aborts the change with a 503.

Every value a caller puts into a mail's context is text someone else chose (a user's name, an
inviter's name, a Space's name) unless its key is in ``TRUSTED_KEYS``: ``render_mail`` passes
each through :func:`mail_text` before any template sees it, so nobody writes lines, links or
right-to-left tricks into a genuine mail from us.
"""

from __future__ import annotations

import logging
import re
import smtplib
import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.template.loader import render_to_string

from mana_auth.errors import ServiceUnavailable

logger = logging.getLogger("mana_auth.mail")
SUPPORTED_LOCALES = ("en", "de")

# Keys whose values the service builds itself (links with their tokens, our own URL).
TRUSTED_KEYS = frozenset({"link", "report_link", "base_url", "locale"})
# A name in a mail is a greeting, not a message: long enough for real names.
MAIL_TEXT_MAX_CHARS = 64
SUBJECT_MAX_CHARS = 160

# Schemes mail clients turn into links (or into an action: tel, sms, javascript).
_SCHEMES = (
    "https?|s?ftps?|file|mailto|tel|sms|callto|facetime|skype|javascript|vbscript|data|news|"
    "nntp|irc|ircs|git|ssh|magnet|webcal|feed|ldap|xmpp|bitcoin|intent|market|zoommtg"
)
_DOT = r"[.\u3002\uff0e\uff61]"  # what linkifiers and IDNA treat as a label separator
_LINK_LIKE = re.compile(
    rf"""
    (?:^|[^\w])(?:{_SCHEMES}):          # a scheme anywhere in the token
    | ://                               # any scheme://
    | (?:^|[^\w])www{_DOT}              # www.
    | @[^\s@]*{_DOT}                    # an address: x@host.tld
    | [^\W_]{_DOT}(?:[^\W\d_]{{2,}})(?:[^\w]|$)  # a host name: label.tld
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Seven digits or more, however grouped: mail apps offer to call them.
_PHONE_LIKE = re.compile(r"(?:\+|\b)\d(?:[\s\-./()]*\d){6,}")
# Format characters (bidi overrides and isolates, zero-width joiners), private use,
# surrogates and unassigned code points are dropped; control and separator characters
# (newlines, tabs, U+2028/2029, odd spaces) become one plain space.
_DROP = frozenset({"Cf", "Co", "Cs", "Cn"})
_TO_SPACE = frozenset({"Cc", "Zl", "Zp", "Zs"})


def _plain(value: str) -> str:
    chars = []
    for char in unicodedata.normalize("NFKC", value):
        category = unicodedata.category(char)
        if category in _DROP:
            continue
        chars.append(" " if category in _TO_SPACE else char)
    return " ".join("".join(chars).split())


def _is_address(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def mail_text(value: Any, *, limit: int = MAIL_TEXT_MAX_CHARS) -> str:
    """Someone else's text, made safe to print in a mail: one line of printable characters,
    no link, address or phone number a mail client could make clickable (such words are
    dropped), at most ``limit`` characters. A value that is exactly one email address stays
    as it is: mails greet a user without a name by their address."""
    text = _plain(str(value))
    if _is_address(text):
        return text
    text = _PHONE_LIKE.sub(" ", text)
    words = [word for word in text.split(" ") if word and not _LINK_LIKE.search(word)]
    text = " ".join(words)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def mail_context(context: dict[str, Any], *, recipient: str | None = None) -> dict[str, Any]:
    """``context`` with every untrusted string passed through :func:`mail_text`. A greeting
    name that nothing is left of falls back to the recipient's address."""
    safe = {
        key: mail_text(value) if isinstance(value, str) and key not in TRUSTED_KEYS else value
        for key, value in context.items()
    }
    if "name" in safe and not safe["name"] and recipient:
        safe["name"] = mail_text(recipient)
    return safe


def _locale(value: str | None) -> str:
    return value if value in SUPPORTED_LOCALES else "en"


def render_mail(
    name: str, context: dict[str, Any], locale: str | None, *, recipient: str | None = None
) -> tuple[str, str, str]:
    lang = _locale(locale)
    full = {
        **mail_context(context, recipient=recipient),
        "base_url": settings.BASE_URL,
        "locale": lang,
    }
    text = render_to_string(f"emails/{name}.{lang}.txt", full).lstrip()
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template emails/{name}.{lang}.txt must start with 'Subject:'")
    html = render_to_string(f"emails/{name}.{lang}.html", full)
    subject = _plain(first.removeprefix("Subject:"))[:SUBJECT_MAX_CHARS]
    return subject, body.strip() + "\n", html


def mail_suppressed(*, to: str, kind: str) -> bool:
    """Personas (and anything at the non-existent ``@mana.test``) never receive mail."""
    return kind == "persona" or to.lower().endswith("@mana.test")


def send_mail(
    *, to: str, name: str, context: dict[str, Any], locale: str | None, kind: str = "human"
) -> None:
    """Render and send one mail. Personas (``kind='persona'``) never receive mail."""
    if mail_suppressed(to=to, kind=kind):
        return
    subject, text, html = render_mail(name, context, locale, recipient=to)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.error("mail %s could not be sent: %s", name, type(exc).__name__)
        raise ServiceUnavailable() from exc
