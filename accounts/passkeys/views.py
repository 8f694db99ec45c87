"""Passkeys API views: thin — parse, call one service, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.api.responses import auth_context, sign_in_response
from accounts.api.serializers import SignInOutputSerializer
from accounts.api.views import ERRORS
from accounts.passkeys import selectors, services
from accounts.passkeys import serializers as s
from accounts.signin import passkey as passkey_sign_in
from mana_auth.api import AuthenticatedView, DeleteWithBodySchema, PublicView, meta, parse


class PasskeyCapabilityView(PublicView):
    @extend_schema(
        responses={200: s.PasskeyCapabilityOutputSerializer},
        summary="Whether passkeys are offered (the login page's probe)",
    )
    def get(self, request: Request) -> Response:
        return Response(services.passkey_capability())


class PasskeyRegisterOptionsView(AuthenticatedView):
    @extend_schema(
        request=s.PasskeyRegisterOptionsInputSerializer,
        responses={200: s.PasskeyCreationOptionsOutputSerializer, **ERRORS},
        summary="Creation options for a new passkey (re-authentication required)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PasskeyRegisterOptionsInputSerializer, request.data)
        options = services.passkey_registration_options(
            user=request.user,
            session=auth_context(request).session,
            password=data.get("password") or None,
            meta=meta(request),
        )
        return Response(options)


class PasskeyRegisterVerifyView(AuthenticatedView):
    @extend_schema(
        request=s.PasskeyRegisterVerifyInputSerializer,
        responses={201: s.PasskeyOutputSerializer, **ERRORS},
        summary="Verify the authenticator's response and store the passkey",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PasskeyRegisterVerifyInputSerializer, request.data)
        passkey = services.passkey_register(
            user=request.user,
            session=auth_context(request).session,
            credential=data["credential"],
            name=data["name"],
            meta=meta(request),
        )
        return Response(s.passkey_data(passkey), status=status.HTTP_201_CREATED)


class PasskeyAuthenticateOptionsView(PublicView):
    @extend_schema(
        request=s.PasskeyAuthenticateOptionsInputSerializer,
        responses={200: s.PasskeyRequestOptionsOutputSerializer, **ERRORS},
        summary="Request options; without an email for discoverable credentials",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PasskeyAuthenticateOptionsInputSerializer, request.data)
        options = passkey_sign_in.passkey_sign_in_options(
            email=data.get("email") or None, meta=meta(request)
        )
        return Response(options)


class PasskeyAuthenticateVerifyView(PublicView):
    @extend_schema(
        request=s.PasskeyAuthenticateVerifyInputSerializer,
        responses={200: SignInOutputSerializer, **ERRORS},
        summary="Sign in with a passkey (answers like a password login)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PasskeyAuthenticateVerifyInputSerializer, request.data)
        sign_in = passkey_sign_in.passkey_sign_in(
            credential=data["credential"],
            meta=meta(request),
            ceremony_id=data.get("ceremonyId") or None,
        )
        return sign_in_response(sign_in)


class PasskeyListView(AuthenticatedView):
    @extend_schema(
        operation_id="auth_passkeys_list",
        responses={200: s.PasskeyListOutputSerializer, **ERRORS},
        summary="My passkeys",
    )
    def get(self, request: Request) -> Response:
        passkeys = selectors.passkeys_for_user(user=request.user)
        return Response({"items": [s.passkey_data(passkey) for passkey in passkeys]})


class PasskeyDetailView(AuthenticatedView):
    schema = DeleteWithBodySchema()

    @extend_schema(
        request=s.PasskeyRenameInputSerializer,
        responses={200: s.PasskeyOutputSerializer, **ERRORS},
        summary="Rename a passkey",
    )
    def patch(self, request: Request, passkey_id: str) -> Response:
        data = parse(s.PasskeyRenameInputSerializer, request.data)
        passkey = account_selectors.passkey_get_for_user(user=request.user, passkey_id=passkey_id)
        passkey = services.passkey_rename(
            user=request.user, passkey=passkey, name=data["name"], meta=meta(request)
        )
        return Response(s.passkey_data(passkey))

    @extend_schema(
        request=s.PasskeyDeleteInputSerializer,
        responses={204: None, **ERRORS},
        summary="Remove a passkey (re-authentication required)",
    )
    def delete(self, request: Request, passkey_id: str) -> Response:
        data = parse(s.PasskeyDeleteInputSerializer, request.data)
        passkey = account_selectors.passkey_get_for_user(user=request.user, passkey_id=passkey_id)
        services.passkey_delete(
            user=request.user,
            passkey=passkey,
            meta=meta(request),
            session=auth_context(request).session,
            password=data.get("password") or None,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
