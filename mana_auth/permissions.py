"""Reusable DRF permissions: the operator role, and operator-or-service for runner callbacks.

The role is read from the user row the authentication class loaded for *this* request (a
fresh query per request, see ``accounts.authentication``), never from the token's ``role``
claim: an admin demoted a second ago is refused with their still-valid token.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from mana_auth.errors import Forbidden
from mana_auth.service_auth import SERVICE_KEY_HEADER, service_key_valid


def _require_admin(request: Any) -> bool:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAuthenticated()  # 401 TOKEN_INVALID
    if getattr(user, "role", None) != "admin" or not user.is_active:
        raise Forbidden("This needs an operator account.")
    return True


class IsAdminRole(BasePermission):
    """Signed in (bearer token) with an active account whose ``role == "admin"`` in the
    database (the staff flag is the console's, not needed here); else 401 / 403."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return _require_admin(request)


class IsAdminRoleOrServiceKey(BasePermission):
    """The service key (``X-Service-Key``) or an operator's bearer token.

    A wrong service key with no bearer token is 401 TOKEN_INVALID, like any internal endpoint.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if service_key_valid(request):
            return True
        if request.headers.get(SERVICE_KEY_HEADER) and not request.META.get("HTTP_AUTHORIZATION"):
            raise NotAuthenticated()
        return _require_admin(request)
