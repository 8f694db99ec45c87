"""Service-to-service calls: the ``X-Service-Key`` header checked against ``MANA_SERVICE_KEY``.

Reuse ``ServiceKeyPermission`` (or the ``ServiceView`` base) on every internal endpoint. A
missing or wrong key is 401 ``TOKEN_INVALID``; the comparison takes the same time whatever
the header holds.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from mana_auth.errors import AuthError

SERVICE_KEY_HEADER = "X-Service-Key"


def service_key_valid(request: HttpRequest) -> bool:
    """Whether the request carries the configured service key (constant-time comparison)."""
    expected = settings.MANA_SERVICE_KEY or ""
    presented = request.headers.get(SERVICE_KEY_HEADER) or ""
    # Always compare, even when one side is empty, so timing says nothing about the header.
    matches = hmac.compare_digest(presented.encode(), expected.encode())
    return bool(expected) and bool(presented) and matches


class ServiceKeyPermission(BasePermission):
    """Allow only callers presenting the service key; anyone else gets 401 TOKEN_INVALID."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not service_key_valid(request):
            raise AuthError(code="TOKEN_INVALID", message="A valid service key is required.")
        return True


class ServiceView(APIView):
    """Base for internal endpoints: no user authentication, the service key only."""

    authentication_classes: list[type] = []
    permission_classes = [ServiceKeyPermission]
