"""Create or update every persona of the catalog and their shared Spaces (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from personas.catalog import CatalogError, catalog_load
from personas.services import SeedLine, personas_seed


def format_line(line: SeedLine, *, dry_run: bool) -> str:
    outcome = (
        f"would be {line.outcome}" if dry_run and line.outcome != "unchanged" else line.outcome
    )
    details = f" ({', '.join(line.details)})" if line.details else ""
    return f"{line.subject}: {outcome}{details}"


class Command(BaseCommand):
    help = "Create or update the personas of personas/catalog.json and their shared Spaces."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="show what would change")
        parser.add_argument("--catalog", help="a catalog file instead of the bundled one")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        try:
            catalog = catalog_load(options["catalog"])
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        lines = personas_seed(catalog=catalog, dry_run=dry_run)
        for line in lines:
            self.stdout.write(format_line(line, dry_run=dry_run))
        counts: dict[str, int] = {}
        for line in lines:
            counts[line.outcome] = counts.get(line.outcome, 0) + 1
        summary = ", ".join(
            f"{count} {'would be ' if dry_run and outcome != 'unchanged' else ''}{outcome}"
            for outcome, count in sorted(counts.items())
        )
        prefix = "Dry run, nothing written: " if dry_run else ""
        self.stdout.write(self.style.SUCCESS(f"{prefix}{summary}"))
        if counts.get("refused"):
            raise CommandError(f"{counts['refused']} catalog entries were refused (see above)")
