"""Fixtures for the security tests: shared state on PostgreSQL and on Redis."""

from __future__ import annotations

import os

import pytest

from tests.shared_state_helpers import redis_clear, store_select

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["postgres", "redis"])
def cache_backend(request, settings):
    """Run the test once with the shared state in PostgreSQL (no REDIS_URL) and once in Redis."""
    store_select(settings, request.param, REDIS_URL)
    yield request.param
    if request.param == "redis":
        redis_clear()


@pytest.fixture
def redis_down(settings):
    """REDIS_URL names a Redis that does not answer."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
