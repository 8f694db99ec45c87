"""Second factors managed by their owner (``/me/mfa``): thin — parse, call one flow, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import mfa
from accounts.api import mfa_serializers as s
from accounts.api.responses import auth_context
from mana_auth.api import AuthenticatedView, DeleteWithBodySchema, ErrorSerializer, meta, parse

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 404, 409, 429, 503)}


class MfaStatusView(AuthenticatedView):
    @extend_schema(responses={200: s.MfaStatusOutputSerializer, **ERRORS}, summary="2FA status")
    def get(self, request: Request) -> Response:
        return Response(mfa.mfa_status(user=request.user))


class TotpSetupView(AuthenticatedView):
    @extend_schema(
        request=s.MfaReauthInputSerializer,
        responses={200: s.TotpSetupOutputSerializer, **ERRORS},
        summary="Start authenticator enrolment (needs a recent sign-in or the password)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaReauthInputSerializer, request.data)
        enrolment = mfa.totp_setup(
            user=request.user, session=auth_context(request).session, password=data["password"]
        )
        return Response(
            {
                "secret": enrolment.secret,
                "otpauthUri": enrolment.otpauth_uri,
                "qrSvg": enrolment.qr_svg,
            }
        )


class TotpConfirmView(AuthenticatedView):
    @extend_schema(
        request=s.TotpConfirmInputSerializer,
        responses={200: s.TotpConfirmOutputSerializer, **ERRORS},
        summary="Confirm the authenticator with a code; returns 10 backup codes once",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.TotpConfirmInputSerializer, request.data)
        codes = mfa.totp_confirm(user=request.user, code=data["code"], meta=meta(request))
        return Response({"enabled": True, "backupCodes": codes})


class TotpDisableView(AuthenticatedView):
    schema = DeleteWithBodySchema()

    @extend_schema(
        request=s.MfaReauthInputSerializer,
        responses={204: None, **ERRORS},
        summary="Turn the authenticator off (and void the backup codes)",
    )
    def delete(self, request: Request) -> Response:
        data = parse(s.MfaReauthInputSerializer, request.data)
        mfa.totp_disable(
            user=request.user,
            meta=meta(request),
            session=auth_context(request).session,
            password=data["password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCodesRegenerateView(AuthenticatedView):
    @extend_schema(
        request=s.MfaReauthInputSerializer,
        responses={200: s.BackupCodesOutputSerializer, **ERRORS},
        summary="Replace the backup codes (the old ones stop working)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaReauthInputSerializer, request.data)
        codes = mfa.backup_codes_regenerate(
            user=request.user,
            meta=meta(request),
            session=auth_context(request).session,
            password=data["password"],
        )
        return Response({"backupCodes": codes})
