"""The passkey relying party in production: derived from COOKIE_DOMAIN, checked against
BASE_URL at boot, and ``capability`` says ``available: false`` when it cannot work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mana_auth import config
from tests.foundation.test_platform import GOOD_PRODUCTION, ROOT, _boot

ENV = {**GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", "")}


def _rp_id_at_boot(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MANA_", "WEBAUTHN_", "COOKIE_"))
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print('RP=' + settings.WEBAUTHN_RP_ID)",
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _without(*names: str) -> dict[str, str]:
    return {key: value for key, value in ENV.items() if key not in names}


def test_production_derives_the_rp_id_from_the_cookie_domain():
    result = _rp_id_at_boot({**_without("WEBAUTHN_RP_ID"), "COOKIE_DOMAIN": ".mana.how"})
    assert result.returncode == 0, result.stderr
    assert "RP=mana.how" in result.stdout


def test_an_explicit_rp_id_wins_over_the_cookie_domain():
    result = _rp_id_at_boot({**ENV, "WEBAUTHN_RP_ID": "auth.mana.how"})
    assert result.returncode == 0, result.stderr
    assert "RP=auth.mana.how" in result.stdout


def test_production_refuses_to_boot_without_rp_id_or_cookie_domain():
    """The old default, ``localhost``, booted and every passkey ceremony failed."""
    result = _boot(_without("COOKIE_DOMAIN", "WEBAUTHN_RP_ID"))
    assert result.returncode != 0
    assert "WEBAUTHN_RP_ID or COOKIE_DOMAIN is required in production" in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"WEBAUTHN_RP_ID": "localhost"}, "is neither BASE_URL's host"),
        ({"COOKIE_DOMAIN": "mana.example"}, "is neither BASE_URL's host"),
        ({"WEBAUTHN_RP_ID": "how"}, "top-level domain"),
        ({"WEBAUTHN_RP_ID": "203.0.113.9"}, "IP address"),
    ],
)
def test_production_refuses_an_rp_id_that_cannot_serve_base_url(override, message):
    result = _boot({**ENV, **override})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("rp_id", "base_url", "works"),
    [
        ("mana.how", "https://auth.mana.how", True),
        ("auth.mana.how", "https://auth.mana.how", True),
        ("localhost", "http://localhost:8000", True),
        ("mana.how", "https://mana.how", True),
        ("ana.how", "https://auth.mana.how", False),
        ("app.mana.how", "https://auth.mana.how", False),
        ("localhost", "https://auth.mana.how", False),
        ("how", "https://auth.mana.how", False),
        ("mana.how:443", "https://auth.mana.how", False),
        ("", "https://auth.mana.how", False),
    ],
)
def test_an_rp_id_must_be_the_host_or_a_parent_domain_of_it(rp_id, base_url, works):
    assert (config.rp_id_problem(rp_id, base_url) is None) is works


def test_outside_production_the_rp_id_stays_localhost_unless_set():
    assert config.webauthn_rp_id({}, production=False) == "localhost"
    assert config.webauthn_rp_id({"COOKIE_DOMAIN": "mana.how"}, production=False) == "localhost"
    assert config.webauthn_rp_id({"WEBAUTHN_RP_ID": "Example.ORG"}, production=False) == (
        "example.org"
    )
    assert config.webauthn_rp_id({}, production=True) == ""


@pytest.mark.django_db
def test_capability_tells_the_truth_about_the_rp_id(api_client, settings):
    url = "/api/v1/auth/passkeys/capability"
    settings.BASE_URL = "https://auth.mana.how"
    settings.WEBAUTHN_ORIGINS = ["https://app.mana.how"]
    settings.WEBAUTHN_RP_ID = "localhost"  # the old production default
    assert api_client.get(url).json() == {"available": False, "rpId": "localhost", "rpName": "Mana"}
    settings.WEBAUTHN_RP_ID = "mana.how"
    assert api_client.get(url).json()["available"] is True
    settings.WEBAUTHN_ORIGINS = ["https://evil.example"]  # no page could run a ceremony
    assert api_client.get(url).json()["available"] is False
