from django.apps import AppConfig


class SyncStoreConfig(AppConfig):
    """The Mana sync store's tables this service writes to (routed to the ``sync`` alias)."""

    name = "spaces.sync_store"
    label = "sync_store"
    verbose_name = "Sync store"
    default_auto_field = "django.db.models.BigAutoField"
