"""The bounds' views (bench/bound.py): the service's URLs plus each row's irreducible work,
which must really do that work (a bound that skipped it would prove nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from accounts.models import Session
from bench import bound
from mana_auth.middleware import is_api_path


@pytest.fixture
def bound_client(settings: Any, shared_store: str, user_factory: Any) -> Client:
    settings.ROOT_URLCONF = "bench.bound"
    user = user_factory()
    Session.objects.create(user=user, cookie_hash="b" * 64, expires_at="2999-01-01T00:00Z")
    bound._state.clear()
    bound._prepared()  # the write table, and a session to read
    yield Client()
    bound._state.clear()


def written() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {bound.TABLE}")
        return cursor.fetchone()[0]


def test_every_bound_view_answers_and_the_writing_ones_write(
    bound_client: Client, shared_store: str
) -> None:
    assert bound._state["session_id"] is not None
    for key in bound.BOUND_VIEWS:
        before = written()
        url = f"/{bound.PREFIX}{key}"
        # Where the endpoints are: API paths (the same middleware work), resolved first.
        assert is_api_path(url)
        assert resolve(url, urlconf="bench.bound").route == f"{bound.PREFIX}{key}"
        with CaptureQueriesContext(connection) as queries:
            response = bound_client.get(url)
        assert response.status_code == 200, (key, response.content)
        reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
        if key == "session" or (key in ("validate", "access") and shared_store == "postgres"):
            assert len(reads) == 1, (key, reads)  # the one read is really made
        writes = key in ("refresh", "passkey", "login")
        assert written() == before + (1 if writes else 0), key
        if writes:
            assert len(response.json()["accessToken"]) == 128  # an Ed25519 signature, in hex
    # The service's own routes are still there, unchanged.
    assert bound_client.get("/health").json() == {"status": "ok"}
