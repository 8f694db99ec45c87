"""The client address behind a trusted proxy, and what per-IP limits count by.

An IPv6 subscriber holds at least a /64 and can use a fresh address per request: per-IP
limits count IPv6 clients by their /64. Proxies write ``ip:port`` and ``[v6]:port`` into
``X-Forwarded-For``; those are the client, and junk falls back to the proxy's own address.
"""

from __future__ import annotations

import ipaddress
import time
from types import SimpleNamespace

import pytest
from django.test import RequestFactory

from accounts.models import Session
from mana_auth.clientip import client_ip, ip_rate_key, parse_address
from security import ratelimit
from tests.conftest import PASSWORD

PROXY = "10.0.0.5"


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]


def _ip(forwarded: str | None, remote: str = PROXY) -> str | None:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9:54321", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9:443", "203.0.113.9"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:8443", "2001:db8::7"),
        ("198.51.100.1,[2001:DB8::7]:8443 , 10.0.0.9", "2001:db8::7"),  # trusted hops skipped
        ("::ffff:203.0.113.9", "203.0.113.9"),  # IPv4-mapped: one client, one spelling
        ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::1"),  # a zone names an interface, not a client
        ("203.0.113.9, 198.51.100.1:80", "198.51.100.1"),
    ],
)
def test_forwarded_for_entries_with_ports_and_brackets_name_the_client(
    behind_proxy, forwarded, expected
):
    assert _ip(forwarded) == expected


@pytest.mark.parametrize(
    "forwarded",
    [
        "unknown",
        "not an address",
        "203.0.113.9:",
        "203.0.113.9:port",
        "203.0.113.9:123456",
        "203.0.113.9:٣",  # a non-ASCII digit
        "[2001:db8::7",
        "[2001:db8::7]x",
        "[2001:db8::7]:",
        "[203.0.113.9]:80",
        "2001:db8::7:80:zz",
        "[]:80",
        "1" * 5000,
        "\x00",
        "_, 203.0.113.9 junk",
    ],
)
def test_a_garbage_last_hop_falls_back_to_the_proxy_address(behind_proxy, forwarded):
    assert _ip(forwarded) == PROXY


def test_garbage_left_of_the_real_hop_is_the_clients_own_claim(behind_proxy):
    assert _ip("garbage, [::1]:x, 203.0.113.9:1234") == "203.0.113.9"


def test_forwarded_for_from_an_untrusted_peer_is_ignored_with_ports_too(settings):
    settings.TRUSTED_PROXIES = []
    assert _ip("203.0.113.9:443", remote="198.51.100.20") == "198.51.100.20"


def test_an_unparsable_remote_addr_is_no_address(behind_proxy):
    assert _ip("203.0.113.9", remote="") is None
    assert _ip(None, remote="garbage") is None


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, None),
        ("", None),
        ("junk", None),
    ],
)
def test_rate_keys_count_ipv6_by_its_64(ip, key):
    assert ip_rate_key(ip) == key


def test_parse_address_refuses_what_is_no_address():
    assert parse_address("example.com") is None
    assert parse_address("example.com:80") is None


# --- through the API --------------------------------------------------------------------------


@pytest.fixture
def _one_window(monkeypatch):
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: frozen))


@pytest.mark.django_db
def test_fresh_ipv6_addresses_in_one_64_share_a_budget(api_client, shared_store, _one_window):
    """One subscriber rotating through its /64 is one client to the limit; the next /64 is
    another."""
    limit = ratelimit.FORGOT_IP
    for index in range(limit.limit):
        response = api_client.post(
            "/api/v1/auth/forgot-password",
            {"email": f"f{index}@example.com"},
            format="json",
            REMOTE_ADDR=f"2001:db8:77:1:{index + 1:x}::9",
        )
        assert response.status_code == 202, index
    refused = api_client.post(
        "/api/v1/auth/forgot-password",
        {"email": "fresh@example.com"},
        format="json",
        REMOTE_ADDR="2001:db8:77:1:ffff:1234:5678:9abc",
    )
    assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
    other = api_client.post(
        "/api/v1/auth/forgot-password",
        {"email": "fresh@example.com"},
        format="json",
        REMOTE_ADDR="2001:db8:77:2::9",
    )
    assert other.status_code == 202


@pytest.mark.django_db
def test_forwarded_ipv6_with_a_port_through_a_proxy_is_limited_per_64(
    api_client, shared_store, behind_proxy, _one_window
):
    limit = ratelimit.FORGOT_IP
    for index in range(limit.limit):
        api_client.post(
            "/api/v1/auth/forgot-password",
            {"email": f"g{index}@example.com"},
            format="json",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"[2001:db8:99:1::{index + 1:x}]:5{index:04d}",
        )
    refused = api_client.post(
        "/api/v1/auth/forgot-password",
        {"email": "g-last@example.com"},
        format="json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="[2001:db8:99:1::abcd]:443",
    )
    assert refused.status_code == 429
    # a client behind the same proxy elsewhere is not held back by it
    other = api_client.post(
        "/api/v1/auth/forgot-password",
        {"email": "g-last@example.com"},
        format="json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.50:443",
    )
    assert other.status_code == 202


@pytest.mark.django_db
def test_the_session_records_the_full_forwarded_address(api_client, user_factory, behind_proxy):
    user = user_factory()
    response = api_client.post(
        "/api/v1/auth/login",
        {"email": user.email, "password": PASSWORD},
        format="json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="[2001:db8:5::42]:61000",
    )
    assert response.status_code == 200
    assert Session.objects.get(user=user).ip_address == "2001:db8:5::42"
