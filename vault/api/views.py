"""Vault API views: thin — parse, call one service, render."""

from __future__ import annotations

import base64
import binascii

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.responses import auth_context
from mana_auth.api import AuthenticatedView, ErrorSerializer, meta, parse
from mana_auth.errors import ValidationFailed
from vault import selectors, services
from vault.api import serializers as s

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 404, 409, 429, 500, 503)}
TAGS = ["encryption-vault"]


class VaultStatusView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.VaultStatusOutputSerializer, **ERRORS},
        summary="Vault metadata (no decryption, no audit row)",
    )
    def get(self, request: Request) -> Response:
        return Response(s.status_data(selectors.vault_status_for_user(user=request.user)))


class VaultInitView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: s.VAULT_KEY_RESPONSE, **ERRORS},
        summary="Create the vault on first call; return its key (idempotent)",
    )
    def post(self, request: Request) -> Response:
        return Response(s.key_data(services.vault_init(user=request.user, meta=meta(request))))


class VaultKeyView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.VAULT_KEY_RESPONSE, **ERRORS},
        summary="The master key, or the recovery blob in zero-knowledge mode",
    )
    def get(self, request: Request) -> Response:
        return Response(s.key_data(services.vault_key_get(user=request.user, meta=meta(request))))


class VaultRotateView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.VaultReauthInputSerializer,
        responses={200: s.VaultMasterKeyOutputSerializer, **ERRORS},
        summary="Replace the master key (re-authentication; wipes the recovery wrap)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.VaultReauthInputSerializer, request.data)
        key = services.vault_rotate(
            user=request.user,
            meta=meta(request),
            session=auth_context(request).session,
            password=data.get("password"),
        )
        return Response(s.key_data(key))


class RecoveryWrapView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.RecoveryWrapInputSerializer,
        responses={200: s.VaultStatusOutputSerializer, **ERRORS},
        summary="Store or replace the client-built recovery wrap",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.RecoveryWrapInputSerializer, request.data)
        status = services.recovery_wrap_set(
            user=request.user,
            recovery_wrapped_mk=data["recoveryWrappedMk"],
            recovery_iv=data["recoveryIv"],
            meta=meta(request),
            session=auth_context(request).session,
            password=data.get("password"),
        )
        return Response(s.status_data(status))

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: s.VaultStatusOutputSerializer, **ERRORS},
        summary="Remove the recovery wrap (409 ZK_ACTIVE in zero-knowledge mode)",
    )
    def delete(self, request: Request) -> Response:
        status = services.recovery_wrap_clear(user=request.user, meta=meta(request))
        return Response(s.status_data(status))


def _master_key(encoded: str) -> bytearray:
    try:
        return bytearray(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed({"masterKey": ["Must be base64."]}) from exc


class ZeroKnowledgeView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.ZeroKnowledgeInputSerializer,
        responses={200: s.VaultStatusOutputSerializer, **ERRORS},
        summary="Turn zero-knowledge mode on or off (re-authentication)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.ZeroKnowledgeInputSerializer, request.data)
        session, password = auth_context(request).session, data.get("password")
        if data["enable"]:
            status = services.zero_knowledge_enable(
                user=request.user, meta=meta(request), session=session, password=password
            )
        else:
            # The service wraps and then wipes this buffer; the JSON text it came from is an
            # immutable str that Python frees, but cannot overwrite.
            status = services.zero_knowledge_disable(
                user=request.user,
                master_key=_master_key(data.pop("masterKey")),
                meta=meta(request),
                session=session,
                password=password,
            )
        return Response(s.status_data(status))


class MissionGrantView(AuthenticatedView):
    @extend_schema(
        tags=["ai-mission-grant"],
        request=s.MissionGrantInputSerializer,
        responses={200: s.MissionGrantOutputSerializer, **ERRORS},
        summary="Wrap one mission's data key for mana-ai",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MissionGrantInputSerializer, request.data)
        grant = services.mission_grant_issue(
            user=request.user,
            mission_id=data["missionId"],
            ttl_seconds=data.get("ttlSeconds"),
            meta=meta(request),
        )
        return Response(s.grant_data(grant))
