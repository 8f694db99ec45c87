"""Hard-delete every live persona account and warn when the live set drifted from the catalog."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from personas.catalog import CatalogError, catalog_load
from personas.services import personas_cleanup


class Command(BaseCommand):
    help = "Hard-delete every persona account (kind=persona) through account deletion."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
        parser.add_argument("--catalog", help="the catalog to compare with (default: bundled)")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        try:
            catalog = catalog_load(options["catalog"])
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        report = personas_cleanup(catalog=catalog, dry_run=dry_run)
        for email in report.not_in_catalog:
            self.stderr.write(self.style.WARNING(f"drift: {email} is live but not in the catalog"))
        for email in report.missing:
            self.stderr.write(self.style.WARNING(f"drift: {email} is in the catalog but not live"))
        verb = "would be deleted" if dry_run else "deleted"
        for line in report.lines:
            self.stdout.write(f"{line.subject}: {verb}")
        prefix = "Dry run, nothing written: " if dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(f"{prefix}{len(report.lines)} persona account(s) {verb}")
        )
