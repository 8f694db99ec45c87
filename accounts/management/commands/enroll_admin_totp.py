"""Give a staff account a confirmed authenticator and print its otpauth URI, once.

The admin site refuses staff without a confirmed TOTP device; this is how the first admin (or
one who lost their phone, with --replace) gets in. Run it on the server; the URI is the secret.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts import mfa
from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Conflict


class Command(BaseCommand):
    help = "Create and confirm a TOTP device for a staff account; print the otpauth URI once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace an existing authenticator (the old one stops working).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter_email(options["email"]).first()
        if user is None:
            raise CommandError("No account with this address.")
        if not user.is_staff or not user.is_active:
            raise CommandError("This account is not an active staff account.")
        try:
            enrolment = mfa.totp_enroll_confirmed(
                user=user,
                meta=RequestMeta(user_agent="manage.py enroll_admin_totp"),
                replace=options["replace"],
            )
        except Conflict as exc:
            raise CommandError(f"{exc.message} Use --replace to replace it.") from exc
        self.stdout.write("Add this to an authenticator app (shown once, not stored in clear):")
        self.stdout.write(enrolment.otpauth_uri)
        self.stdout.write(f"Or type the key: {enrolment.secret}")
