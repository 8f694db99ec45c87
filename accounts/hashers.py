"""argon2id with configurable cost (OWASP's minimum by default: 19 MiB, t=2, p=1).

Hashes made with other parameters verify and are upgraded at the next successful login
(Django calls ``must_update`` and re-hashes).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class ManaArgon2PasswordHasher(Argon2PasswordHasher):
    # Same algorithm name as Django's, so stored hashes stay interchangeable.
    algorithm = "argon2"

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_MEMORY_COST_KIB)

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_TIME_COST)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.ARGON2_PARALLELISM)
