"""Reads for second factors."""

from __future__ import annotations

from typing import Any

from accounts.models import Passkey, User
from security.otp.models import BackupCode, SealedTotpDevice


def totp_enabled(*, user: User) -> bool:
    return SealedTotpDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_remaining(*, user: User) -> int:
    return BackupCode.objects.filter(device__user=user, device__confirmed=True).count()


def mfa_methods(*, user: User) -> list[str]:
    """The second factors a sign-in of ``user`` may finish with (empty: none needed)."""
    if not totp_enabled(user=user):
        return []
    methods = ["totp"]
    if backup_codes_remaining(user=user):
        methods.append("backup_code")
    return methods


def mfa_status(*, user: User) -> dict[str, Any]:
    return {
        "totp": {"enabled": totp_enabled(user=user)},
        "backupCodes": {"remaining": backup_codes_remaining(user=user)},
        "passkeys": {"count": Passkey.objects.filter(user=user).count()},
    }
