"""Shared fixtures and helpers: API clients, users, signed-in clients, the service-key client,
the shared state on PostgreSQL and on Redis. Everything runs on PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import signing_keys
from accounts.mailqueue import mail_queue_deliver_now
from accounts.models import User
from accounts.registration import user_register
from accounts.selectors import verified_tokens_forget
from mana_auth.clientip import RequestMeta
from security import shared_state

PASSWORD = "correct horse battery staple"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _isolation() -> Any:
    cache.clear()
    signing_keys.invalidate_memo()
    verified_tokens_forget()
    yield
    cache.clear()
    signing_keys.invalidate_memo()
    verified_tokens_forget()


# Keys of counters a test wrote ``durable`` (committed on a connection of their own), removed
# when the next test starts: by then the previous test's transaction has been rolled back. At
# the test's own teardown it may still be open and hold a lock on such a row (a counter write
# in the test's transaction purges expired rows, durable ones included), and a DELETE from the
# side connection would wait for it forever.
_DURABLE_KEYS: list[str] = []


@pytest.fixture(autouse=True)
def _durable_counters_removed(monkeypatch: Any, django_db_blocker: Any) -> Any:
    """Counters written ``durable`` inside a test's transaction are committed on a connection of
    their own (``shared_state.counter_incr``): the test's rollback leaves them. Remove them
    before the next test, so it starts from an empty store."""
    commit = shared_state._pg_fetchone_committed
    if _DURABLE_KEYS:
        with django_db_blocker.unblock():
            commit(
                f"WITH gone AS (DELETE FROM {shared_state.COUNTER_TABLE} "
                "WHERE key = ANY(%(keys)s) RETURNING 1) SELECT count(*) FROM gone",
                {"keys": list(_DURABLE_KEYS)},
            )
        _DURABLE_KEYS.clear()

    def recording(sql: str, params: Any) -> Any:
        _DURABLE_KEYS.append(params["key"])
        return commit(sql, params)

    monkeypatch.setattr(shared_state, "_pg_fetchone_committed", recording)
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_factory(db: Any) -> Callable[..., User]:
    """Create a user through the real registration service (personal Space and all)."""

    def make(
        email: str | None = None,
        password: str = PASSWORD,
        verified: bool = True,
        **fields: Any,
    ) -> User:
        address = email or f"user{next(_counter)}@example.com"
        user, _ = user_register(
            email=address,
            password=password,
            name=fields.pop("name", "Test User"),
            locale=fields.pop("locale", "en"),
            meta=RequestMeta(ip="127.0.0.1"),
            kind=fields.pop("kind", "human"),
            send_verification=False,
        )
        if verified:
            fields.setdefault("email_verified_at", timezone.now())
        if fields:
            User.objects.filter(pk=user.pk).update(**fields)
            user.refresh_from_db()
        user.raw_password = password  # type: ignore[attr-defined]
        return user

    return make


def login_tokens(client: APIClient, user: User, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login", {"email": user.email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def register_through_api(client: APIClient, email: str, password: str = PASSWORD) -> User:
    """Sign up through ``POST /auth/register`` (as a browser would) and return the account."""
    response = client.post(
        "/api/v1/auth/register", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 201, response.content
    return User.objects.get_by_email(email)


@pytest.fixture
def service_client() -> APIClient:
    """A client of another Mana service: ``X-Service-Key``."""
    client = APIClient()
    client.credentials(HTTP_X_SERVICE_KEY=django_settings.MANA_SERVICE_KEY)
    return client


@pytest.fixture
def auth_client(user_factory: Callable[..., User]) -> Callable[..., APIClient]:
    """A client signed in with a bearer token: ``client.user``, ``client.tokens``."""

    def make(user: User | None = None, password: str = PASSWORD) -> APIClient:
        account = user or user_factory(password=password)
        client = APIClient()
        tokens = login_tokens(client, account, password)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
        client.user = account  # type: ignore[attr-defined]
        client.tokens = tokens  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture(autouse=True)
def _no_mail_thread(settings: Any) -> None:
    """Queued mail is delivered by the tests (``deliver_mail``), never by a background thread
    racing them; the tests of the thread switch it on."""
    settings.MAIL_QUEUE_WORKER = False


class DeliveringOutbox(list):  # type: ignore[type-arg]
    """``mail.outbox`` that first delivers the queued mail whenever a test looks at it.

    Mail to an address the request names goes through the queue (``accounts.mailqueue``) and
    is sent after the response; a test reading the outbox reads what the queue has delivered by
    then — all of it, as the background deliverer would. ``sent_so_far()`` looks without
    delivering (tests of the queue itself). Django's locmem backend appends with ``extend``,
    which does not deliver.
    """

    def deliver(self) -> None:
        mail_queue_deliver_now()

    def sent_so_far(self) -> list[Any]:
        return list.copy(self)

    def __len__(self) -> int:
        self.deliver()
        return list.__len__(self)

    def __iter__(self) -> Any:
        self.deliver()
        return list.__iter__(self)

    def __getitem__(self, index: Any) -> Any:
        self.deliver()
        return list.__getitem__(self, index)

    def __eq__(self, other: object) -> bool:
        self.deliver()
        return list.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, item: object) -> bool:
        self.deliver()
        return list.__contains__(self, item)

    def clear(self) -> None:
        """Forget what was sent so far — including what was still queued."""
        self.deliver()
        list.clear(self)


@pytest.fixture
def mailoutbox(mailoutbox: list[Any]) -> Any:
    """pytest-django's outbox, delivering the mail queue whenever it is read."""
    from django.core import mail

    outbox = DeliveringOutbox(mailoutbox)
    mail.outbox = outbox
    yield outbox
    mail.outbox = []


@pytest.fixture
def mailoutbox_clear(mailoutbox: list[Any]) -> list[Any]:
    mailoutbox.clear()
    return mailoutbox


# --- The shared state (rate limits, cooldowns, ceremonies) on PostgreSQL and on Redis ----------


def redis_clear() -> None:
    """Delete this test process's keys (its own prefix) from the test Redis."""
    client = shared_state.redis_client()
    keys = list(client.scan_iter(match=f"{django_settings.CACHE_KEY_PREFIX}:*", count=500))
    if keys:
        client.delete(*keys)


def store_select(settings: Any, store: str, url: str = TEST_REDIS_URL) -> None:
    """``store`` is "postgres" (no REDIS_URL, the default in tests) or "redis" (at ``url``)."""
    if store == "redis":
        settings.REDIS_URL = url
        settings.CACHE_KEY_PREFIX = f"test-{os.getpid()}"
        redis_clear()
    else:
        settings.REDIS_URL = ""


@pytest.fixture(params=["postgres", "redis"])
def shared_store(request: Any, settings: Any) -> Any:
    """Run the test once with the shared state in PostgreSQL (no REDIS_URL) and once in Redis."""
    store_select(settings, request.param)
    yield request.param
    if request.param == "redis":
        redis_clear()


@pytest.fixture
def redis_down(settings: Any) -> None:
    """REDIS_URL names a Redis that does not answer."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
