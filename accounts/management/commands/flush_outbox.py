"""Retry the notices to other services and the queued mail not delivered yet, and delete what
is past its retention (run from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.mailqueue import mail_queue_flush
from accounts.outbox import outbox_flush
from security import attempts


class Command(BaseCommand):
    help = (
        "Deliver pending outbox messages and queued mail whose backoff has elapsed (--all: "
        "every pending one now), prune delivered notices older than 30 days and drop mail past "
        "its expiry, delete login attempts older than LOGIN_ATTEMPT_RETENTION_DAYS. Prints the "
        "counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="ignore the backoff and retry every pending one"
        )
        parser.add_argument("--limit", type=int, default=500, help="at most this many (500)")

    def handle(self, *args: Any, **options: Any) -> None:
        report = outbox_flush(ignore_backoff=options["all"], limit=options["limit"])
        line = (
            f"delivered={report.delivered} failed={report.failed} skipped={report.skipped} "
            f"pending={report.pending} pruned={report.pruned}"
        )
        self.stdout.write(self.style.SUCCESS(line) if not report.failed else line)
        mail = mail_queue_flush(ignore_backoff=options["all"], limit=options["limit"])
        line = (
            f"mail: delivered={mail.delivered} failed={mail.failed} skipped={mail.skipped} "
            f"pending={mail.pending} expired={mail.expired}"
        )
        self.stdout.write(self.style.SUCCESS(line) if not mail.failed else line)
        purged = attempts.purge_expired()
        self.stdout.write(f"login attempts: purged={purged}")
