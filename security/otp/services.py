"""Writes for second factors: TOTP set-up, confirmation and removal, backup codes, KEK rewrap.

Each change records its security event and mails the owner a notice in the same transaction:
if the mail cannot be sent, the change does not happen (a silent factor change is worse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import security_report_link
from mana_auth.clientip import RequestMeta
from mana_auth.errors import AuthError, Conflict, NotFound, RateLimited
from mana_auth.kek.keyring import active_kek_id
from mana_auth.mail import send_mail
from security.models import EventType
from security.otp import crypto
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.services import security_event_record

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

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


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user copies into an authenticator app. Shown once, never stored in clear."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def factor_change_notify(*, user: User, change: str) -> None:
    locale = user.locale if user.locale in ("en", "de") else "en"
    send_mail(
        to=user.email,
        name="factor_changed",
        locale=locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "what": _NOTICES[change][locale],
            "report_link": security_report_link(user=user),
        },
    )


def device_throttled_error(extra: dict[str, Any] | None) -> RateLimited:
    """django-otp's back-off after wrong codes, as the contract's RATE_LIMITED."""
    locked_until = (extra or {}).get("locked_until")
    wait = (locked_until - timezone.now()).total_seconds() if locked_until else 1
    return RateLimited(int(wait) + 1)


def _enrolment(*, user: User, seed: bytes) -> TotpEnrolment:
    uri = crypto.otpauth_uri(seed=seed, account=user.email, issuer=settings.OTP_TOTP_ISSUER)
    return TotpEnrolment(
        secret=crypto.seed_base32(seed), otpauth_uri=uri, qr_svg=crypto.qr_svg(uri)
    )


def _totp_device_create(*, user: User, confirmed: bool, now: datetime) -> tuple[bytes, Any]:
    seed = crypto.seed_generate()
    device = SealedTotpDevice(
        user=user,
        name=TOTP_DEVICE_NAME,
        confirmed=confirmed,
        confirmed_at=now if confirmed else None,
    )
    device.seed_seal(seed)
    device.save()
    return seed, device


def backup_codes_replace(*, user: User) -> list[str]:
    """Void every backup code of ``user`` and issue a fresh set; return the codes (once)."""
    device, _ = BackupCodeDevice.objects.select_for_update().get_or_create(
        user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True}
    )
    device.codes.all().delete()
    device.throttle_reset(commit=True)
    codes: list[str] = []
    while len(codes) < crypto.BACKUP_CODE_COUNT:
        code = crypto.backup_code_generate()
        if code not in codes:
            codes.append(code)
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=crypto.backup_code_hash(code)) for code in codes
    )
    return codes


def totp_setup(*, user: User, now: datetime | None = None) -> TotpEnrolment:
    """Start TOTP enrolment: a new unconfirmed device (replacing an unfinished one)."""
    current = now or timezone.now()
    with transaction.atomic():
        existing = SealedTotpDevice.objects.select_for_update().filter(user=user).first()
        if existing is not None and existing.confirmed:
            raise Conflict("Two-step sign-in is already on; turn it off first.")
        if existing is not None:
            existing.delete()
        seed, _ = _totp_device_create(user=user, confirmed=False, now=current)
    return _enrolment(user=user, seed=seed)


def totp_confirm(
    *, user: User, code: str, meta: RequestMeta, now: float | None = None
) -> list[str]:
    """Finish enrolment with a first code from the app; return the 10 backup codes (once)."""
    with transaction.atomic():
        device = SealedTotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise NotFound("Start the authenticator set-up first.")
        if device.confirmed:
            raise Conflict("Two-step sign-in is already on.")
        allowed, extra = device.verify_is_allowed()
        if not allowed:
            raise device_throttled_error(extra)
        accepted = device.verify_token(code, now=now)
        if accepted:
            device.confirmed = True
            device.confirmed_at = timezone.now()
            device.save(update_fields=["confirmed", "confirmed_at"])
            codes = backup_codes_replace(user=user)
            security_event_record(
                type=EventType.MFA_ENABLED, user=user, meta=meta, metadata={"method": "totp"}
            )
            factor_change_notify(user=user, change="totp_enabled")
    # Outside the transaction: the failed attempt's throttle count must be kept.
    if not accepted:
        raise AuthError(code="MFA_INVALID_CODE")
    return codes


@transaction.atomic
def totp_disable(*, user: User, meta: RequestMeta, actor: User | None = None) -> None:
    """Remove the authenticator and the backup codes (they only back the authenticator up)."""
    devices = list(SealedTotpDevice.objects.select_for_update().filter(user=user))
    if not devices:
        raise NotFound("Two-step sign-in is not on.")
    was_on = any(device.confirmed for device in devices)
    SealedTotpDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    if not was_on:
        return  # an unfinished set-up: nothing the owner relied on changed
    metadata: dict[str, Any] = {"method": "totp"}
    if actor is not None and actor.pk != user.pk:
        metadata["actorId"] = str(actor.pk)
    security_event_record(type=EventType.MFA_DISABLED, user=user, meta=meta, metadata=metadata)
    factor_change_notify(user=user, change="totp_disabled")


@transaction.atomic
def backup_codes_regenerate(*, user: User, meta: RequestMeta) -> list[str]:
    if not SealedTotpDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
        raise Conflict("Turn on two-step sign-in first.")
    codes = backup_codes_replace(user=user)
    security_event_record(type=EventType.BACKUP_CODES_REGENERATED, user=user, meta=meta)
    factor_change_notify(user=user, change="backup_codes_regenerated")
    return codes


@transaction.atomic
def totp_enroll_confirmed(*, user: User, meta: RequestMeta, replace: bool = False) -> TotpEnrolment:
    """Operators: give ``user`` a confirmed authenticator directly (first admin, lost phone)."""
    existing = SealedTotpDevice.objects.select_for_update().filter(user=user).first()
    if existing is not None and existing.confirmed and not replace:
        raise Conflict("This account already has an authenticator.")
    SealedTotpDevice.objects.filter(user=user).delete()
    seed, _ = _totp_device_create(user=user, confirmed=True, now=timezone.now())
    security_event_record(
        type=EventType.MFA_ENABLED,
        user=user,
        meta=meta,
        metadata={"method": "totp", "via": "enroll_admin_totp"},
    )
    factor_change_notify(user=user, change="totp_enabled")
    return _enrolment(user=user, seed=seed)


def totp_seeds_rewrap(batch_size: int = 500) -> tuple[int, int]:
    """Re-seal every TOTP seed not under the active KEK. Returns ``(rewrapped, total)``.

    Registered as ``totp_secrets`` with ``manage.py rewrap_vaults`` (run after rotating
    ``MANA_AUTH_KEK``, the old key kept in ``MANA_AUTH_KEKS_RETIRED``). Commits batch by batch
    and skips rows a sign-in holds, so it can be interrupted and simply run again.
    """
    active_id = active_kek_id()
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(
                SealedTotpDevice.objects.select_for_update(skip_locked=True)
                .exclude(kek_id=active_id)
                .order_by("pk")[:batch_size]
            )
            for device in batch:
                device.seed_reseal()
                device.save(update_fields=["seed_ciphertext", "seed_iv", "kek_id"])
            rewrapped += len(batch)
        if len(batch) < batch_size:
            break
    return rewrapped, SealedTotpDevice.objects.count()
