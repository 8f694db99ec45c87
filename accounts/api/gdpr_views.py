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

from accounts import gdpr
from accounts.cookies import session_cookie_clear
from mana_auth import gdpr as gdpr_registry
from mana_auth.api import AuthenticatedView, DeleteWithBodySchema, ErrorSerializer, meta, parse

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 429, 503)}


class GdprDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


# The summary's shape, assembled from the parts the apps registered (``mana_auth.gdpr``): each
# part is documented by the same record shape that builds it.
GdprSummaryOutputSerializer = gdpr_registry.summary_serializer_class()


class GdprDataView(AuthenticatedView):
    schema = DeleteWithBodySchema()

    @extend_schema(
        responses={200: GdprSummaryOutputSerializer, **ERRORS},
        summary="Everything stored about me, at a glance (GDPR Art. 15)",
        description=(
            "'credits' (optional) is read from mana-credits with a short timeout; when it is "
            "not configured or cannot answer, the section says available:false with the "
            "reason and the rest of the summary answers as usual."
        ),
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
        gdpr.user_data_delete_request(
            user=request.user, password=data["password"], meta=meta(request)
        )
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
                    "per section and 'notExported' those left out, with the reason. "
                    "'credits' is read from mana-credits like the summary's (available:false "
                    "with the reason when it cannot answer)."
                ),
            ),
            **ERRORS,
        },
        summary="Download everything stored about me as JSON (GDPR Art. 20)",
    )
    def get(self, request: Request) -> HttpResponse:
        document = gdpr.user_data_export(user=request.user, meta=meta(request))
        body = json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
        filename = f"mana-data-{timezone.now():%Y-%m-%d}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
