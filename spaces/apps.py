from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "spaces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import hooks, outbox
        from accounts.models import OutboxTarget
        from mana_auth import gdpr as gdpr_registry
        from mana_auth.kek.rewrap import register_rewrapper
        from spaces import account_hooks, gdpr
        from spaces.services.credentials import space_credentials_rewrap

        register_rewrapper("space_credentials", space_credentials_rewrap)
        hooks.on_user_created(account_hooks.user_created)
        hooks.on_user_signed_up(account_hooks.user_signed_up)
        hooks.on_user_tier_changed(account_hooks.user_tier_changed)
        gdpr_registry.register_erasure(position=10, step=account_hooks.user_erase)
        outbox.register_sender(OutboxTarget.SYNC_STORE, account_hooks.sync_store_purge)
        gdpr.register()
