"""Shared fixtures: API clients, users, signed-in clients. Everything runs on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import signing_keys
from accounts.mailqueue import mail_queue_deliver_now
from accounts.models import User
from accounts.registration import user_register
from accounts.selectors import verified_tokens_forget
from mana_auth.clientip import RequestMeta

PASSWORD = "correct horse battery staple"
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
