"""Spaces API views: thin — parse, call one service or selector, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerTokenAuthentication, bearer_claims
from accounts.exceptions import SessionRevoked
from accounts.selectors import session_is_live
from mana_auth.api import (
    PAGE_PARAMETERS,
    AuthenticatedView,
    ErrorSerializer,
    PublicView,
    meta,
    page_serializer,
    paginate,
    parse,
)
from mana_auth.errors import Forbidden, ValidationFailed
from mana_auth.fastview import LeanAPIView, drf_json
from mana_auth.service_auth import ServiceView
from spaces import modules, selectors
from spaces.access import space_access_for_token
from spaces.api import serializers as s
from spaces.models import SpaceRole
from spaces.services.base import membership_require_manager
from spaces.services.credentials import credential_create, credential_delete, credential_reveal
from spaces.services.invitations import (
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_revoke,
)
from spaces.services.members import member_remove, member_role_change, space_leave
from spaces.services.permissions import module_permissions_set
from spaces.services.singletons import singletons_bootstrap_for_user
from spaces.services.spaces import space_create, space_delete, space_tier_set, space_update

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}
TAGS = ["spaces"]

MySpacePageSerializer = page_serializer("MySpacePage", s.MySpaceOutputSerializer)
SpaceMemberPageSerializer = page_serializer("SpaceMemberPage", s.SpaceMemberOutputSerializer)
SpaceInvitationPageSerializer = page_serializer(
    "SpaceInvitationPage", s.SpaceInvitationOutputSerializer
)
SpaceCredentialPageSerializer = page_serializer(
    "SpaceCredentialPage", s.SpaceCredentialOutputSerializer
)


# --- Catalogue --------------------------------------------------------------------------------


class SpaceTypesView(PublicView):
    @extend_schema(tags=TAGS, responses={200: s.SpaceTypesOutputSerializer}, summary="Space types")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "types": selectors.space_types_catalogue(),
                "modules": selectors.module_catalogue(),
                "tiers": list(modules.TIERS),
                "levels": list(modules.LEVELS),
            }
        )


# --- Spaces -----------------------------------------------------------------------------------


class SpacesView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: MySpacePageSerializer, **ERRORS},
        operation_id="spaces_list",
        summary="My Spaces with my role and their tier",
    )
    def get(self, request: Request) -> Response:
        memberships = selectors.memberships_for_user(user=request.user)
        return Response(paginate(request, memberships, s.my_space_data))

    @extend_schema(
        tags=TAGS,
        request=s.SpaceCreateInputSerializer,
        responses={201: s.MySpaceOutputSerializer, **ERRORS},
        summary="Create a shared Space",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.SpaceCreateInputSerializer, request.data)
        space = space_create(
            user=request.user,
            name=data["name"],
            type=data["type"],
            slug=data.get("slug") or None,
            metadata=data.get("metadata"),
            meta=meta(request),
        )
        return Response(s.space_data(space, SpaceRole.OWNER), status=status.HTTP_201_CREATED)


class SpaceDetailView(AuthenticatedView):
    @extend_schema(tags=TAGS, responses={200: s.MySpaceOutputSerializer, **ERRORS})
    def get(self, request: Request, space_id: str) -> Response:
        membership = selectors.membership_get(user=request.user, space_id=space_id)
        return Response(s.my_space_data(membership))

    @extend_schema(
        tags=TAGS,
        request=s.SpaceUpdateInputSerializer,
        responses={200: s.MySpaceOutputSerializer, **ERRORS},
        summary="Rename, change the slug or metadata (owner)",
    )
    def patch(self, request: Request, space_id: str) -> Response:
        data = parse(s.SpaceUpdateInputSerializer, request.data)
        space = space_update(user=request.user, space_id=space_id, data=data, meta=meta(request))
        return Response(s.space_data(space, SpaceRole.OWNER))

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={204: None, **ERRORS},
        summary="Delete a shared Space (owner); the personal Space is undeletable",
    )
    def delete(self, request: Request, space_id: str) -> Response:
        space_delete(user=request.user, space_id=space_id, meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpaceAccessView(LeanAPIView):
    # A hot path (every app asks it): GET runs without DRF's machinery, the session and the
    # access in one statement, cached with Redis (spaces/access.py); it answers as DRF did.
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        responses={200: s.SpaceAccessOutputSerializer, **ERRORS},
        parameters=[s.SpaceAccessQuerySerializer],
        summary="My role, the Space's tier and my effective level per module; with ?module=, "
        "whether the tier opens it",
    )
    def get(self, request: HttpRequest, space_id: str) -> HttpResponse:
        claims = bearer_claims(request)
        # ``request.GET``: Django's request here, DRF's (which proxies it) for other media.
        try:
            # Without a query string the serializer has nothing to check (``module`` is its
            # only field): skip building it, a fifth of this view's time.
            query = parse(s.SpaceAccessQuerySerializer, request.GET) if request.GET else {}
        except ValidationFailed:
            # Under DRF a dead session was refused (401) before the query was read: so here.
            if not session_is_live(claims):
                raise SessionRevoked() from None
            raise
        access = space_access_for_token(
            claims=claims, space_id=space_id, module_id=query.get("module")
        )
        return drf_json(access)


# --- Members ----------------------------------------------------------------------------------


class SpaceMembersView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: SpaceMemberPageSerializer, **ERRORS},
        operation_id="spaces_members_list",
    )
    def get(self, request: Request, space_id: str) -> Response:
        membership = selectors.membership_get(user=request.user, space_id=space_id)
        members = selectors.members_of(space=membership.space)
        return Response(paginate(request, members, s.member_data))


class SpaceMemberView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.SpaceMemberRoleInputSerializer,
        responses={200: s.SpaceMemberOutputSerializer, **ERRORS},
        summary="Change a member's role (owners; admins below owner)",
    )
    def patch(self, request: Request, space_id: str, user_id: str) -> Response:
        data = parse(s.SpaceMemberRoleInputSerializer, request.data)
        membership = member_role_change(
            user=request.user,
            space_id=space_id,
            member_user_id=user_id,
            role=data["role"],
            meta=meta(request),
        )
        return Response(s.member_data(membership))

    @extend_schema(
        tags=TAGS, request=None, responses={204: None, **ERRORS}, summary="Remove a member"
    )
    def delete(self, request: Request, space_id: str, user_id: str) -> Response:
        member_remove(
            user=request.user, space_id=space_id, member_user_id=user_id, meta=meta(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpaceLeaveView(AuthenticatedView):
    @extend_schema(tags=TAGS, request=None, responses={204: None, **ERRORS}, summary="Leave")
    def post(self, request: Request, space_id: str) -> Response:
        space_leave(user=request.user, space_id=space_id, meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations ------------------------------------------------------------------------------


class SpaceInvitationsView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: SpaceInvitationPageSerializer, **ERRORS},
        operation_id="spaces_invitations_list",
        summary="Invitations of a Space (owners and admins)",
    )
    def get(self, request: Request, space_id: str) -> Response:
        membership = membership_require_manager(user=request.user, space_id=space_id)
        invitations = selectors.invitations_of(space=membership.space)
        return Response(paginate(request, invitations, s.invitation_data))

    @extend_schema(
        tags=TAGS,
        request=s.SpaceInvitationCreateInputSerializer,
        responses={201: s.SpaceInvitationOutputSerializer, **ERRORS},
        summary="Invite by email (mail with a single-use link)",
    )
    def post(self, request: Request, space_id: str) -> Response:
        data = parse(s.SpaceInvitationCreateInputSerializer, request.data)
        invitation = invitation_create(
            user=request.user,
            space_id=space_id,
            email=data["email"],
            role=data["role"],
            meta=meta(request),
        )
        return Response(s.invitation_data(invitation), status=status.HTTP_201_CREATED)


class SpaceInvitationView(AuthenticatedView):
    @extend_schema(
        tags=TAGS, request=None, responses={204: None, **ERRORS}, summary="Revoke an invitation"
    )
    def delete(self, request: Request, space_id: str, invitation_id: str) -> Response:
        invitation_revoke(
            user=request.user,
            space_id=space_id,
            invitation_id=invitation_id,
            meta=meta(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.InvitationTokenInputSerializer,
        responses={200: s.InvitationAcceptOutputSerializer, **ERRORS},
        summary="Accept an invitation sent to my verified address",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.InvitationTokenInputSerializer, request.data)
        membership = invitation_accept(user=request.user, token=data["token"], meta=meta(request))
        return Response({"space": s.my_space_data(membership)})


class InvitationDeclineView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        request=s.InvitationTokenInputSerializer,
        responses={204: None, **ERRORS},
        summary="Decline an invitation sent to my verified address",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.InvitationTokenInputSerializer, request.data)
        invitation_decline(user=request.user, token=data["token"], meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Module permissions -----------------------------------------------------------------------


class SpaceModulePermissionsView(AuthenticatedView):
    @extend_schema(tags=TAGS, responses={200: s.ModulePermissionsOutputSerializer, **ERRORS})
    def get(self, request: Request, space_id: str) -> Response:
        membership = selectors.membership_get(user=request.user, space_id=space_id)
        overrides = list(selectors.module_overrides_of(space=membership.space))
        return Response(s.module_permissions_data(membership.space, overrides))

    @extend_schema(
        tags=TAGS,
        request=s.ModulePermissionsInputSerializer,
        responses={200: s.ModulePermissionsOutputSerializer, **ERRORS},
        summary="Replace the module overrides (owner); overrides only narrow",
    )
    def put(self, request: Request, space_id: str) -> Response:
        data = parse(s.ModulePermissionsInputSerializer, request.data)
        space = module_permissions_set(
            user=request.user,
            space_id=space_id,
            overrides=[dict(item) for item in data["overrides"]],
            meta=meta(request),
        )
        overrides = list(selectors.module_overrides_of(space=space))
        return Response(s.module_permissions_data(space, overrides))


# --- Credentials ------------------------------------------------------------------------------


class SpaceCredentialsView(AuthenticatedView):
    @extend_schema(
        tags=TAGS,
        parameters=PAGE_PARAMETERS,
        responses={200: SpaceCredentialPageSerializer, **ERRORS},
        operation_id="spaces_credentials_list",
        summary="Credential metadata (owners and admins); values are never shown",
    )
    def get(self, request: Request, space_id: str) -> Response:
        membership = membership_require_manager(user=request.user, space_id=space_id)
        credentials = selectors.credentials_of(space=membership.space)
        return Response(paginate(request, credentials, s.credential_data))

    @extend_schema(
        tags=TAGS,
        request=s.SpaceCredentialCreateInputSerializer,
        responses={201: s.SpaceCredentialOutputSerializer, **ERRORS},
        summary="Store a credential (owner); write-only",
    )
    def post(self, request: Request, space_id: str) -> Response:
        data = parse(s.SpaceCredentialCreateInputSerializer, request.data)
        credential = credential_create(
            user=request.user,
            space_id=space_id,
            kind=data["kind"],
            name=data["name"],
            value=data["value"],
            meta=meta(request),
        )
        return Response(s.credential_data(credential), status=status.HTTP_201_CREATED)


class SpaceCredentialView(AuthenticatedView):
    @extend_schema(tags=TAGS, request=None, responses={204: None, **ERRORS})
    def delete(self, request: Request, space_id: str, credential_id: str) -> Response:
        credential_delete(
            user=request.user,
            space_id=space_id,
            credential_id=credential_id,
            meta=meta(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Me ---------------------------------------------------------------------------------------


class BootstrapSingletonsView(AuthenticatedView):
    @extend_schema(
        tags=["me"],
        request=None,
        responses={200: s.BootstrapSingletonsOutputSerializer, **ERRORS},
        summary="Reconcile my sync-store singletons (idempotent)",
    )
    def post(self, request: Request) -> Response:
        return Response(singletons_bootstrap_for_user(user=request.user))


# --- Admin ------------------------------------------------------------------------------------


class AdminSpaceTierView(AuthenticatedView):
    @extend_schema(
        tags=["admin"],
        request=s.SpaceTierInputSerializer,
        responses={200: s.SpaceOutputSerializer, **ERRORS},
        summary="Set a Space's tier (admin)",
    )
    def put(self, request: Request, space_id: str) -> Response:
        if not request.user.is_admin:
            raise Forbidden()
        data = parse(s.SpaceTierInputSerializer, request.data)
        space = space_tier_set(
            actor=request.user, space_id=space_id, tier=data["tier"], meta=meta(request)
        )
        return Response(s.space_data(space))


# --- Internal (service key) -------------------------------------------------------------------


class InternalMembershipView(ServiceView):
    @extend_schema(
        tags=["internal"],
        responses={200: s.InternalMembershipOutputSerializer, **ERRORS},
        parameters=[s.InternalMembershipQuerySerializer],
        summary="Is this user a member of this Space (service key); optionally, does its tier "
        "suffice",
    )
    def get(self, request: Request, org_id: str, user_id: str) -> Response:
        query = parse(s.InternalMembershipQuerySerializer, request.query_params)
        check = selectors.membership_check(
            space_id=org_id,
            user_id=user_id,
            required_tier=query.get("requiredTier"),
            module_id=query.get("module"),
        )
        body: dict[str, object] = {"isMember": check.is_member, "role": check.role}
        if check.module_level is not None:
            body["moduleLevel"] = check.module_level
        return Response(body)


class InternalSpaceCredentialView(ServiceView):
    @extend_schema(
        tags=["internal"],
        responses={200: s.InternalSpaceCredentialOutputSerializer, **ERRORS},
        summary="A credential's decrypted value (service key; audited)",
    )
    def get(self, request: Request, space_id: str, credential_id: str) -> Response:
        credential, value = credential_reveal(
            space_id=space_id, credential_id=credential_id, meta=meta(request)
        )
        body = s.credential_data(credential)
        body["value"] = value
        response = Response(body)
        response["Cache-Control"] = "no-store"
        return response
