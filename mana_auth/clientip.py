"""The one place that decides a request's client IP and user agent."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str | None:
    """``REMOTE_ADDR``, unless it is a configured proxy: then the right-most untrusted hop of
    ``X-Forwarded-For``. A header from anyone else is ignored (it is trivially forged)."""
    remote = (request.META.get("REMOTE_ADDR") or "").strip()
    if remote and _trusted(remote):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break
            if not _trusted(hop):
                return hop
    try:
        ipaddress.ip_address(remote)
    except ValueError:
        return None
    return remote


@dataclass(frozen=True)
class RequestMeta:
    """Who is on the other end: passed to services instead of the request itself."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:512])
