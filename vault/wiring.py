"""What the vault plugs in when the apps are ready (``VaultConfig.ready()``): its rewrapper
(master keys), its GDPR part and what an address claim discards."""

from __future__ import annotations

from accounts import hooks
from mana_auth.kek.rewrap import register_rewrapper
from vault import gdpr, services


def wire() -> None:
    register_rewrapper("vault_master_keys", services.vault_master_keys_rewrap)
    gdpr.register()
    hooks.on_address_claimed(services.vault_discard_on_claim)
