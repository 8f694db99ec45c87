from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "spaces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mana_auth.kek.rewrap import register_rewrapper
        from spaces.services import space_credentials_rewrap

        register_rewrapper("space_credentials", space_credentials_rewrap)
