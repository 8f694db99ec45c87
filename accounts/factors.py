"""Everything besides the password that lets someone into an account, listed and revoked at once.

An attacker who held a session for a while may have left a way back in that survives a new
password: a passkey, an API key, an authenticator app (or fresh backup codes) of his own. The
owner recovering the account needs to see them (the reset page, the "password changed" mail)
and to remove them in one step (``reset-password`` with ``revokeFactors``, or a reset after a
"this wasn't me" report, or the first proof of an address whose sign-up password nobody
proved). Sessions are not factors: every recovery path already ends them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Passkey, User
from mana_auth.clientip import RequestMeta
from mana_auth.mail import mail_text
from security.models import EventType
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.services import security_event_record

# Names are the account holder's own text, and an attacker who held the account chose some of
# them ("Security team: visit https://…"): a mail shows them through the one cleaner every mail
# uses (``mana_auth.mail.mail_text``: one short plain line, nothing a mail client would link).


@dataclass(frozen=True)
class FactorSummary:
    """What the owner sees before deciding: names, dates, prefixes — never a secret."""

    passkeys: list[dict[str, Any]]
    api_keys: list[dict[str, Any]]
    totp_enabled: bool
    backup_codes_remaining: int

    @property
    def empty(self) -> bool:
        return not (self.passkeys or self.api_keys or self.totp_enabled)

    def as_api(self) -> dict[str, Any]:
        return {
            "passkeys": self.passkeys,
            "apiKeys": self.api_keys,
            "totp": {"enabled": self.totp_enabled},
            "backupCodes": {"remaining": self.backup_codes_remaining},
        }

    def as_mail(self) -> dict[str, Any]:
        """Template context: plain one-line names (``factors_passkeys`` …)."""
        return {
            "factors_passkeys": [mail_text(p["name"]) or "Passkey" for p in self.passkeys],
            "factors_api_keys": [f"{mail_text(k['name'])} ({k['prefix']}…)" for k in self.api_keys],
            "factors_totp": self.totp_enabled,
            "factors_backup_codes": self.backup_codes_remaining,
            "factors_empty": self.empty,
        }


def account_factors_summary(*, user: User, now: datetime | None = None) -> FactorSummary:
    """The account's passkeys, usable API keys and second-factor state (four queries)."""
    current = now or timezone.now()
    passkeys = [
        {
            "id": str(row["id"]),
            "name": row["name"],
            "createdAt": row["created_at"],
            "lastUsedAt": row["last_used_at"],
        }
        for row in Passkey.objects.filter(user=user)
        .order_by("created_at")
        .values("id", "name", "created_at", "last_used_at")
    ]
    api_keys = [
        {
            "id": str(key.id),
            "name": key.name,
            "prefix": key.prefix,
            "createdAt": key.created_at,
            "lastUsedAt": key.last_used_at,
            "expiresAt": key.expires_at,
        }
        for key in ApiKey.objects.filter(user=user, revoked_at__isnull=True)
        .order_by("created_at")
        .only("id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
        if key.is_usable(current)
    ]
    totp = SealedTotpDevice.objects.filter(user=user, confirmed=True).exists()
    codes = BackupCode.objects.filter(device__user=user, device__confirmed=True).count()
    return FactorSummary(
        passkeys=passkeys, api_keys=api_keys, totp_enabled=totp, backup_codes_remaining=codes
    )


@dataclass(frozen=True)
class RevokedFactors:
    passkeys: int
    api_keys: int
    totp: bool

    def as_api(self) -> dict[str, Any]:
        return {"passkeys": self.passkeys, "apiKeys": self.api_keys, "totp": self.totp}


@transaction.atomic
def account_factors_revoke(*, user: User, meta: RequestMeta, reason: str) -> RevokedFactors:
    """Remove every passkey, revoke every API key, remove the authenticator and the backup
    codes. One ``FACTORS_REVOKED`` event says what went and why; no mail per item (the caller's
    flow tells the owner once)."""
    now = timezone.now()
    _, deleted = Passkey.objects.filter(user=user).delete()
    passkeys = deleted.get(Passkey._meta.label, 0)
    api_keys = ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    totp = SealedTotpDevice.objects.filter(user=user, confirmed=True).exists()
    SealedTotpDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()  # its codes go with it
    revoked = RevokedFactors(passkeys=passkeys, api_keys=api_keys, totp=totp)
    security_event_record(
        type=EventType.FACTORS_REVOKED,
        user=user,
        meta=meta,
        metadata={
            "reason": reason,
            "passkeyCount": passkeys,
            "apiKeyCount": api_keys,
            "totpRemoved": totp,
        },
    )
    return revoked
