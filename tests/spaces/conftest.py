"""Fixtures for Spaces: Spaces with members, a service-key client, a separate sync store.

The separate sync store: pytest-django creates test databases only for aliases that exist
when the session starts, and ``SYNC_DATABASE_URL`` is normally unset (the sync store then
shares the main database). ``separate_sync_store`` therefore provisions its own: it creates a
real second PostgreSQL database on the same server, registers it as the ``sync`` alias for
one test module (the router reads the aliases at call time), migrates the ``sync_store`` app
onto it through the router, and drops it afterwards. When the session
already has a ``sync`` alias (``SYNC_DATABASE_URL`` set), the test database pytest-django
created for it is used instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from accounts.models import User
from mana_auth.clientip import RequestMeta
from spaces.models import Membership, Space, SpaceRole
from spaces.services.spaces import space_create
from tests.fake_credits import FakeCredits, fake_credits_server

SYNC_PRECONFIGURED = "sync" in settings.DATABASES
# Tests using ``separate_sync_store`` declare these databases.
SYNC_DATABASES = ["default", "sync"]


@pytest.fixture
def space_factory(user_factory: Callable[..., User]) -> Callable[..., Space]:
    """A shared Space created through the service; ``members`` maps users to roles."""

    def make(
        owner: User | None = None,
        *,
        type: str = "team",
        name: str = "Team Space",
        members: dict[User, str] | None = None,
    ) -> Space:
        creator = owner or user_factory()
        space = space_create(user=creator, name=name, type=type, meta=RequestMeta())
        for member, role in (members or {}).items():
            Membership.objects.create(space=space, user=member, role=role)
        return space

    return make


@pytest.fixture
def team(user_factory: Callable[..., User], space_factory: Callable[..., Space]) -> Any:
    """A team Space with an owner, an admin and a member, each signed in."""

    class Team:
        pass

    result = Team()
    result.owner = user_factory(email="owner@example.com")
    result.admin = user_factory(email="admin@example.com")
    result.member = user_factory(email="member@example.com")
    result.space = space_factory(
        result.owner,
        members={result.admin: SpaceRole.ADMIN, result.member: SpaceRole.MEMBER},
    )
    return result


def _drop_database(name: str) -> None:
    with connections["default"]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def separate_sync_store(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """A second PostgreSQL database serving as the ``sync`` alias for one test module.

    Module-scoped on purpose: it must exist before pytest-django sets up each test's
    database access, so tests can declare ``databases=SYNC_DATABASES`` and Django's test
    isolation lets them reach it. Yields the database's name.
    """
    if SYNC_PRECONFIGURED:
        yield connections["sync"].settings_dict["NAME"]
        return
    name = f"{connections['default'].settings_dict['NAME']}_sync_store"
    with django_db_blocker.unblock():
        _drop_database(name)
        with connections["default"]._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        alias = copy.deepcopy(connections["default"].settings_dict)
        alias["NAME"] = name
        alias["TEST"] = {**alias.get("TEST", {}), "NAME": name}
        settings.DATABASES["sync"] = alias  # the same dict ``connections`` reads aliases from
        try:
            call_command("migrate", "sync_store", database="sync", verbosity=0)
            yield name
        finally:
            connections["sync"].close()
            del connections["sync"]
            del settings.DATABASES["sync"]
            _drop_database(name)


@pytest.fixture
def sync_store_unreachable(separate_sync_store: str) -> Iterator[None]:
    """Point the ``sync`` alias at a closed port: every sync-store query fails to connect."""
    sync_settings = connections["sync"].settings_dict
    saved = {key: sync_settings[key] for key in ("HOST", "PORT")}
    connections["sync"].close()
    sync_settings.update(HOST="127.0.0.1", PORT="1")
    try:
        yield
    finally:
        connections["sync"].close()
        sync_settings.update(saved)


@pytest.fixture
def sync_table_missing(separate_sync_store: str) -> Iterator[None]:
    """The sync store answers, but its table is gone (schema drift, SQLSTATE 42P01)."""
    with connections["sync"].cursor() as cursor:
        cursor.execute("ALTER TABLE sync_changes RENAME TO sync_changes_away")
    try:
        yield
    finally:
        with connections["sync"].cursor() as cursor:
            cursor.execute("ALTER TABLE sync_changes_away RENAME TO sync_changes")


@pytest.fixture
def fake_credits(settings: Any) -> Iterator[FakeCredits]:
    """mana-credits as a real HTTP server on a port in 9110-9119 (``tests/fake_credits.py``),
    configured as ``MANA_CREDITS_URL``."""
    with fake_credits_server() as server:
        settings.MANA_CREDITS_URL = server.url
        yield server
