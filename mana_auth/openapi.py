"""Post-processing of the generated OpenAPI schema: what drf-spectacular cannot see by itself.

- Every path parameter named ``*_id`` is a UUID (users, sessions, Spaces, passkeys, API keys,
  invitations, credentials, personas): the URL converters say ``str`` only because a malformed
  id must be a 404 like an unknown one.
- Request bodies whose serializer refuses fields it does not know (``CLOSED_BODIES``) say
  ``additionalProperties: false``.
- Operations that accept the service key (``ServiceKeyPermission``, ``IsAdminRoleOrServiceKey``)
  say so with the ``serviceKey`` scheme (``X-Service-Key``); it is a permission, not an
  authentication class, so the generator does not find it.
"""

from __future__ import annotations

from typing import Any

from mana_auth.permissions import IsAdminRoleOrServiceKey
from mana_auth.service_auth import SERVICE_KEY_HEADER, ServiceKeyPermission

SERVICE_KEY_SCHEME = "serviceKey"
# Request components whose serializer answers an unknown field with VALIDATION_ERROR.
CLOSED_BODIES = ("ProfileInputRequest",)


def _accepts_service_key(view: Any) -> tuple[bool, bool]:
    """(accepts the service key, accepts nothing else)."""
    permissions = getattr(view, "permission_classes", [])
    only = any(issubclass(p, ServiceKeyPermission) for p in permissions)
    also = any(issubclass(p, IsAdminRoleOrServiceKey) for p in permissions)
    return only or also, only


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SERVICE_KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": SERVICE_KEY_HEADER}
    components = result["components"].get("schemas", {})
    for name in CLOSED_BODIES:
        if name in components:
            components[name]["additionalProperties"] = False
    views = {
        (path, method.lower()): getattr(callback, "cls", None)
        for path, _, method, callback in generator.endpoints
    }
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"].endswith("_id"):
                    parameter["schema"] = {"type": "string", "format": "uuid"}
            accepts, only = _accepts_service_key(views.get((path, method)))
            if accepts:
                requirement = {SERVICE_KEY_SCHEME: []}
                operation["security"] = (
                    [requirement] if only else [*operation.get("security", []), requirement]
                )
    return result
