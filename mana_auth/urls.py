"""Root URLconf: each app exports its API routes; this collects them under /api/v1/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mana_auth import health
from mana_auth.routing import flattened, hot_first, routes_of

# Every app's API routes in one flat list under one prefix, the hot paths first: Django tries
# routes in order, and access sat behind every accounts, security and vault route
# (mana_auth/routing.py checks that no moved route overtakes one matching the same path).
HOT_ROUTES = (
    "space-access",
    "auth-validate",
    "auth-session",
    "auth-refresh",
    "passkeys-authenticate-verify",
    "auth-login",
)
# By name, as include() takes them: the core imports no app (pyproject's layer contracts).
API_URLCONFS = (
    "accounts.api.urls",
    "security.api.urls",
    "vault.api.urls",
    "spaces.api.urls",
    "personas.api.urls",
)
API_ROUTES = hot_first(flattened(routes_of(API_URLCONFS)), HOT_ROUTES)


urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    *routes_of(["accounts.wellknown_urls"]),
    path("api/v1/", include(API_ROUTES)),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    # The pages every mailed link opens, and the hosted sign-in (README "Pages").
    path("", include("accounts.pages.urls")),
    path("", include("spaces.pages.urls")),
]

# Django's own errors (a foreign Host header, a bad multipart body, …) in the envelope on API
# paths; Django's HTML pages elsewhere.
handler400 = "mana_auth.error_views.bad_request"
handler403 = "mana_auth.error_views.permission_denied"
handler404 = "mana_auth.error_views.page_not_found"
handler500 = "mana_auth.error_views.server_error"
