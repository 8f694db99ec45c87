"""What Spaces plugs in when the apps are ready (``SpacesConfig.ready()``): its rewrapper
(credentials), accounts' hooks, its erasure step, the sync store's outbox sender, its GDPR
part. Accounts sits below and never imports Spaces: this is how it reaches it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from accounts import hooks, outbox
from accounts.models import OutboxTarget
from mana_auth import gdpr as gdpr_registry
from mana_auth.kek.rewrap import register_rewrapper
from spaces import account_hooks, gdpr
from spaces.access import space_access_changed
from spaces.models import Membership, ModulePermission, Space
from spaces.services.credentials import space_credentials_rewrap


def _space_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    # A new Space or a new membership has no cached answer to retire (only members' answers
    # are cached, and the removal of an earlier membership retired its own): creating them
    # must not depend on Redis (sign-up creates the personal Space).
    if kwargs.get("created") and sender is not ModulePermission:
        return
    space_access_changed(instance.pk if sender is Space else instance.space_id)


def wire() -> None:
    # The access cache (spaces/access.py) is retired by every saved or deleted membership,
    # Space (tier, type) and module override, whichever code writes them: services, the admin,
    # cascades from a deleted account or Space, the predecessor's import. Bulk writes send no
    # signal and call ``space_access_changed`` themselves (module_permissions_set).
    for model in (Membership, ModulePermission, Space):
        post_save.connect(_space_changed, sender=model, dispatch_uid=f"access-{model.__name__}")
        post_delete.connect(
            _space_changed, sender=model, dispatch_uid=f"access-{model.__name__}-del"
        )
    register_rewrapper("space_credentials", space_credentials_rewrap)
    hooks.on_user_created(account_hooks.user_created)
    hooks.on_user_signed_up(account_hooks.user_signed_up)
    hooks.on_user_tier_changed(account_hooks.user_tier_changed)
    hooks.on_address_claimed(account_hooks.user_claimed)
    gdpr_registry.register_erasure(position=10, step=account_hooks.user_erase)
    outbox.register_sender(OutboxTarget.SYNC_STORE, account_hooks.sync_store_purge)
    gdpr.register()
