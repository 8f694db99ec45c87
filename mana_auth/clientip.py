"""The one place that decides a request's client IP and user agent, and what a per-IP limit
counts by."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A limit per IPv6 address limits nothing: one subscriber gets a /64 (often a /56) and picks
# a fresh address per request. Per-IP limits count IPv6 clients by their /64.
IPV6_RATE_PREFIX = 64


def _port_ok(port: str) -> bool:
    return 0 < len(port) <= 5 and port.isascii() and port.isdigit()


def parse_address(value: str) -> IPAddress | None:
    """An address as proxies write it into ``X-Forwarded-For``: ``ip``, ``ipv4:port``,
    ``[ipv6]`` or ``[ipv6]:port``; anything else (names, ``unknown``, junk) is None.

    A zone (``fe80::1%eth0``) is dropped and an IPv4-mapped IPv6 address becomes its IPv4
    address, so one client has one spelling (in the database's ``inet`` and in rate keys).
    """
    text = value.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and _port_ok(rest[1:]))):
            return None
        if ":" not in host:  # only IPv6 goes in brackets
            return None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not _port_ok(port):
            return None
    else:
        host = text
    if not host or len(host) > 64:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(ip.packed)
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress) -> bool:
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str | None:
    """``REMOTE_ADDR``, unless it is a configured proxy: then the right-most untrusted hop of
    ``X-Forwarded-For``. A header from anyone else is ignored (it is trivially forged). A hop
    that is no address stops the walk: what lies left of it is the client's own claim, so the
    proxy's address answers (counted as one client, never as no client)."""
    remote = parse_address(request.META.get("REMOTE_ADDR") or "")
    if remote is not None and _trusted(remote):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops[-32:]):
            ip = parse_address(hop)
            if ip is None:
                break
            if not _trusted(ip):
                return str(ip)
    return None if remote is None else str(remote)


def ip_rate_key(ip: str | None) -> str | None:
    """What a per-IP limit counts by: an IPv4 address itself, an IPv6 address's /64."""
    if not ip:
        return None
    parsed = parse_address(ip)
    if parsed is None:
        return None
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_RATE_PREFIX), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class RequestMeta:
    """Who is on the other end: passed to services instead of the request itself."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:512])
