"""Move everything the KEK wraps to the active KEK (run after rotating ``MANA_AUTH_KEK``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mana_auth.kek.keyring import active_kek_id
from mana_auth.kek.rewrap import rewrappers


class Command(BaseCommand):
    help = (
        "Re-wrap vault master keys, JWT signing keys and every other registered kind under the "
        "active KEK, in batches. Safe to interrupt and run again. Keep the old key in "
        "MANA_AUTH_KEKS_RETIRED until this has finished."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            metavar="NAME",
            help="only this kind (repeatable); default: every registered kind",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        registered = rewrappers()
        kinds = options["kinds"] or list(registered)
        unknown = [kind for kind in kinds if kind not in registered]
        if unknown:
            raise CommandError(
                f"unknown kind(s): {', '.join(unknown)}; registered: {', '.join(registered)}"
            )
        self.stdout.write(f"Active KEK {active_kek_id()}")
        for kind in kinds:
            rewrapped, total = registered[kind](batch_size)
            self.stdout.write(f"{kind}: re-wrapped {rewrapped} of {total}")
        self.stdout.write(self.style.SUCCESS("Done."))
