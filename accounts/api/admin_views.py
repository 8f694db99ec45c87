"""The accounts Admin API (``/api/v1/admin/users``): operators' user management.

Every view needs a bearer token whose user has ``role == "admin"`` in the database right now
(``IsAdminRole``). Thin views: parse, call one operator action or selector, render.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import operators, selectors
from accounts.api import admin_serializers as s
from accounts.api.serializers import UserOutputSerializer, user_data
from mana_auth.api import PAGE_PARAMETERS, ErrorSerializer, meta, page_serializer, paginate, parse
from mana_auth.permissions import IsAdminRole

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}
USERS = ["admin: users"]

AdminUserPageSerializer = page_serializer("AdminUserPage", UserOutputSerializer)


class AdminView(APIView):
    permission_classes = [IsAdminRole]


# --- Users ------------------------------------------------------------------------------------


class AdminUsersView(AdminView):
    @extend_schema(
        tags=USERS,
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("search", str, description="part of the email or name, or an id"),
        ],
        responses={200: AdminUserPageSerializer, **ERRORS},
        operation_id="admin_users_list",
        summary="List accounts (admin)",
    )
    def get(self, request: Request) -> Response:
        query = parse(s.AdminUserListQuerySerializer, request.query_params)
        users = selectors.users_search(search=query["search"])
        return Response(paginate(request, users, user_data))


class AdminUserView(AdminView):
    @extend_schema(
        tags=USERS,
        responses={200: s.AdminUserDetailOutputSerializer, **ERRORS},
        summary="One account with its lock, sessions and second factors (admin)",
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        facts = selectors.user_admin_facts(user=user)
        return Response(s.admin_user_detail_data(user, facts))


class AdminUserDataView(AdminView):
    @extend_schema(
        tags=USERS,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        summary="The account's data summary (GDPR Art. 15, admin)",
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        return Response(
            operators.admin_user_data_view(user=user, actor=request.user, meta=meta(request))
        )

    @extend_schema(
        tags=USERS,
        request=None,
        responses={204: None, **ERRORS},
        summary="Erase the account and everything of it (GDPR Art. 17, admin); 409 for oneself",
    )
    def delete(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        operators.admin_user_data_delete(user=user, actor=request.user, meta=meta(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminUserTierView(AdminView):
    @extend_schema(
        tags=USERS,
        responses={200: s.AdminUserTierOutputSerializer, **ERRORS},
        summary="The account's tier (admin)",
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        return Response({"id": str(user.id), "tier": user.access_tier})

    @extend_schema(
        tags=USERS,
        request=s.AdminUserTierInputSerializer,
        responses={200: s.AdminUserTierOutputSerializer, **ERRORS},
        summary="Set the account's tier; the next access token carries it (admin)",
    )
    def put(self, request: Request, user_id: str) -> Response:
        data = parse(s.AdminUserTierInputSerializer, request.data)
        user = selectors.user_get_any(user_id=user_id)
        user = operators.user_tier_set(
            user=user, tier=data["tier"], actor=request.user, meta=meta(request)
        )
        return Response({"id": str(user.id), "tier": user.access_tier})


class AdminUserUnlockView(AdminView):
    @extend_schema(
        tags=USERS,
        request=None,
        responses={200: s.AdminUserUnlockOutputSerializer, **ERRORS},
        summary="Clear the account's password lock (admin)",
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        cleared = operators.user_unlock(user=user, actor=request.user, meta=meta(request))
        return Response({"unlocked": True, "cleared": cleared})


class AdminUserRevokeSessionsView(AdminView):
    @extend_schema(
        tags=USERS,
        request=None,
        responses={200: s.AdminUserSessionsRevokeOutputSerializer, **ERRORS},
        summary="End every session of the account (admin)",
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = selectors.user_get_any(user_id=user_id)
        revoked = operators.user_sessions_revoke(user=user, actor=request.user, meta=meta(request))
        return Response({"revoked": revoked})
