"""Domain errors of the security app, each with its contract code (and so its status)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from mana_auth.errors import RateLimited, ServiceUnavailable


class StoreUnavailable(ServiceUnavailable):
    """The shared-state store (Redis or PostgreSQL) did not answer."""


class DeviceThrottled(RateLimited):
    """django-otp's back-off after wrong codes on a device, as the contract's RATE_LIMITED."""

    def __init__(self, extra: dict[str, Any] | None) -> None:
        locked_until = (extra or {}).get("locked_until")
        wait = (locked_until - timezone.now()).total_seconds() if locked_until else 1
        super().__init__(int(wait) + 1)
