"""The JSON body parser: DRF's, refusing what PostgreSQL cannot store.

A NUL character (U+0000) is valid JSON but no PostgreSQL text or jsonb value can hold it, and
lone surrogates cannot be encoded as UTF-8. Refusing them at the door turns a would-be 500
into a 400 VALIDATION_ERROR, whatever field they hide in.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check(value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise ParseError("The JSON document is nested too deeply.")
    if isinstance(value, str):
        if _bad_text(value):
            raise ParseError("Text must not contain NUL characters or lone surrogates.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _check(data)
        return data
