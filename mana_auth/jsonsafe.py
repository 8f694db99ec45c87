"""JSON decoding that refuses deep nesting before the decoder can recurse into it.

Python's ``json`` decoder recurses once per nesting level: ``[[[[…5000 deep…]]]]`` raises
``RecursionError`` (a 500), not ``ValueError``. Every place that decodes JSON a client sent
(request bodies, token headers and claims) goes through :func:`loads`, which counts the depth
first, with the decoder's own rules for what is inside a string, and refuses anything deeper
than ``MAX_DEPTH`` as a ``ValueError`` like any other malformed document. Pure: no Django.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Far above anything this service accepts (its deepest body is a WebAuthn credential, 3 levels),
# far below the interpreter's recursion limit.
MAX_DEPTH = 64

# A JSON string (escapes included) or one bracket. Strings are matched whole so that brackets
# inside them do not count; the unrolled form stays linear on long strings.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JSONTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""


def _decode(raw: bytes | bytearray) -> str:
    # Exactly what json.loads does with bytes: UTF-8/16/32 detected from the first bytes.
    return bytes(raw).decode(json.detect_encoding(raw), "surrogatepass")


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JSONTooDeep` when ``text`` opens more than ``max_depth`` levels."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot be too deep: the common case costs two C-speed scans
    depth = 0
    for match in _TOKENS.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise JSONTooDeep(f"The JSON document is nested more than {max_depth} levels deep.")
        elif char in "]}":
            depth -= 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON.")


def loads(raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting and ``NaN``/``Infinity``; every refusal is a
    ``ValueError`` (``UnicodeDecodeError`` and ``json.JSONDecodeError`` are ones too)."""
    text = raw if isinstance(raw, str) else _decode(raw)
    check_depth(text, max_depth)
    return json.loads(text, parse_constant=_refuse_constant)
