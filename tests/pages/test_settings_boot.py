"""``PUBLIC_PAGES_URL`` is checked at boot: an absolute http(s) URL, https in production."""

from __future__ import annotations

import os

import pytest

from tests.foundation.test_platform import GOOD_PRODUCTION, _boot


def _env(**override: str) -> dict[str, str]:
    return {**GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", ""), **override}


@pytest.mark.parametrize(
    "url", ["http://web.mana.how", "web.mana.how/pages", "javascript:alert(1)"]
)
def test_a_bad_public_pages_url_refuses_to_boot(url):
    result = _boot(_env(PUBLIC_PAGES_URL=url))
    assert result.returncode != 0
    assert "PUBLIC_PAGES_URL must be an absolute http(s) URL" in result.stderr


def test_a_good_public_pages_url_boots():
    result = _boot(_env(PUBLIC_PAGES_URL="https://web.mana.how/"))
    assert result.returncode == 0, result.stderr + result.stdout
