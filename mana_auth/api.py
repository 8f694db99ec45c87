"""Shared API pieces: view bases, input parsing, pagination, the error schema."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from mana_auth.clientip import RequestMeta
from mana_auth.errors import ValidationFailed, validation_fields


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class PublicView(APIView):
    """No authentication, no permission: the endpoint does its own checks."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]


class AuthenticatedView(APIView):
    permission_classes = [IsAuthenticated]


def parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate input with a serializer; a failure is VALIDATION_ERROR with per-field messages."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed(validation_fields(serializer.errors))
    return dict(serializer.validated_data)


def meta(request: Request) -> RequestMeta:
    return RequestMeta.from_request(request)


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


PAGE_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1, "default": 1}, description="1-based page number"
    ),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        description="items per page, at most 100",
    ),
]


def paginate(request: Request, queryset: QuerySet[Any] | list[Any], render: Any) -> dict[str, Any]:
    query = parse(PageQuerySerializer, request.query_params)
    page, limit = query["page"], query["limit"]
    total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
    items = queryset[(page - 1) * limit : page * limit]
    return {"items": [render(item) for item in items], "page": page, "limit": limit, "total": total}


def page_serializer(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A named ``{items, page, limit, total}`` schema for OpenAPI."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "items": item(many=True),
            "page": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "total": serializers.IntegerField(),
        },
    )


class DeleteWithBodySchema(AutoSchema):
    """drf-spectacular documents no body on DELETE; ours carry the password for re-auth."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        method = self.method
        if method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = method
