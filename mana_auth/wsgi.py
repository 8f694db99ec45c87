import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
application = get_wsgi_application()

from mana_auth import boot  # noqa: E402 - needs the settings configured above

# Production refuses to serve as a database superuser or BYPASSRLS role (see
# mana_auth/boot.py); raising here stops the server before its first request.
boot.production_serving_check()
