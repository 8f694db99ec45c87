"""Security API: a user's own audit trail."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mana_auth.api import PAGE_PARAMETERS, AuthenticatedView, page_serializer, paginate
from security.models import SecurityEvent
from security.selectors import security_events_for_user


class SecurityEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    ipAddress = serializers.IPAddressField(source="ip_address", allow_null=True)
    userAgent = serializers.CharField(source="user_agent")
    metadata = serializers.DictField()
    createdAt = serializers.DateTimeField(source="created_at")


SecurityEventPageSerializer = page_serializer("SecurityEventPage", SecurityEventOutputSerializer)


def _render(event: SecurityEvent) -> dict[str, Any]:
    return dict(SecurityEventOutputSerializer(event).data)


class SecurityEventsView(AuthenticatedView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: SecurityEventPageSerializer})
    def get(self, request: Request) -> Response:
        return Response(paginate(request, security_events_for_user(user=request.user), _render))
