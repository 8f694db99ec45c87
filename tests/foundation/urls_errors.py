"""Test-only routes that fail on purpose (mounted with @pytest.mark.urls)."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mana_auth.errors import AuthError


class BoomView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internal detail: password=hunter2 SELECT * FROM users")


class ForbiddenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise AuthError(code="FORBIDDEN")


def plain_boom(request):  # a plain Django view on an API path
    raise ValueError("internal text that must not leak")


urlpatterns = [
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/test/forbidden", ForbiddenView.as_view()),
    path("api/v1/test/plain-boom", plain_boom),
    path("", include("mana_auth.urls")),
]
