"""Concurrent sign-ups whose personal slugs collide both succeed, with distinct slugs."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.models import User
from accounts.registration import user_register
from mana_auth.clientip import RequestMeta
from spaces.models import Space
from tests.conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_simultaneous_sign_ups_with_colliding_slugs_both_succeed():
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def register(email: str) -> None:
        try:
            barrier.wait(timeout=10)
            user_register(
                email=email,
                password=PASSWORD,
                meta=RequestMeta(ip="127.0.0.1"),
                send_verification=False,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=register, args=(email,)) for email in ("anna@a.com", "anna@b.com")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    users = [User.objects.get_by_email(email) for email in ("anna@a.com", "anna@b.com")]
    slugs = sorted(Space.objects.get(created_by=user, type="personal").slug for user in users)
    assert slugs == ["anna", "anna-2"]
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_sign_up_waiting_on_an_uncommitted_slug_takes_the_next_one():
    """Deterministic interleaving: the first registration holds ``anna`` uncommitted while
    the second one tries it, blocks on the unique index, and then falls back to ``anna-2``."""
    from django.db import transaction

    first_inserted = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                user_register(
                    email="anna@first.com",
                    password=PASSWORD,
                    meta=RequestMeta(ip="127.0.0.1"),
                    send_verification=False,
                )
                first_inserted.set()
                release_first.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
            first_inserted.set()
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_inserted.wait(timeout=30)
            user_register(
                email="anna@second.com",
                password=PASSWORD,
                meta=RequestMeta(ip="127.0.0.1"),
                send_verification=False,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    two = threading.Thread(target=second)
    one.start()
    two.start()
    first_inserted.wait(timeout=30)
    # The second sign-up is now blocked on the first's uncommitted ``anna``; let it commit.
    threading.Timer(1.0, release_first.set).start()
    one.join(timeout=60)
    two.join(timeout=60)
    assert not errors, errors
    first_user = User.objects.get_by_email("anna@first.com")
    second_user = User.objects.get_by_email("anna@second.com")
    assert Space.objects.get(created_by=first_user, type="personal").slug == "anna"
    assert Space.objects.get(created_by=second_user, type="personal").slug == "anna-2"
    connection.close()
