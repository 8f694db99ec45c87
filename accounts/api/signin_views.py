"""Sign-in views: password, the second step, magic links. Thin — parse, call one flow, render.

Passkey sign-in is under ``/auth/passkeys/`` (``accounts.passkeys.views``).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import serializers as s
from accounts.api.responses import sign_in_response
from accounts.signin import magic_link, second_factor
from accounts.signin.password import password_login
from mana_auth.api import ErrorSerializer, PublicView, meta, parse

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}
MFA_ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 404, 409, 429, 503)}
MFA_REQUIRED = OpenApiResponse(
    ErrorSerializer, description="MFA_REQUIRED: `details.mfaToken` and `details.methods`"
)


class LoginView(PublicView):
    @extend_schema(
        request=s.LoginInputSerializer,
        responses={200: s.SignInOutputSerializer, **ERRORS},
        summary="Sign in with email and password",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.LoginInputSerializer, request.data)
        sign_in = password_login(
            email=data["email"],
            password=data["password"],
            meta=meta(request),
            device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
        )
        return sign_in_response(sign_in)


class MfaLoginView(PublicView):
    @extend_schema(
        request=s.MfaLoginInputSerializer,
        responses={200: s.SignInOutputSerializer, **MFA_ERRORS},
        summary="Finish a sign-in with a TOTP or backup code",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MfaLoginInputSerializer, request.data)
        sign_in = second_factor.mfa_login_complete(
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
        responses={202: s.MagicLinkAcceptedOutputSerializer, **MFA_ERRORS},
        summary="Mail a sign-in link (the same answer for every address)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MagicLinkRequestInputSerializer, request.data)
        magic_link.magic_link_request(
            email=data["email"],
            callback_url=data["callbackURL"],
            meta=meta(request),
            device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
        )
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class MagicLinkVerifyView(PublicView):
    @extend_schema(
        request=s.MagicLinkVerifyInputSerializer,
        responses={200: s.SignInOutputSerializer, **MFA_ERRORS, 401: MFA_REQUIRED},
        summary="Sign in with a magic link's token (or MFA_REQUIRED)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.MagicLinkVerifyInputSerializer, request.data)
        sign_in = magic_link.magic_link_verify(token=data["token"], meta=meta(request))
        return sign_in_response(sign_in)
