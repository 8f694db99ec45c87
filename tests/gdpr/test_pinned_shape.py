"""The export and the summary, byte for byte: what a user downloads does not change shape.

Both documents of ``rich_user`` (data in every app) are compared with the files in
``tests/gdpr/pinned/`` after the values that differ from run to run are replaced by
placeholders: every UUID by ``<uuid:N>`` (numbered by first appearance, so which ids are the
same id stays pinned), every timestamp by ``<time>``, and the few values drawn at random (API
key prefixes, automatic row numbers) by a marker of their kind. Key order, nesting, every
other value and the JSON text itself (indentation, escaping) are compared exactly.
mana-credits answers (``fake_credits``, a fixed balance and two transactions), so the credits
section is pinned in its filled shape; its unavailable shapes are ``test_credits.py``'s.

After a deliberate change of the documents, rewrite the files with
``GDPR_PINNED_WRITE=1 pytest tests/gdpr/test_pinned_shape.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder

pytestmark = pytest.mark.django_db

PINNED = Path(__file__).parent / "pinned"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_DATE = re.compile(r'"\d{4}-\d{2}-\d{2}"')
_API_KEY_PREFIX = re.compile(r"sk_live_[0-9a-f]{12}")
# Automatic row numbers (BigAutoField ids) of the generically exported persona rows.
_ROW_NUMBER = re.compile(r'("(?:id|personaActionId|personaFeedbackId)": )\d+')


def normalized(text: str) -> str:
    numbers: dict[str, int] = {}

    def uuid_placeholder(match: re.Match[str]) -> str:
        return f"<uuid:{numbers.setdefault(match.group(0), len(numbers) + 1)}>"

    text = _UUID.sub(uuid_placeholder, text)
    text = _TIME.sub("<time>", text)
    text = _DATE.sub('"<date>"', text)
    text = _API_KEY_PREFIX.sub("sk_live_<prefix>", text)
    return _ROW_NUMBER.sub(r"\1<row>", text)


def _compare(name: str, text: str) -> None:
    path = PINNED / name
    actual = normalized(text)
    if os.environ.get("GDPR_PINNED_WRITE") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing; write it with GDPR_PINNED_WRITE=1"
    assert actual == path.read_text(encoding="utf-8")


def _pretty(document: Any) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


def test_export_document_is_pinned_byte_for_byte(rich_user, fake_credits):
    response = rich_user.client.get("/api/v1/me/data/export")
    assert response.status_code == 200, response.content
    _compare("export.json", response.content.decode() + "\n")


def test_summary_document_is_pinned_byte_for_byte(rich_user, fake_credits):
    response = rich_user.client.get("/api/v1/me/data")
    assert response.status_code == 200, response.content
    # The summary's own bytes (DRF's renderer), and its structure in readable form.
    _compare("summary.compact.json", response.content.decode() + "\n")
    _compare("summary.json", _pretty(response.json()))
