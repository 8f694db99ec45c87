"""The Admin API (``/api/v1/admin/``): operators' user management and the personas.

Every view needs a bearer token whose user has ``role == "admin"`` in the database right now
(``IsAdminRole``); the runner's action and feedback reports also accept the service key.
Thin views: parse, call one service or selector, render.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserOutputSerializer, user_data
from mana_auth.api import PAGE_PARAMETERS, ErrorSerializer, meta, page_serializer, paginate, parse
from mana_auth.permissions import IsAdminRole, IsAdminRoleOrServiceKey
from personas import operators, selectors, services
from personas.api import serializers as s

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}
USERS = ["admin: users"]
PERSONAS = ["admin: personas"]

AdminUserPageSerializer = page_serializer("AdminUserPage", UserOutputSerializer)
PersonaPageSerializer = page_serializer("PersonaPage", s.PersonaListItemOutputSerializer)


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
        from accounts import gdpr

        user = selectors.user_get_any(user_id=user_id)
        return Response(
            gdpr.admin_user_data_view(user=user, actor=request.user, meta=meta(request))
        )

    @extend_schema(
        tags=USERS,
        request=None,
        responses={204: None, **ERRORS},
        summary="Erase the account and everything of it (GDPR Art. 17, admin); 409 for oneself",
    )
    def delete(self, request: Request, user_id: str) -> Response:
        from accounts import gdpr

        user = selectors.user_get_any(user_id=user_id)
        gdpr.admin_user_data_delete(user=user, actor=request.user, meta=meta(request))
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


# --- Personas ---------------------------------------------------------------------------------


class AdminPersonasView(AdminView):
    @extend_schema(
        tags=PERSONAS,
        parameters=PAGE_PARAMETERS,
        responses={200: PersonaPageSerializer, **ERRORS},
        operation_id="admin_personas_list",
        summary="Personas with their action count over the last 7 days (admin)",
    )
    def get(self, request: Request) -> Response:
        personas = selectors.personas_with_activity()
        return Response(
            paginate(request, personas, lambda p: s.PersonaListItemOutputSerializer(p).data)
        )

    @extend_schema(
        tags=PERSONAS,
        request=s.PersonaUpsertInputSerializer,
        responses={
            200: s.PersonaUpsertOutputSerializer,
            201: s.PersonaUpsertOutputSerializer,
            **ERRORS,
        },
        summary="Create or update a persona by email (idempotent, admin)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PersonaUpsertInputSerializer, request.data)
        result = services.persona_upsert(
            spec=s.persona_spec(data), meta=meta(request), actor=request.user
        )
        return Response(
            s.persona_data(result.persona, created=result.created),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class AdminPersonaView(AdminView):
    @extend_schema(
        tags=PERSONAS,
        responses={200: s.PersonaDetailOutputSerializer, **ERRORS},
        summary="A persona with its last 20 actions and per-module feedback averages (admin)",
    )
    def get(self, request: Request, persona_id: str) -> Response:
        persona = selectors.persona_get(persona_id=persona_id)
        actions = selectors.persona_recent_actions(persona=persona)
        return Response(
            {
                **s.PersonaListItemOutputSerializer(persona).data,
                "recentActions": s.PersonaActionOutputSerializer(actions, many=True).data,
                "feedback": s.PersonaFeedbackAverageOutputSerializer(
                    selectors.persona_feedback_averages(persona=persona), many=True
                ).data,
            }
        )

    @extend_schema(
        tags=PERSONAS,
        request=None,
        responses={204: None, **ERRORS},
        summary="Hard-delete a persona account; 409 NOT_A_PERSONA for anyone else (admin)",
    )
    def delete(self, request: Request, persona_id: str) -> Response:
        services.persona_delete(user_id=persona_id, meta=meta(request), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminPersonaActionsView(APIView):
    permission_classes = [IsAdminRoleOrServiceKey]

    @extend_schema(
        tags=PERSONAS,
        request=s.PersonaActionInputSerializer,
        responses={
            201: s.PersonaActionOutputSerializer,
            200: OpenApiResponse(
                s.PersonaActionOutputSerializer, description="already recorded (same tick+input)"
            ),
            **ERRORS,
        },
        summary="Record a runner's tool call (admin or service key)",
    )
    def post(self, request: Request, persona_id: str) -> Response:
        data = parse(s.PersonaActionInputSerializer, request.data)
        action, created = services.persona_action_record(
            persona_id=persona_id,
            tick_id=data["tickId"],
            tool_name=data["toolName"],
            input_hash=data["inputHash"],
            result=data["result"],
            detail=data["detail"],
            latency_ms=data["latencyMs"],
        )
        return Response(
            s.PersonaActionOutputSerializer(action).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AdminPersonaFeedbackView(APIView):
    permission_classes = [IsAdminRoleOrServiceKey]

    @extend_schema(
        tags=PERSONAS,
        request=s.PersonaFeedbackInputSerializer,
        responses={
            201: s.PersonaFeedbackOutputSerializer,
            200: OpenApiResponse(
                s.PersonaFeedbackOutputSerializer, description="already rated (same tick+module)"
            ),
            **ERRORS,
        },
        summary="Record a runner's module rating (admin or service key)",
    )
    def post(self, request: Request, persona_id: str) -> Response:
        data = parse(s.PersonaFeedbackInputSerializer, request.data)
        feedback, created = services.persona_feedback_record(
            persona_id=persona_id,
            tick_id=data["tickId"],
            module=data["module"],
            rating=data["rating"],
            notes=data["notes"],
        )
        return Response(
            s.PersonaFeedbackOutputSerializer(feedback).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
