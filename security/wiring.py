"""What security plugs in when the apps are ready (``SecurityConfig.ready()``): its rewrapper
(TOTP seeds) and its GDPR part."""

from __future__ import annotations

from mana_auth.kek.rewrap import register_rewrapper
from security import gdpr
from security.otp.services import totp_seeds_rewrap


def wire() -> None:
    register_rewrapper("totp_secrets", totp_seeds_rewrap)
    gdpr.register()
