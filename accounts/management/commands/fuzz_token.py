"""Print an access token for a throwaway verified user (schemathesis runs; never production)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from accounts.services import session_start
from mana_auth.clientip import RequestMeta


class Command(BaseCommand):
    help = "Create a throwaway user and print a bearer token for fuzzing (test/development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("fuzz_token is not available in production")
        email = f"fuzz-{secrets.token_hex(4)}@example.com"
        user = User.objects.create_user(
            email, secrets.token_urlsafe(16), email_verified_at=timezone.now()
        )
        sign_in = session_start(user=user, meta=RequestMeta(), method="password")
        self.stdout.write(sign_in.tokens.access_token)
