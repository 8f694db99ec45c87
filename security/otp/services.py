"""Writes for second-factor devices: TOTP set-up, confirmation and removal, backup codes, and the
re-sealing of TOTP seeds after a KEK rotation.

Device operations only: the flows around them (re-authentication, the security event, the
owner's notice) are the account's (``accounts.mfa``), and the sign-in's second step is
``accounts.signin.second_factor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from mana_auth.errors import Conflict, NotFound
from mana_auth.kek.keyring import active_kek_id
from security.exceptions import DeviceThrottled
from security.otp import crypto
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user copies into an authenticator app. Shown once, never stored in clear."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def _enrolment(*, user: AbstractBaseUser, seed: bytes) -> TotpEnrolment:
    uri = crypto.otpauth_uri(
        seed=seed, account=user.get_username(), issuer=settings.OTP_TOTP_ISSUER
    )
    return TotpEnrolment(
        secret=crypto.seed_base32(seed), otpauth_uri=uri, qr_svg=crypto.qr_svg(uri)
    )


def _totp_device_create(
    *, user: AbstractBaseUser, confirmed: bool, now: datetime
) -> tuple[bytes, Any]:
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


def backup_codes_replace(*, user: AbstractBaseUser) -> list[str]:
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


def totp_setup(*, user: AbstractBaseUser, now: datetime | None = None) -> TotpEnrolment:
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


def totp_device_confirm(
    *, user: AbstractBaseUser, code: str, now: float | None = None
) -> list[str] | None:
    """Confirm the device being set up with a first code from the app and issue the backup
    codes; return them (once), or None for a wrong code. Call inside a transaction; raise the
    refusal after it, so the failed attempt's throttle count is kept."""
    device = SealedTotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise NotFound("Start the authenticator set-up first.")
    if device.confirmed:
        raise Conflict("Two-step sign-in is already on.")
    allowed, extra = device.verify_is_allowed()
    if not allowed:
        raise DeviceThrottled(extra)
    if not device.verify_token(code, now=now):
        return None
    device.confirmed = True
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed", "confirmed_at"])
    return backup_codes_replace(user=user)


def totp_devices_remove(*, user: AbstractBaseUser) -> bool:
    """Remove the authenticator and the backup codes (they only back the authenticator up);
    whether a confirmed authenticator went (False: an unfinished set-up). Call inside a
    transaction."""
    devices = list(SealedTotpDevice.objects.select_for_update().filter(user=user))
    if not devices:
        raise NotFound("Two-step sign-in is not on.")
    was_on = any(device.confirmed for device in devices)
    SealedTotpDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    return was_on


def backup_codes_renew(*, user: AbstractBaseUser) -> list[str]:
    """A fresh set of backup codes for an account whose authenticator is on. Call inside a
    transaction."""
    if not SealedTotpDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
        raise Conflict("Turn on two-step sign-in first.")
    return backup_codes_replace(user=user)


def totp_device_enroll_confirmed(*, user: AbstractBaseUser, replace: bool = False) -> TotpEnrolment:
    """A confirmed authenticator for ``user`` directly (operators: the first admin, a lost
    phone). Call inside a transaction."""
    existing = SealedTotpDevice.objects.select_for_update().filter(user=user).first()
    if existing is not None and existing.confirmed and not replace:
        raise Conflict("This account already has an authenticator.")
    SealedTotpDevice.objects.filter(user=user).delete()
    seed, _ = _totp_device_create(user=user, confirmed=True, now=timezone.now())
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
