"""Record shapes declared once: the dict a document carries, and the schema that documents it.

A ``Record`` names each key of a record, the DRF field that documents its value, and where the
value comes from (an attribute path or a function of the object). ``build`` makes the dict with
raw values (UUIDs, datetimes: the JSON encoder renders them, exactly as before), in declaration
order; ``serializer`` is the DRF serializer drf-spectacular reads, named ``<name>Serializer``.
So a key cannot be added to a document and forgotten in its schema, or the other way round.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class Field:
    """One key of a record: its documented type and where its value comes from."""

    schema: serializers.Field
    source: str | Callable[[Any], Any]

    def value(self, obj: Any) -> Any:
        if callable(self.source):
            return self.source(obj)
        value = obj
        for part in self.source.split("."):
            value = value[part] if isinstance(value, dict) else getattr(value, part)
        return value


class Record:
    """A record shape: ``Record("GdprSessionOutput", sessionId=Field(UUIDField(), "pk"), …)``."""

    def __init__(self, name: str, /, **fields: Field) -> None:
        self.name = name
        self.fields = fields
        self._serializer: type[serializers.Serializer] | None = None

    def build(self, obj: Any, *, omit: Iterable[str] = ()) -> dict[str, Any]:
        """The record of ``obj``: every key in declaration order, less ``omit``."""
        left_out = set(omit)
        return {key: field.value(obj) for key, field in self.fields.items() if key not in left_out}

    def build_many(self, objects: Iterable[Any]) -> list[dict[str, Any]]:
        return [self.build(obj) for obj in objects]

    @property
    def serializer_class(self) -> type[serializers.Serializer]:
        """The serializer documenting this shape (``<name>Serializer``, one class per record)."""
        if self._serializer is None:
            declared = {key: copy.deepcopy(field.schema) for key, field in self.fields.items()}
            self._serializer = type(f"{self.name}Serializer", (serializers.Serializer,), declared)
        return self._serializer

    def serializer(self, **kwargs: Any) -> serializers.Serializer:
        """A field of this shape inside another one (``many=True`` for a list of them)."""
        return self.serializer_class(**kwargs)
