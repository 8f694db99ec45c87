"""API key endpoints: the owner's CRUD and the internal validation for other services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import api_keys
from accounts.api.responses import auth_context
from accounts.models import ApiKey
from mana_auth.api import AuthenticatedView, ErrorSerializer, meta, parse
from mana_auth.service_auth import ServiceView

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 429, 503)}


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(api_keys.SCOPES)), min_length=1, max_length=10
    )
    expiresAt = serializers.DateTimeField(required=False, allow_null=True)
    password = serializers.CharField(
        required=False, allow_blank=True, max_length=4096, trim_whitespace=False
    )


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="The key itself. Shown once; store it now.")


class ApiKeyListOutputSerializer(serializers.Serializer):
    items = ApiKeyOutputSerializer(many=True)


class ApiKeyValidateInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200)


class ApiKeyValidateOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    userId = serializers.UUIDField(required=False)
    scopes = serializers.ListField(child=serializers.CharField(), required=False)


def api_key_data(api_key: ApiKey) -> dict[str, Any]:
    return dict(ApiKeyOutputSerializer(api_key).data)


class ApiKeysView(AuthenticatedView):
    @extend_schema(responses={200: ApiKeyListOutputSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        keys = api_keys.api_keys_for_user(user=request.user)
        return Response({"items": [api_key_data(key) for key in keys]})

    @extend_schema(
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer, **ERRORS},
        summary="Create an API key (re-authentication required; the key is shown once)",
    )
    def post(self, request: Request) -> Response:
        data = parse(ApiKeyCreateInputSerializer, request.data)
        created = api_keys.api_key_create(
            user=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expiresAt"),
            meta=meta(request),
            session=auth_context(request).session,
            password=data.get("password") or None,
        )
        body = api_key_data(created.api_key)
        body["key"] = created.key
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyDetailView(AuthenticatedView):
    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, key_id: str) -> Response:
        api_key = api_keys.api_key_get_for_user(user=request.user, key_id=key_id)
        api_keys.api_key_revoke(api_key=api_key, meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyValidateView(ServiceView):
    @extend_schema(
        request=ApiKeyValidateInputSerializer,
        responses={200: ApiKeyValidateOutputSerializer, **ERRORS},
        summary="Validate an API key (service key required)",
    )
    def post(self, request: Request) -> Response:
        data = parse(ApiKeyValidateInputSerializer, request.data)
        check = api_keys.api_key_validate(key=data["key"], meta=meta(request))
        if not check.valid or check.api_key is None:
            return Response({"valid": False})
        return Response(
            {
                "valid": True,
                "userId": str(check.api_key.user_id),
                "scopes": list(check.api_key.scopes),
            }
        )
