"""The service's own settings, with the URLconf of ``bench.bound`` (the service's URLs plus
the irreducible-work views). Only the bench's third gunicorn uses it:

    DJANGO_SETTINGS_MODULE=bench.bound_settings gunicorn -c gunicorn.conf.py mana_auth.wsgi
"""

from __future__ import annotations

from mana_auth.settings import *  # noqa: F403 - the service's settings, unchanged

ROOT_URLCONF = "bench.bound"
