"""django-otp devices whose secrets the database alone cannot reveal.

django-otp's own ``TOTPDevice`` and ``StaticDevice`` keep the seed and the backup codes in
clear. These devices implement the same ``Device`` interface (so ``devices_for_user``,
``OTPMiddleware`` and ``OTPAdminSite`` find and use them) but store the TOTP seed sealed
under the KEK and backup codes only as SHA-256 hashes.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin, VerifyNotAllowed

from mana_auth.kek import keyring
from mana_auth.kek.crypto import associated_data
from security.otp import crypto

# django-otp doubles the wait after each failure without bound: past a few failures that lets
# whoever holds the first factor freeze the owner's device for days. Cap it; the account
# lockout and the per-challenge attempt cap bound guessing anyway.
THROTTLE_MAX_DELAY_SECONDS = 60
SEED_AAD_PURPOSE = "totp-seed"


class _CappedThrottlingMixin(ThrottlingMixin):
    class Meta:
        abstract = True

    def verify_is_allowed(self) -> tuple[bool, dict | None]:
        if self.throttling_enabled and self.throttling_failure_count > 0:
            failed_at = self.throttling_failure_timestamp
            if failed_at is not None:
                required = min(
                    self.get_throttle_factor() * (2 ** (self.throttling_failure_count - 1)),
                    THROTTLE_MAX_DELAY_SECONDS,
                )
                elapsed = (timezone.now() - failed_at).total_seconds()
                if elapsed < required:
                    return False, {
                        "reason": VerifyNotAllowed.N_FAILED_ATTEMPTS,
                        "failure_count": self.throttling_failure_count,
                        "locked_until": failed_at + timedelta(seconds=required),
                    }
        return True, None


class SealedTotpDevice(TimestampMixin, _CappedThrottlingMixin, Device):
    """A TOTP authenticator (RFC 6238, SHA-1, 6 digits, 30 s) with its seed sealed by the KEK.

    The associated data binds the ciphertext to its owner: copied onto another user's row it
    does not open. At most one per user (confirmed or being set up).
    """

    seed_ciphertext = models.BinaryField()
    seed_iv = models.BinaryField()
    kek_id = models.CharField(max_length=32)
    t0 = models.BigIntegerField(default=0)
    step = models.PositiveSmallIntegerField(default=crypto.STEP_SECONDS)
    digits = models.PositiveSmallIntegerField(default=crypto.DIGITS)
    last_t = models.BigIntegerField(
        default=-1, help_text="Time step of the last accepted code; only later steps verify."
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "security_totp_device"
        verbose_name = "TOTP device"
        constraints = [
            models.UniqueConstraint(fields=["user"], name="security_totp_device_one_per_user"),
            models.CheckConstraint(
                condition=models.Q(digits__in=(6, 8)), name="security_totp_device_digits"
            ),
            models.CheckConstraint(
                condition=models.Q(step__gt=0), name="security_totp_device_step_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"TOTP device of {self.user_id}"

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))

    def seed_seal(self, seed: bytes) -> None:
        if len(seed) < crypto.SEED_BYTES:
            raise ValueError("a TOTP seed must have at least 160 bits")
        wrapped = keyring.seal(seed, aad=associated_data(SEED_AAD_PURPOSE, self.user_id))
        self.seed_ciphertext = wrapped.ciphertext
        self.seed_iv = wrapped.iv
        self.kek_id = wrapped.kek_id

    def seed_open(self) -> bytes:
        return keyring.open_sealed(
            ciphertext=bytes(self.seed_ciphertext),
            iv=bytes(self.seed_iv),
            kek_id=self.kek_id,
            aad=associated_data(SEED_AAD_PURPOSE, self.user_id),
        )

    def seed_reseal(self) -> None:
        """Move the seed to the active KEK without it leaving the vault module in clear."""
        wrapped = keyring.reseal(
            ciphertext=bytes(self.seed_ciphertext),
            iv=bytes(self.seed_iv),
            kek_id=self.kek_id,
            aad=associated_data(SEED_AAD_PURPOSE, self.user_id),
        )
        self.seed_ciphertext = wrapped.ciphertext
        self.seed_iv = wrapped.iv
        self.kek_id = wrapped.kek_id

    def verify_token(self, token: object, *, now: float | None = None) -> bool:
        """Check a code and, when it matches, burn its time step. Load the device with
        ``select_for_update`` first: two concurrent uses of one code must not both pass."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        matched = crypto.totp_match(
            seed=self.seed_open(),
            code=token if isinstance(token, str) else str(token),
            now=time.time() if now is None else now,
            last_t=self.last_t,
            t0=self.t0,
            step=self.step,
            digits=self.digits,
        )
        if matched is None:
            self.throttle_increment(commit=True)
            return False
        self.last_t = matched
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class BackupCodeDevice(TimestampMixin, _CappedThrottlingMixin, Device):
    """The holder of a user's backup codes (``StaticDevice`` semantics, hashed codes)."""

    class Meta:
        db_table = "security_backup_code_device"
        verbose_name = "backup code set"
        constraints = [
            models.UniqueConstraint(
                fields=["user"], name="security_backup_code_device_one_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"Backup codes of {self.user_id}"

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1))

    def verify_token(self, token: object) -> bool:
        """Accept an unused code once: its row is deleted by a conditional DELETE."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        candidate = crypto.backup_code_hash(token if isinstance(token, str) else "")
        match: BackupCode | None = None
        for code in self.codes.all():  # at most ten; compare every one in constant time
            if crypto.hashes_equal(code.code_hash, candidate):
                match = code
        used = match is not None and BackupCode.objects.filter(pk=match.pk).delete()[0] == 1
        if not used:
            self.throttle_increment(commit=True)
            return False
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class BackupCode(models.Model):
    """One unused backup code, as the SHA-256 of its normalised form (never the code)."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "security_backup_code"
        constraints = [
            models.UniqueConstraint(
                fields=["device", "code_hash"], name="security_backup_code_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"backup code {self.pk} of device {self.device_id}"
