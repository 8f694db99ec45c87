"""Helpers for the page tests: a browser-like client that enforces CSRF, forms, mail links."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browser(Client):
    """Django's test client with CSRF enforced, as a browser meets it: a POST carries the
    token of the form last shown (``submit``), or none at all (``post``)."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(enforce_csrf_checks=True, **defaults)
        self.csrf = ""

    def show(self, path: str, **extra: Any) -> Any:
        response = self.get(path, **extra)
        self.remember(response)
        return response

    def remember(self, response: Any) -> None:
        found = _CSRF.search(response.content.decode())
        if found:
            self.csrf = found.group(1)

    def submit(self, path: str, data: dict[str, Any], **extra: Any) -> Any:
        """POST ``data`` with the CSRF token of the page last shown (showing ``path`` first
        when no page was shown yet)."""
        if not self.csrf:
            self.show(path)
        response = self.post(path, {"csrfmiddlewaretoken": self.csrf, **data}, **extra)
        self.remember(response)
        return response

    def signed_in(self) -> bool:
        cookie = self.cookies.get(settings.SSO_COOKIE_NAME)
        return cookie is not None and bool(cookie.value)


@pytest.fixture
def browser() -> Browser:
    return Browser()


def text(response: Any) -> str:
    """The page's text without tags and with entities decoded (for assertions on wording)."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(unescape(body).split())


def link_in(mail: Any, path: str) -> str:
    """The first link in ``mail`` whose path is ``path``."""
    for url in re.findall(r"https?://\S+", mail.body):
        if urlsplit(url).path == path:
            return url
    raise AssertionError(f"no {path} link in: {mail.body}")


def local(url: str) -> str:
    """``url`` as a path and query on the test server."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def hidden(response: Any, name: str) -> str:
    """The value of a hidden form field on the page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert found, f"no hidden {name} field"
    return unescape(found.group(1))


def last_mail(mailoutbox: list[Any], subject_part: str) -> Any:
    found = [mail for mail in mailoutbox if subject_part in mail.subject]
    assert found, [mail.subject for mail in mailoutbox]
    return found[-1]
