"""Test-only routes that fail on purpose (mounted with @pytest.mark.urls)."""

from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse
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


def plain_html_error(request):  # a plain view answering an error in HTML on an API path
    return HttpResponse("<h1>nope</h1>", status=int(request.GET.get("status", "400")))


def plain_suspicious(request):  # Django's own 400s, raised past the view
    raise SuspiciousOperation("internal text that must not leak")


urlpatterns = [
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/test/forbidden", ForbiddenView.as_view()),
    path("api/v1/test/plain-boom", plain_boom),
    path("api/v1/test/plain-html-error", plain_html_error),
    path("api/v1/test/plain-suspicious", plain_suspicious),
    path("", include("mana_auth.urls")),
]

from mana_auth.urls import handler400, handler403, handler404, handler500  # noqa: E402, F401
