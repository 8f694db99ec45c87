"""Delete expired rows of the PostgreSQL shared state (nothing to do with Redis).

Optional: every write already purges a few expired rows. Run it from cron after quiet periods,
or before a backup, to sweep everything at once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from security import shared_state


class Command(BaseCommand):
    help = "Delete expired rate counters, cooldowns and ceremony state (PostgreSQL store)."

    def handle(self, *args: Any, **options: Any) -> None:
        if shared_state.uses_redis():
            self.stdout.write("REDIS_URL is set: Redis expires the shared state itself.")
            return
        removed = shared_state.purge_expired()
        self.stdout.write(f"purged {removed} expired rows")
