"""Root URLconf: each app exports its API routes; this collects them under /api/v1/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mana_auth import health

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("", include("accounts.wellknown_urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("security.api.urls")),
    path("api/v1/", include("vault.api.urls")),
    path("api/v1/", include("spaces.api.urls")),
    path("api/v1/", include("personas.api.urls")),
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
