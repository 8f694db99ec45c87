"""The second HTTP ceiling: a constant view on Django's bare minimum.

Settings, URLconf and WSGI application in one module: no installed app, no database, no
middleware at all. ``bench.bench`` serves it with a second gunicorn (the same
``gunicorn.conf.py``, worker class, threads and worker count as the service) on another port,
and measures ``GET /health`` on it next to the service's own ``/health``, which runs behind
the whole project middleware stack. The gap between the two is what the stack costs
(``bench.middleware_cost`` prices each middleware).

    DJANGO_SETTINGS_MODULE=bench.bare gunicorn -c gunicorn.conf.py bench.bare:application
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-bare-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
USE_I18N = False


def health(request: HttpRequest) -> JsonResponse:
    """The same constant answer as ``mana_auth.health.health``."""
    return JsonResponse({"status": "ok"})


urlpatterns = [path("health", health)]


# Only when serving (gunicorn sets DJANGO_SETTINGS_MODULE to this module): importing it from
# elsewhere, e.g. the tests, configures nothing.
SERVING = os.environ.get("DJANGO_SETTINGS_MODULE") == __name__
application = get_wsgi_application() if SERVING else None
