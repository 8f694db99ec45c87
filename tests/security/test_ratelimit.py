"""Rate limits, on the local-memory cache and on Redis; failing closed when Redis is down."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from accounts.models import User
from security import ratelimit
from security.models import LoginThrottle
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    """Hold the limits' clock still: a loop of 60 sign-ins on a busy machine may otherwise cross
    a minute boundary, start a fresh fixed window and never reach the budget."""
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: frozen))


def post(client, path, body, ip="198.51.100.7"):
    return client.post(path, body, format="json", REMOTE_ADDR=ip)


def assert_limited(response):
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["details"]["retryAfter"] == int(response["Retry-After"]) > 0


LIMITED_ENDPOINTS = [
    (
        "/api/v1/auth/register",
        lambda i: {"email": f"r{i}@example.com", "password": "x"},
        ratelimit.REGISTER_IP,
    ),
    ("/api/v1/auth/forgot-password", lambda i: {"email": f"f{i}@example.com"}, ratelimit.FORGOT_IP),
    (
        "/api/v1/auth/resend-verification",
        lambda i: {"email": f"v{i}@example.com"},
        ratelimit.RESEND_IP,
    ),
    (
        "/api/v1/auth/login",
        lambda i: {"email": f"l{i}@example.com", "password": "x"},
        ratelimit.LOGIN_IP,
    ),
]


@pytest.mark.parametrize(("path", "body", "limit"), LIMITED_ENDPOINTS)
def test_per_ip_limits(api_client, shared_store, path, body, limit, settings):
    # the login path also has the stricter per-IP failure limit; lift it to see the request limit
    settings.RATE_LIMIT_OVERRIDES = {ratelimit.LOGIN_FAILURES_IP.name: 10_000}
    for index in range(limit.limit):
        assert post(api_client, path, body(index)).status_code != 429, index
    assert_limited(post(api_client, path, body(limit.limit)))
    # another address is not affected
    assert post(api_client, path, body(limit.limit + 1), ip="198.51.100.8").status_code != 429


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/v1/auth/forgot-password", ratelimit.FORGOT_EMAIL),
        ("/api/v1/auth/resend-verification", ratelimit.RESEND_EMAIL),
    ],
)
def test_per_email_limits(api_client, shared_store, path, limit):
    for index in range(limit.limit):
        post(api_client, path, {"email": "same@example.com"}, ip=f"203.0.113.{index + 1}")
    assert_limited(post(api_client, path, {"email": "SAME@example.com"}, ip="203.0.113.200"))


def test_login_failure_limit_per_ip_on_both_backends(api_client, shared_store, user_factory):
    users = [user_factory() for _ in range(5)]
    for index in range(20):
        post(
            api_client,
            "/api/v1/auth/login",
            {"email": users[index % 5].email, "password": "no-no-no-1"},
        )
    assert_limited(
        post(api_client, "/api/v1/auth/login", {"email": users[0].email, "password": PASSWORD})
    )


def test_redis_down_fails_closed_without_touching_counters(api_client, user_factory, redis_down):
    user = user_factory()
    for _ in range(3):
        response = post(
            api_client, "/api/v1/auth/login", {"email": user.email, "password": "wrong-pw-1"}
        )
        assert response.status_code == 503
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert not LoginThrottle.objects.exists()
    register = post(
        api_client,
        "/api/v1/auth/register",
        {"email": "n@example.com", "password": "long-enough-pw-9"},
    )
    assert register.status_code == 503
    assert not User.objects.filter_email("n@example.com").exists()


def test_limit_counts_are_shared_through_the_cache(shared_store):
    """Two "workers" (two calls with no shared process state but the cache) see one count."""
    limit = ratelimit.Limit("shared-test", 3, 60)
    for _ in range(3):
        ratelimit.hit(limit, "k", now=1000.0)
    with pytest.raises(ratelimit.RateLimited):
        ratelimit.hit(limit, "k", now=1001.0)
    ratelimit.hit(limit, "k", now=1061.0)  # next window


def test_cooldown(shared_store):
    ratelimit.cooldown_set("demo", "cred", 300)
    with pytest.raises(ratelimit.RateLimited) as caught:
        ratelimit.cooldown_check("demo", "cred")
    assert 290 < caught.value.details["retryAfter"] <= 301
