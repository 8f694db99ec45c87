"""The personas' Admin API (``/api/v1/admin/personas``); accounts' is ``/admin/users``.

Every view needs a bearer token whose user has ``role == "admin"`` in the database right now
(``IsAdminRole``); the runner's action and feedback reports also accept the service key.
Thin views: parse, call one service or selector, render.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.admin_views import AdminView
from mana_auth.api import PAGE_PARAMETERS, ErrorSerializer, meta, page_serializer, paginate, parse
from mana_auth.permissions import IsAdminRoleOrServiceKey
from personas import selectors, services
from personas.api import serializers as s

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}
PERSONAS = ["admin: personas"]

PersonaPageSerializer = page_serializer("PersonaPage", s.PersonaListItemOutputSerializer)


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
