"""Verified accounts for the in-process bench tools (``bench.queries``, ``bench.percall``),
registered through the service itself (its hasher, its rows), as a user signing up would be."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any


def verified_user_maker(prefix: str, password: str, meta: Any) -> Callable[[str], Any]:
    """``make(label)``: a new verified account ``<prefix>-<label>-<run>@example.com`` with
    ``password``; ``run`` is random per maker, so reruns on one database never collide."""
    from django.utils import timezone

    from accounts import registration
    from accounts.models import User

    run = secrets.token_hex(4)

    def make(label: str) -> Any:
        user, _ = registration.user_register(
            email=f"{prefix}-{label}-{run}@example.com",
            password=password,
            meta=meta,
            send_verification=False,
        )
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
        return user

    return make
