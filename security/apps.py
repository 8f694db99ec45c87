from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mana_auth.kek.rewrap import register_rewrapper
        from security.otp.services import totp_seeds_rewrap

        register_rewrapper("totp_secrets", totp_seeds_rewrap)

        from accounts.mailqueue import register_resolver
        from accounts.models import QueuedMailKind
        from security.magic_links import magic_link_mail_resolve

        register_resolver(QueuedMailKind.MAGIC_LINK, magic_link_mail_resolve)
