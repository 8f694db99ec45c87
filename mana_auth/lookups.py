"""Fetching one row by an id from the request, inside a scope (a user's, a Space's).

Every selector that takes an id from the outside goes through ``scoped_get``: a malformed id,
an unknown one and someone else's all answer the same NOT_FOUND, so a guessed id never reaches
another user's row and never tells whether it exists.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.db import models

from mana_auth.errors import NotFound

M = TypeVar("M", bound=models.Model)


def parse_uuid(raw: object) -> uuid.UUID | None:
    """The UUID ``raw`` spells, or None."""
    try:
        return uuid.UUID(str(raw))
    except (TypeError, ValueError):
        return None


def scoped_get(
    queryset: models.QuerySet[M], raw_id: object, *, field: str = "pk", message: str | None = None
) -> M:
    """The row of ``queryset`` (already scoped) whose ``field`` is the UUID ``raw_id``."""
    value = parse_uuid(raw_id)
    row: Any = queryset.filter(**{field: value}).first() if value is not None else None
    if row is None:
        raise NotFound(message)
    return row
