"""The one JSON body parser, for DRF views and the lean ``FastAPIView`` alike.

It refuses, as a 400 VALIDATION_ERROR instead of a 500:

- nesting deeper than ``jsonsafe.MAX_DEPTH`` (the decoder would recurse into it and raise
  ``RecursionError``), checked before decoding;
- ``NaN``/``Infinity``, which are not JSON;
- a NUL character (U+0000), valid JSON but storable in no PostgreSQL text or jsonb value, and
  lone surrogates, which cannot be encoded as UTF-8, whatever field they hide in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from mana_auth import jsonsafe


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check(value: Any, depth: int = 0) -> None:
    if depth > jsonsafe.MAX_DEPTH:
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


def parse_json_body(raw: bytes | str, encoding: str | None = None) -> Any:
    """Decode a request body; every refusal is a ``ParseError`` saying why."""
    try:
        text = raw if isinstance(raw, str) else raw.decode(encoding or settings.DEFAULT_CHARSET)
        data = jsonsafe.loads(text)
    except jsonsafe.JSONTooDeep as exc:
        raise ParseError(str(exc)) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise ParseError(f"JSON parse error - {exc}") from exc
    _check(data)
    return data


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding")
        return parse_json_body(stream.read(), encoding)
