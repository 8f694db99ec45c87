"""A sign-up with a known address does a new account's work on a throwaway account (rolled
back). That account's personal Space must look for a free slug among the same slugs a new
account with the address would: with a random local part it read none, so for a common
local part (``info@``, several ``info-N`` Spaces) the known address answered a little faster
(review2 F11)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from spaces.models import Space

pytestmark = pytest.mark.django_db


def _shape(sql: str) -> str:
    """The statement without its literals (ids, times, hashes differ between any two runs)."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+\b", "?", sql)


def _slug_reads(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and '"slug"' in q["sql"] and "LIKE" in q["sql"]
    ]


def _space_work(captured: CaptureQueriesContext) -> list[str]:
    return [_shape(q["sql"]) for q in captured.captured_queries if '"spaces_space"' in q["sql"]]


def _register(client, email: str) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/api/v1/auth/register",
            {"email": email, "password": "a-long-enough-passphrase-9"},
            format="json",
        )
        assert response.status_code == 201, response.content
    return captured


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "never-verified"])
def test_a_known_address_reads_the_slugs_a_new_one_reads(api_client, user_factory, verified):
    user_factory(email="info@known.example", verified=verified)
    for n in range(4):
        user_factory(email=f"info@other{n}.example")
    assert Space.objects.filter(slug__startswith="info").count() == 5
    known = _register(api_client, "info@known.example")
    fresh = _register(api_client, "info@fresh.example")
    # The same prefix query, literal for literal: the same rows are read.
    assert _slug_reads(known) == _slug_reads(fresh)
    assert len(_slug_reads(known)) == 1 and "'info%'" in _slug_reads(known)[0]
    # And the Space statements of the new account's work have the same shapes, in order.
    assert _space_work(known) == _space_work(fresh)
    assert Space.objects.filter(slug__startswith="info").count() == 6
