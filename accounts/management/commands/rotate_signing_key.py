"""Add a new active JWT signing key; the old one stays published until its tokens expire."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.signing_keys import signing_key_rotate


class Command(BaseCommand):
    help = "Rotate the JWT signing key (the retired key stays in the JWKS until tokens expire)."

    def handle(self, *args: Any, **options: Any) -> None:
        key = signing_key_rotate()
        self.stdout.write(self.style.SUCCESS(f"New active signing key {key.kid}"))
