"""Reads for second-factor devices."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from security.otp.models import BackupCode, SealedTotpDevice


def totp_enabled(*, user: AbstractBaseUser) -> bool:
    return SealedTotpDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_remaining(*, user: AbstractBaseUser) -> int:
    return BackupCode.objects.filter(device__user=user, device__confirmed=True).count()


def mfa_methods(*, user: AbstractBaseUser) -> list[str]:
    """The second factors a sign-in of ``user`` may finish with (empty: none needed)."""
    if not totp_enabled(user=user):
        return []
    methods = ["totp"]
    if backup_codes_remaining(user=user):
        methods.append("backup_code")
    return methods
