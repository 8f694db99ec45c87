"""A production process with unusable vault keys refuses to boot (not the first request)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.foundation.test_platform import GOOD_PRODUCTION, _boot
from tests.vault.conftest import public_pem

ENV = {**GOOD_PRODUCTION, "DATABASE_URL": os.environ.get("DATABASE_URL", "")}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"MANA_AUTH_KEK": "A" * 43 + "="}, "all-zero development key"),
        ({"MANA_AUTH_KEK": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ"}, "exactly 32 bytes"),
        ({"MANA_AUTH_KEKS_RETIRED": "q83vEjRWeJq83vEjRWeJq80=,AAAA"}, "MANA_AUTH_KEKS_RETIRED"),
    ],
)
def test_production_refuses_to_boot_with_a_bad_kek(override, message):
    result = _boot({**ENV, **override})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_to_boot_with_a_weak_mission_grant_key():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    result = _boot({**ENV, "MANA_AI_PUBLIC_KEY_PEM": public_pem(weak)})
    assert result.returncode != 0
    assert "MANA_AI_PUBLIC_KEY_PEM" in result.stderr
    assert "at least 2048" in result.stderr


def test_production_boots_with_a_good_mission_grant_key_and_retired_keks(rsa_private_key):
    result = _boot(
        {
            **ENV,
            "MANA_AI_PUBLIC_KEY_PEM": public_pem(rsa_private_key).replace("\n", "\\n"),
            "MANA_AUTH_KEKS_RETIRED": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
        }
    )
    # Booted: the process got past settings and app loading to run the system checks (whose
    # verdict on the other apps is the foundation tests' business).
    assert "Traceback" not in result.stderr, result.stderr
    assert "System check identified" in result.stdout + result.stderr


def test_production_without_a_mission_grant_key_says_so_once_at_warning():
    """Unset is a supported configuration (grants answer 503 GRANT_NOT_CONFIGURED): the boot
    says it once, at WARNING, and boots."""
    result = _boot(ENV)
    assert "Traceback" not in result.stderr, result.stderr
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if "MANA_AI_PUBLIC_KEY_PEM is not set" in line]
    assert len(lines) == 1 and "WARNING" in lines[0], output
