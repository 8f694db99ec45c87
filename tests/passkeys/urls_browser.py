"""The real URLconf plus one test-only page for the browser test, on the same origin."""

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mana_auth.urls import urlpatterns as root_urlpatterns

PAGE = (Path(__file__).parent / "e2e_page.html").read_text()


def passkey_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE, content_type="text/html; charset=utf-8")


urlpatterns = [path("__e2e__/passkeys", passkey_page), *root_urlpatterns]
