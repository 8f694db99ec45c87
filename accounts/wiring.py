"""What accounts plugs in when the apps are ready (``AccountsConfig.ready()``): the mail
queue's signals and resolvers, the OpenAPI auth schemes, its rewrapper, its GDPR part."""

from __future__ import annotations

from accounts import gdpr, mailqueue
from accounts import schema as _schema  # noqa: F401 - registers the OpenAPI auth schemes
from accounts.models import QueuedMailKind
from accounts.passwords import password_reset_mail_resolve
from accounts.registration import signup_notice_mail_resolve, verification_mail_resolve
from accounts.signin.magic_link import magic_link_mail_resolve
from accounts.signing_keys import signing_keys_rewrap
from mana_auth.kek.rewrap import register_rewrapper


def wire() -> None:
    mailqueue.connect_signals()
    mailqueue.register_resolver(QueuedMailKind.PASSWORD_RESET, password_reset_mail_resolve)
    mailqueue.register_resolver(QueuedMailKind.VERIFICATION, verification_mail_resolve)
    mailqueue.register_resolver(QueuedMailKind.MAGIC_LINK, magic_link_mail_resolve)
    mailqueue.register_resolver(QueuedMailKind.SIGNUP_NOTICE, signup_notice_mail_resolve)
    register_rewrapper("jwt_signing_keys", signing_keys_rewrap)
    gdpr.register()
