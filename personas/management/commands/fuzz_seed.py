"""Create the accounts a schemathesis run uses and write their description as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from personas.fuzzing import FuzzSeedRefused, fuzz_targets_seed


class Command(BaseCommand):
    help = "Seed fuzzing accounts (test/development only) and write them to --out as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="where to write the JSON description")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            targets = fuzz_targets_seed()
        except FuzzSeedRefused as exc:
            raise CommandError(str(exc)) from exc
        out = Path(options["out"])
        out.write_text(json.dumps(targets, indent=2))
        out.chmod(0o600)  # bearer tokens and a password, if only of throwaway accounts
        self.stdout.write(f"fuzz accounts of run {targets['run']} written to {out}")
