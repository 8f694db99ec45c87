"""What the vault plugs in when the apps are ready (``VaultConfig.ready()``): its rewrapper
(master keys) and its GDPR part."""

from __future__ import annotations

from mana_auth.kek.rewrap import register_rewrapper
from vault import gdpr, services


def wire() -> None:
    register_rewrapper("vault_master_keys", services.vault_master_keys_rewrap)
    gdpr.register()
