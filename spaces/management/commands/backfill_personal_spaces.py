"""Create the personal Space of every account that has none (accounts older than Spaces)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from spaces.services.spaces import personal_spaces_backfill


class Command(BaseCommand):
    help = "Create missing personal Spaces (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the accounts without one."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = personal_spaces_backfill(dry_run=options["dry_run"])
        verb = "would be created" if options["dry_run"] else "created"
        self.stdout.write(f"{count} personal Space(s) {verb}.")
