"""Second factors and magic links: thin views — parse, check, call one service, render."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import SignInOutputSerializer
from accounts.api.views import sign_in_response
from accounts.reauth import reauth_check
from mana_auth.api import (
    AuthenticatedView,
    DeleteWithBodySchema,
    ErrorSerializer,
    PublicView,
    meta,
    parse,
)
from security import magic_links, mfa
from security.api import serializers as s
from security.otp import selectors, services

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 404, 409, 429, 503)}
MFA_REQUIRED = OpenApiResponse(
    ErrorSerializer, description="MFA_REQUIRED: `details.mfaToken` and `details.methods`"
)


class MfaStatusView(AuthenticatedView):
    @extend_schema(responses={200: s.MfaStatusOutputSerializer, **ERRORS}, summary="2FA status")
    def get(self, request: Request) -> Response:
        return Response(selectors.mfa_status(user=request.user))


class TotpSetupView(AuthenticatedView):
    @extend_schema(
        request=s.MfaReauthInputSerializer,
        responses={200: s.TotpSetupOutputSerializer, **ERRORS},
        summary="Start authenticator enrolment (needs a recent sign-in or the password)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaReauthInputSerializer, request.data)
        reauth_check(request, data["password"])
        enrolment = services.totp_setup(user=request.user)
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
        codes = services.totp_confirm(user=request.user, code=data["code"], meta=meta(request))
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
        reauth_check(request, data["password"])
        services.totp_disable(user=request.user, meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCodesRegenerateView(AuthenticatedView):
    @extend_schema(
        request=s.MfaReauthInputSerializer,
        responses={200: s.BackupCodesOutputSerializer, **ERRORS},
        summary="Replace the backup codes (the old ones stop working)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaReauthInputSerializer, request.data)
        reauth_check(request, data["password"])
        codes = services.backup_codes_regenerate(user=request.user, meta=meta(request))
        return Response({"backupCodes": codes})


class MfaLoginView(PublicView):
    @extend_schema(
        request=s.MfaLoginInputSerializer,
        responses={200: SignInOutputSerializer, **ERRORS},
        summary="Finish a sign-in with a TOTP or backup code",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaLoginInputSerializer, request.data)
        sign_in = mfa.mfa_login_complete(
            mfa_token=data["mfaToken"],
            code=data["code"],
            method=data["method"],
            meta=meta(request),
            device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
        )
        return sign_in_response(sign_in)


class MagicLinkRequestView(PublicView):
    @extend_schema(
        request=s.MagicLinkRequestInputSerializer,
        responses={202: s.MagicLinkAcceptedOutputSerializer, **ERRORS},
        summary="Mail a sign-in link (the same answer for every address)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MagicLinkRequestInputSerializer, request.data)
        magic_links.magic_link_request(
            email=data["email"], callback_url=data["callbackURL"], meta=meta(request)
        )
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class MagicLinkVerifyView(PublicView):
    @extend_schema(
        request=s.MagicLinkVerifyInputSerializer,
        responses={200: SignInOutputSerializer, **ERRORS, 401: MFA_REQUIRED},
        summary="Sign in with a magic link's token (or MFA_REQUIRED)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MagicLinkVerifyInputSerializer, request.data)
        sign_in = magic_links.magic_link_verify(token=data["token"], meta=meta(request))
        return sign_in_response(sign_in)
