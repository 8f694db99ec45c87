"""GDPR self-service: ``GET /me/data`` (summary), ``GET /me/data/export`` (Art. 20, as a file),
``DELETE /me/data`` (Art. 17, with the password)."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import deletion, gdpr
from accounts.api.responses import session_cookie_clear
from mana_auth.api import AuthenticatedView, DeleteWithBodySchema, ErrorSerializer, meta, parse
from security import ratelimit

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 429, 503)}


class GdprDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class GdprProfileOutputSerializer(serializers.Serializer):
    userId = serializers.UUIDField()
    email = serializers.EmailField()
    emailVerified = serializers.BooleanField()
    displayName = serializers.CharField()
    profileImageUrl = serializers.CharField()
    preferredLanguage = serializers.CharField()
    accountKind = serializers.CharField()
    role = serializers.CharField()
    accessTier = serializers.CharField()
    createdAt = serializers.DateTimeField()


class GdprSessionOutputSerializer(serializers.Serializer):
    sessionId = serializers.UUIDField()
    signInMethod = serializers.CharField()
    signedInAt = serializers.DateTimeField()
    createdAt = serializers.DateTimeField()
    lastUsedAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    revokedAt = serializers.DateTimeField(allow_null=True)
    revokedReason = serializers.CharField()
    ipAddress = serializers.IPAddressField(allow_null=True)
    userAgent = serializers.CharField()


class GdprSessionsOutputSerializer(serializers.Serializer):
    activeCount = serializers.IntegerField()
    active = GdprSessionOutputSerializer(many=True)


class GdprPasskeyOutputSerializer(serializers.Serializer):
    passkeyId = serializers.UUIDField()
    name = serializers.CharField()
    credentialId = serializers.CharField()
    authenticatorAaguid = serializers.CharField()
    deviceType = serializers.CharField()
    backedUp = serializers.BooleanField()
    transports = serializers.ListField(child=serializers.CharField())
    signatureCounter = serializers.IntegerField()
    createdAt = serializers.DateTimeField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)


class GdprPasskeysOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    items = GdprPasskeyOutputSerializer(many=True)


class GdprSecondFactorsOutputSerializer(serializers.Serializer):
    authenticatorAppEnabled = serializers.BooleanField()
    authenticatorAppConfirmedAt = serializers.DateTimeField(allow_null=True)
    backupCodesRemaining = serializers.IntegerField()


class GdprVaultOutputSerializer(serializers.Serializer):
    vaultExists = serializers.BooleanField()
    hasRecoveryWrap = serializers.BooleanField()
    zeroKnowledge = serializers.BooleanField()
    recoverySetAt = serializers.DateTimeField(allow_null=True)


class GdprSpaceOutputSerializer(serializers.Serializer):
    spaceId = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    type = serializers.CharField()
    accessTier = serializers.CharField()
    yourRole = serializers.CharField()
    youJoinedAt = serializers.DateTimeField()
    memberCount = serializers.IntegerField()
    ownerCount = serializers.IntegerField()
    deletedWithYourAccount = serializers.BooleanField(
        help_text="You are its only owner: deleting your account deletes this Space."
    )


class GdprInvitationOutputSerializer(serializers.Serializer):
    invitationId = serializers.UUIDField()
    spaceId = serializers.UUIDField()
    spaceName = serializers.CharField()
    invitedEmail = serializers.EmailField()
    role = serializers.CharField()
    status = serializers.CharField()
    invitedByUserId = serializers.UUIDField(allow_null=True)
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    acceptedAt = serializers.DateTimeField(allow_null=True)
    acceptedByUserId = serializers.UUIDField(allow_null=True)
    declinedAt = serializers.DateTimeField(allow_null=True)
    revokedAt = serializers.DateTimeField(allow_null=True)


class GdprInvitationsOutputSerializer(serializers.Serializer):
    sentTotal = serializers.IntegerField()
    sentPending = serializers.IntegerField()
    receivedPending = GdprInvitationOutputSerializer(many=True)


class GdprApiKeyOutputSerializer(serializers.Serializer):
    apiKeyId = serializers.UUIDField()
    name = serializers.CharField()
    visiblePrefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField(allow_null=True)
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    revokedAt = serializers.DateTimeField(allow_null=True)


class GdprApiKeysOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    activeCount = serializers.IntegerField()
    items = GdprApiKeyOutputSerializer(many=True)


class GdprSecurityEventsOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    lastAt = serializers.DateTimeField(allow_null=True)


class GdprPersonaOutputSerializer(serializers.Serializer):
    isPersona = serializers.BooleanField()
    persona = serializers.DictField(allow_null=True, help_text="The persona's settings, if any.")
    records = serializers.DictField(
        child=serializers.IntegerField(), help_text="Stored persona records per kind."
    )


class GdprSyncStoreOutputSerializer(serializers.Serializer):
    available = serializers.BooleanField(
        help_text="False when the sync store could not be asked; the counts are then null."
    )
    totalRecords = serializers.IntegerField(allow_null=True)
    recordsByAppAndTable = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()), allow_null=True
    )


class GdprSummaryOutputSerializer(serializers.Serializer):
    profile = GdprProfileOutputSerializer()
    sessions = GdprSessionsOutputSerializer()
    passkeys = GdprPasskeysOutputSerializer()
    secondFactors = GdprSecondFactorsOutputSerializer()
    encryptionVault = GdprVaultOutputSerializer()
    spaces = GdprSpaceOutputSerializer(many=True)
    invitations = GdprInvitationsOutputSerializer()
    apiKeys = GdprApiKeysOutputSerializer()
    securityEvents = GdprSecurityEventsOutputSerializer()
    personaData = GdprPersonaOutputSerializer()
    syncedAppData = GdprSyncStoreOutputSerializer()


class GdprDataView(AuthenticatedView):
    schema = DeleteWithBodySchema()

    @extend_schema(
        responses={200: GdprSummaryOutputSerializer, **ERRORS},
        summary="Everything stored about me, at a glance (GDPR Art. 15)",
    )
    def get(self, request: Request) -> Response:
        response = Response(gdpr.user_data_summary(user=request.user))
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        request=GdprDeleteInputSerializer,
        responses={204: None, **ERRORS},
        summary="Delete my account and everything of it (GDPR Art. 17; password required)",
    )
    def delete(self, request: Request) -> Response:
        data = parse(GdprDeleteInputSerializer, request.data)
        ratelimit.hit(gdpr.DELETE_USER, str(request.user.pk))
        deletion.account_delete(user=request.user, password=data["password"], meta=meta(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        session_cookie_clear(response)
        return response


class GdprDataExportView(AuthenticatedView):
    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "The complete export as a file (Content-Disposition: attachment). Each "
                    "section is named by its key; 'coverage' lists the stored record types "
                    "per section and 'notExported' those left out, with the reason."
                ),
            ),
            **ERRORS,
        },
        summary="Download everything stored about me as JSON (GDPR Art. 20)",
    )
    def get(self, request: Request) -> HttpResponse:
        ratelimit.hit(gdpr.EXPORT_USER, str(request.user.pk))
        document = gdpr.user_data_export(user=request.user, meta=meta(request))
        body = json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
        filename = f"mana-data-{timezone.now():%Y-%m-%d}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
