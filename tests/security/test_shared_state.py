"""The shared state (``security.shared_state``) on both stores: PostgreSQL without REDIS_URL,
Redis with it. Counters are exact under concurrency, single use is single, expired rows go,
an unreachable store is a 503 that counts nothing, and counts survive the refused request."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import User
from security import ratelimit, shared_state
from security.models import LoginThrottle, SharedCounter, SharedEntry
from tests.conftest import PASSWORD, store_select

RACERS = 8
HITS_EACH = 25


def _race(action) -> list:
    barrier = threading.Barrier(RACERS)
    results: list = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            mine = action()
            with lock:
                results.extend(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_a_counter_is_exact_under_concurrency(shared_store):
    """Eight connections increment one key at once: no increment is lost, none is repeated
    (a read-then-write counter, like Django's database cache's ``incr``, fails this)."""
    seen = _race(lambda: [shared_state.counter_incr("race", ttl=60) for _ in range(HITS_EACH)])
    assert sorted(seen) == list(range(1, RACERS * HITS_EACH + 1))
    assert shared_state.counter_get("race") == RACERS * HITS_EACH


@pytest.mark.django_db(transaction=True)
def test_a_value_is_taken_exactly_once_under_concurrency(shared_store):
    shared_state.put("once", {"challenge": "c"}, ttl=60)
    taken = _race(lambda: [shared_state.take_once("once")])
    assert taken.count({"challenge": "c"}) == 1
    assert taken.count(None) == RACERS - 1
    assert shared_state.get("once") is None


@pytest.mark.django_db
def test_a_counter_gives_back_within_its_life_never_below_zero(shared_store):
    """``counter_decr`` (a reserved use given back) never creates a counter, never goes below
    0, and keeps the counter's expiry."""
    shared_state.counter_decr("absent")
    assert shared_state.counter_get("absent") == 0
    assert shared_state.counter_incr("absent", ttl=60) == 1  # not started at -1
    assert shared_state.counter_incr("given", ttl=60) == 1
    assert shared_state.counter_incr("given", ttl=60) == 2
    shared_state.counter_decr("given")
    assert shared_state.counter_get("given") == 1
    shared_state.counter_decr("given")
    shared_state.counter_decr("given")
    assert shared_state.counter_get("given") == 0
    assert shared_state.counter_incr("given", ttl=60) == 1
    if shared_store == "redis":
        assert 0 < shared_state.redis_client().ttl(shared_state.redis_key("given")) <= 60


@pytest.mark.django_db
def test_a_recent_list_keeps_the_latest_first_without_repeats(shared_store):
    for item in ["a", "b", "c", "b", "d"]:
        shared_state.recent_push("recent", item, keep=3, ttl=60)
    assert shared_state.get("recent") == ["d", "b", "c"]
    shared_state.recent_push("recent", "c", keep=3, ttl=60)
    assert shared_state.get("recent") == ["c", "d", "b"]
    shared_state.put("recent", {"not": "a list"}, ttl=60)
    shared_state.recent_push("recent", "e", keep=3, ttl=60)
    assert shared_state.get("recent") == ["e"]


@pytest.mark.django_db(transaction=True)
def test_a_recent_list_loses_no_push_under_concurrency(shared_store):
    seen = _race(lambda: [shared_state.recent_push("many", f"x{threading.get_ident()}",
                                                   keep=100, ttl=60)])  # fmt: skip
    assert len(seen) == RACERS
    assert len(set(shared_state.get("many"))) == RACERS


@pytest.mark.django_db
def test_values_and_counters_expire(shared_store):
    start = timezone.now()
    shared_state.put("short", [1, "two"], ttl=60)
    assert shared_state.counter_incr("count", ttl=60) == 1
    assert shared_state.get("short") == [1, "two"]
    assert shared_state.get_many(["short", "missing"]) == {"short": [1, "two"]}
    if shared_store == "postgres":  # Redis keeps its own clock; its TTL is tested by Redis
        with freeze_time(start + timedelta(seconds=61)):
            assert shared_state.get("short") is None
            assert shared_state.take_once("short") is None
            assert shared_state.counter_get("count") == 0
            assert shared_state.counter_incr("count", ttl=60) == 1  # a new window
    shared_state.delete_many(["short"])
    assert shared_state.get("short") is None


@pytest.mark.django_db
def test_keys_are_stored_as_hashes(settings):
    settings.REDIS_URL = ""
    shared_state.put("passkey:auth:someone@example.com", 1, ttl=60)
    shared_state.counter_incr("rl:login-email:someone@example.com:1", ttl=60)
    keys = list(SharedEntry.objects.values_list("key", flat=True)) + list(
        SharedCounter.objects.values_list("key", flat=True)
    )
    assert len(keys) == 2
    assert all(len(key) == 64 and "@" not in key for key in keys)


@pytest.mark.django_db
def test_writes_purge_expired_rows_and_the_command_sweeps_the_rest(settings):
    settings.REDIS_URL = ""
    start = timezone.now()
    with freeze_time(start):
        for index in range(20):
            shared_state.put(f"old-{index}", index, ttl=10)
            shared_state.counter_incr(f"old-{index}", ttl=10)
    with freeze_time(start + timedelta(seconds=30)):
        shared_state.put("new", 1, ttl=60)
        shared_state.counter_incr("new", ttl=60)
        # Each write took a bounded batch of expired rows with it.
        assert SharedEntry.objects.count() == 20 + 1 - 8
        assert SharedCounter.objects.count() == 20 + 1 - 8
        call_command("purge_shared_state", verbosity=0)
        assert SharedEntry.objects.count() == 1
        assert SharedCounter.objects.count() == 1
        assert shared_state.get("new") == 1


def test_without_redis_url_the_store_is_postgresql(settings):
    settings.REDIS_URL = ""
    assert shared_state.uses_redis() is False
    settings.REDIS_URL = "redis://127.0.0.1:6379/1"
    assert shared_state.uses_redis() is True


# --- Failing closed ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_broken_postgresql_store_fails_closed_without_touching_counters(settings):
    """No REDIS_URL, and the counter table cannot be written (here: it is gone): the guarded
    endpoints answer 503 and count nothing, as they do when Redis is down."""
    settings.REDIS_URL = ""
    password = "long-enough-pw-9"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE security_shared_counter RENAME TO security_shared_counter_x")
    try:
        api = APIClient()
        login = api.post(
            "/api/v1/auth/login", {"email": "a@example.com", "password": "wrong-1"}, format="json"
        )
        assert login.status_code == 503
        assert login.json()["code"] == "SERVICE_UNAVAILABLE"
        register = api.post(
            "/api/v1/auth/register", {"email": "n@example.com", "password": password}, format="json"
        )
        assert register.status_code == 503
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE security_shared_counter_x RENAME TO security_shared_counter"
            )
    assert not LoginThrottle.objects.exists()
    assert not User.objects.filter_email("n@example.com").exists()


# --- Counts survive the refused request -------------------------------------------------------


SENSITIVE = [
    (
        "post",
        "/api/v1/auth/change-password",
        lambda pw: {"currentPassword": pw, "newPassword": "x" * 12},
    ),
    (
        "post",
        "/api/v1/auth/change-email",
        lambda pw: {"newEmail": "new@example.com", "password": pw},
    ),
    ("delete", "/api/v1/auth/account", lambda pw: {"password": pw}),
]


@pytest.mark.parametrize(("method", "path", "body"), SENSITIVE, ids=["password", "email", "delete"])
def test_wrong_passwords_on_sensitive_changes_are_counted_on_both_stores(
    shared_store, auth_client, method, path, body
):
    """A stolen access token is no password oracle: 10 wrong passwords in 5 minutes, then 429,
    even for the right one. The count is written although the refused change rolls back."""
    client = auth_client()
    with freeze_time(timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=5)):
        for _ in range(ratelimit.REAUTH_USER.limit):
            wrong = getattr(client, method)(path, body("not-my-password-1"), format="json")
            assert wrong.status_code == 401, wrong.content
            assert wrong.json()["code"] == "REAUTH_REQUIRED"
        right = getattr(client, method)(path, body(PASSWORD), format="json")
    assert right.status_code == 429, right.content
    assert right.json()["code"] == "RATE_LIMITED"
    user = User.objects.get(pk=client.user.pk)
    assert user.check_password(PASSWORD)
    assert user.is_active


def test_the_purge_command_leaves_redis_to_its_own_expiry(settings):
    from io import StringIO

    store_select(settings, "redis")
    out = StringIO()
    call_command("purge_shared_state", stdout=out)
    assert "Redis expires the shared state itself" in out.getvalue()
