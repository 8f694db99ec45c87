"""Templated mail in German and English, HTML and plain text.

Templates live in ``templates/emails/<name>.<locale>.txt`` (first line ``Subject: …``) and
``templates/emails/<name>.<locale>.html``. Send failures are not swallowed: callers run inside
the transaction of the change, so a mail outage aborts the change with a 503.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from mana_auth.errors import ServiceUnavailable

logger = logging.getLogger("mana_auth.mail")
SUPPORTED_LOCALES = ("en", "de")


def _locale(value: str | None) -> str:
    return value if value in SUPPORTED_LOCALES else "en"


def render_mail(name: str, context: dict[str, Any], locale: str | None) -> tuple[str, str, str]:
    lang = _locale(locale)
    full = {"base_url": settings.BASE_URL, "locale": lang, **context}
    text = render_to_string(f"emails/{name}.{lang}.txt", full).lstrip()
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template emails/{name}.{lang}.txt must start with 'Subject:'")
    html = render_to_string(f"emails/{name}.{lang}.html", full)
    return first.removeprefix("Subject:").strip(), body.strip() + "\n", html


def send_mail(
    *, to: str, name: str, context: dict[str, Any], locale: str | None, kind: str = "human"
) -> None:
    """Render and send one mail. Personas (``kind='persona'``) never receive mail."""
    if kind == "persona" or to.lower().endswith("@mana.test"):
        return
    subject, text, html = render_mail(name, context, locale)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        logger.error("mail %s could not be sent: %s", name, type(exc).__name__)
        raise ServiceUnavailable() from exc
