import logging

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from vault.grants import GrantKeyError, load_public_key

logger = logging.getLogger("mana_auth.vault")


class VaultConfig(AppConfig):
    name = "vault"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: models can be imported only once every app is loaded.
        from vault import wiring

        wiring.wire()
        _check_grant_key()


def _check_grant_key() -> None:
    """A mission-grant key that is set but unusable stops a production boot; elsewhere grants
    answer 503 GRANT_NOT_CONFIGURED, and the boot log says why once, at WARNING (each refused
    request logs one INFO line: a configuration state is no error)."""
    pem = settings.MANA_AI_PUBLIC_KEY_PEM
    if not pem:
        if settings.IS_PRODUCTION:
            logger.warning("MANA_AI_PUBLIC_KEY_PEM is not set: mission grants answer 503")
        return
    try:
        load_public_key(pem)
    except GrantKeyError as exc:
        if settings.IS_PRODUCTION:
            raise ImproperlyConfigured(f"MANA_AI_PUBLIC_KEY_PEM: {exc}") from exc
        logger.warning("MANA_AI_PUBLIC_KEY_PEM is unusable, grants are off: %s", exc)
