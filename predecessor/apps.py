from django.apps import AppConfig


class PredecessorConfig(AppConfig):
    """Taking over from the predecessor (Better Auth): ``manage.py import_predecessor``.

    The top of the app order: it writes into every other app through its models and public
    services, and nothing imports it.
    """

    name = "predecessor"
    verbose_name = "Import from the predecessor"
    default_auto_field = "django.db.models.BigAutoField"
