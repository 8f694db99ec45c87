from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mana_auth.kek.rewrap import register_rewrapper
        from security.otp.services import totp_seeds_rewrap

        register_rewrapper("totp_secrets", totp_seeds_rewrap)

        from security import gdpr

        gdpr.register()
