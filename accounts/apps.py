from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import mailqueue, schema  # noqa: F401 - schema: OpenAPI auth schemes

        mailqueue.connect_signals()
        from accounts.models import QueuedMailKind
        from accounts.passwords import password_reset_mail_resolve
        from accounts.registration import verification_mail_resolve
        from accounts.signin.magic_link import magic_link_mail_resolve

        mailqueue.register_resolver(QueuedMailKind.PASSWORD_RESET, password_reset_mail_resolve)
        mailqueue.register_resolver(QueuedMailKind.VERIFICATION, verification_mail_resolve)
        mailqueue.register_resolver(QueuedMailKind.MAGIC_LINK, magic_link_mail_resolve)

        from accounts.signing_keys import signing_keys_rewrap
        from mana_auth.kek.rewrap import register_rewrapper

        register_rewrapper("jwt_signing_keys", signing_keys_rewrap)

        from accounts import gdpr

        gdpr.register()
