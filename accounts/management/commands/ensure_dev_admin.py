"""Create a development admin (once) and print how to sign in. Refused in production."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = "Create the development admin account if it does not exist (development only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", default="admin@mana.local")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("ensure_dev_admin is for development; use createsuperuser.")
        email = options["email"]
        if User.objects.filter_email(email).exists():
            self.stdout.write(f"Admin {email} exists (reset with `manage.py changepassword`).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email, password, name="Dev Admin")
        self.stdout.write(self.style.SUCCESS(f"Created admin {email} with password {password}"))
        self.stdout.write("Enrol its TOTP device with `manage.py enroll_admin_totp " + email + "`.")
