"""What Spaces plugs in when the apps are ready (``SpacesConfig.ready()``): its rewrapper
(credentials), accounts' hooks, its erasure step, the sync store's outbox sender, its GDPR
part. Accounts sits below and never imports Spaces: this is how it reaches it."""

from __future__ import annotations

from accounts import hooks, outbox
from accounts.models import OutboxTarget
from mana_auth import gdpr as gdpr_registry
from mana_auth.kek.rewrap import register_rewrapper
from spaces import account_hooks, gdpr
from spaces.services.credentials import space_credentials_rewrap


def wire() -> None:
    register_rewrapper("space_credentials", space_credentials_rewrap)
    hooks.on_user_created(account_hooks.user_created)
    hooks.on_user_signed_up(account_hooks.user_signed_up)
    hooks.on_user_tier_changed(account_hooks.user_tier_changed)
    hooks.on_address_claimed(account_hooks.user_claimed)
    gdpr_registry.register_erasure(position=10, step=account_hooks.user_erase)
    outbox.register_sender(OutboxTarget.SYNC_STORE, account_hooks.sync_store_purge)
    gdpr.register()
