"""Second factors managed by their owner: the authenticator app (TOTP) and backup codes.

The devices are security's (``security.otp``); here are the account's flows around them:
re-authentication where a change weakens or replaces a factor, the security event, and the
owner's notice with a "this wasn't me" link — sent inside the change's transaction, so if the
mail cannot be sent the change does not happen (a silent factor change is worse).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.exceptions import MfaInvalidCode
from accounts.models import Passkey, Session, User
from accounts.notices import factor_change_notify
from accounts.reauth import reauth_require
from mana_auth.clientip import RequestMeta
from security.models import EventType
from security.otp import selectors as otp_selectors
from security.otp import services as otp_services
from security.otp.services import TotpEnrolment
from security.services import security_event_record

# The sentence completing the ``factor_changed`` mail ("… on your Mana account.").
_NOTICES: dict[str, dict[str, str]] = {
    "totp_enabled": {
        "en": "An authenticator app was added for two-step sign-in",
        "de": "Eine Authenticator-App wurde für die Anmeldung in zwei Schritten hinzugefügt",
    },
    "totp_disabled": {
        "en": "Two-step sign-in with an authenticator app was turned off",
        "de": "Die Anmeldung in zwei Schritten per Authenticator-App wurde ausgeschaltet",
    },
    "backup_codes_regenerated": {
        "en": "New backup codes were created and the previous ones no longer work",
        "de": "Neue Backup-Codes wurden erstellt, die bisherigen gelten nicht mehr",
    },
}


def mfa_status(*, user: User) -> dict[str, Any]:
    """Which second factors the account has: authenticator, backup codes left, passkeys."""
    return {
        "totp": {"enabled": otp_selectors.totp_enabled(user=user)},
        "backupCodes": {"remaining": otp_selectors.backup_codes_remaining(user=user)},
        "passkeys": {"count": Passkey.objects.filter(user=user).count()},
    }


def totp_setup(*, user: User, session: Session | None, password: str | None) -> TotpEnrolment:
    """Start enrolling an authenticator (needs re-authentication)."""
    reauth_require(user=user, session=session, password=password)
    return otp_services.totp_setup(user=user)


def totp_confirm(
    *, user: User, code: str, meta: RequestMeta, now: float | None = None
) -> list[str]:
    """Finish enrolment with a first code from the app; return the 10 backup codes (once)."""
    with transaction.atomic():
        codes = otp_services.totp_device_confirm(user=user, code=code, now=now)
        if codes is not None:
            security_event_record(
                type=EventType.MFA_ENABLED, user=user, meta=meta, metadata={"method": "totp"}
            )
            factor_change_notify(user=user, what=_NOTICES["totp_enabled"])
    # Outside the transaction: the failed attempt's throttle count must be kept.
    if codes is None:
        raise MfaInvalidCode()
    return codes


def totp_disable(
    *,
    user: User,
    meta: RequestMeta,
    session: Session | None = None,
    password: str | None = None,
    actor: User | None = None,
) -> None:
    """Remove the authenticator and the backup codes. The owner re-authenticates; an operator
    (``actor``, the admin console) does not."""
    if actor is None:
        reauth_require(user=user, session=session, password=password)
    _totp_disable(user=user, meta=meta, actor=actor)


@transaction.atomic
def _totp_disable(*, user: User, meta: RequestMeta, actor: User | None) -> None:
    if not otp_services.totp_devices_remove(user=user):
        return  # an unfinished set-up: nothing the owner relied on changed
    metadata: dict[str, Any] = {"method": "totp"}
    if actor is not None and actor.pk != user.pk:
        metadata["actorId"] = str(actor.pk)
    security_event_record(type=EventType.MFA_DISABLED, user=user, meta=meta, metadata=metadata)
    factor_change_notify(user=user, what=_NOTICES["totp_disabled"])


def backup_codes_regenerate(
    *, user: User, meta: RequestMeta, session: Session | None, password: str | None
) -> list[str]:
    """Replace the backup codes (needs re-authentication); the old ones stop working."""
    reauth_require(user=user, session=session, password=password)
    return _backup_codes_regenerate(user=user, meta=meta)


@transaction.atomic
def _backup_codes_regenerate(*, user: User, meta: RequestMeta) -> list[str]:
    codes = otp_services.backup_codes_renew(user=user)
    security_event_record(type=EventType.BACKUP_CODES_REGENERATED, user=user, meta=meta)
    factor_change_notify(user=user, what=_NOTICES["backup_codes_regenerated"])
    return codes


@transaction.atomic
def totp_enroll_confirmed(*, user: User, meta: RequestMeta, replace: bool = False) -> TotpEnrolment:
    """Operators: give ``user`` a confirmed authenticator directly (first admin, lost phone)."""
    enrolment = otp_services.totp_device_enroll_confirmed(user=user, replace=replace)
    security_event_record(
        type=EventType.MFA_ENABLED,
        user=user,
        meta=meta,
        metadata={"method": "totp", "via": "enroll_admin_totp"},
    )
    factor_change_notify(user=user, what=_NOTICES["totp_enabled"])
    return enrolment
