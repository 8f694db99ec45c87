"""Security events (the audit trail), login attempts and the lockout throttle."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    REGISTER = "REGISTER"
    REGISTER_EXISTING = "REGISTER_EXISTING"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    LOGIN_SUCCESS = "LOGIN_SUCCESS"
    LOGIN_FAILURE = "LOGIN_FAILURE"
    LOGOUT = "LOGOUT"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    ACCOUNT_UNLOCKED = "ACCOUNT_UNLOCKED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET = "PASSWORD_RESET"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    FACTORS_REVOKED = "FACTORS_REVOKED"
    ACCOUNT_COMPROMISE_REPORTED = "ACCOUNT_COMPROMISE_REPORTED"
    ADDRESS_CLAIMED = "ADDRESS_CLAIMED"
    EMAIL_CHANGE_REQUESTED = "EMAIL_CHANGE_REQUESTED"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    ONBOARDING_COMPLETED = "ONBOARDING_COMPLETED"
    MAGIC_LINK_REQUESTED = "MAGIC_LINK_REQUESTED"
    MFA_ENABLED = "MFA_ENABLED"
    MFA_DISABLED = "MFA_DISABLED"
    MFA_CHALLENGE_FAILED = "MFA_CHALLENGE_FAILED"
    BACKUP_CODES_REGENERATED = "BACKUP_CODES_REGENERATED"
    PASSKEY_ADDED = "PASSKEY_ADDED"
    PASSKEY_REMOVED = "PASSKEY_REMOVED"
    PASSKEY_RENAMED = "PASSKEY_RENAMED"
    PASSKEY_CLONE_SUSPECTED = "PASSKEY_CLONE_SUSPECTED"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    TOKEN_REFRESHED = "TOKEN_REFRESHED"
    SESSION_REVOKED = "SESSION_REVOKED"
    ACCOUNT_DELETED = "ACCOUNT_DELETED"
    TIER_CHANGED = "TIER_CHANGED"
    ADMIN_ACTION = "ADMIN_ACTION"
    ROLE_CHANGED = "ROLE_CHANGED"  # operator access granted or taken away (its target's trail)
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    SPACE_CREDENTIAL_READ = "SPACE_CREDENTIAL_READ"
    DATA_EXPORTED = "DATA_EXPORTED"
    VAULT_CREATED = "VAULT_CREATED"
    VAULT_ROTATED = "VAULT_ROTATED"
    VAULT_RECOVERY_WRAP_SET = "VAULT_RECOVERY_WRAP_SET"
    VAULT_RECOVERY_WRAP_CLEARED = "VAULT_RECOVERY_WRAP_CLEARED"
    VAULT_ZERO_KNOWLEDGE_ENABLED = "VAULT_ZERO_KNOWLEDGE_ENABLED"
    VAULT_ZERO_KNOWLEDGE_DISABLED = "VAULT_ZERO_KNOWLEDGE_DISABLED"
    MISSION_GRANT_ISSUED = "MISSION_GRANT_ISSUED"
    # Spaces
    SPACE_CREATED = "SPACE_CREATED"
    SPACE_UPDATED = "SPACE_UPDATED"
    SPACE_DELETED = "SPACE_DELETED"
    SPACE_MEMBER_ROLE_CHANGED = "SPACE_MEMBER_ROLE_CHANGED"
    SPACE_MEMBER_REMOVED = "SPACE_MEMBER_REMOVED"
    SPACE_LEFT = "SPACE_LEFT"
    SPACE_INVITATION_SENT = "SPACE_INVITATION_SENT"
    SPACE_INVITATION_REVOKED = "SPACE_INVITATION_REVOKED"
    SPACE_INVITATION_ACCEPTED = "SPACE_INVITATION_ACCEPTED"
    SPACE_INVITATION_DECLINED = "SPACE_INVITATION_DECLINED"
    SPACE_MODULE_PERMISSIONS_CHANGED = "SPACE_MODULE_PERMISSIONS_CHANGED"
    SPACE_CREDENTIAL_CREATED = "SPACE_CREDENTIAL_CREATED"
    SPACE_CREDENTIAL_DELETED = "SPACE_CREDENTIAL_DELETED"
    # Personas and the operators' console
    PERSONA_UPSERTED = "PERSONA_UPSERTED"
    PERSONA_DELETED = "PERSONA_DELETED"
    PERSONA_SPACE_SYNCED = "PERSONA_SPACE_SYNCED"


class SecurityEvent(models.Model):
    """An append-only audit row. The database refuses UPDATE and DELETE (see migration 0001)
    except the anonymisation account deletion performs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Deliberately no ``choices``: the closed set is enforced by ``security_event_record``
    # (``EventType(value)``), so adding a type needs no migration.
    type = models.CharField(max_length=40)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="security_events",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "security_event"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="security_event_user_idx"),
            models.Index(fields=["type", "-created_at"], name="security_event_type_idx"),
            # The console's newest-first list and its dashboard's latest events.
            models.Index(fields=["-created_at"], name="security_event_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AttemptMethod(models.TextChoices):
    """The factor a sign-in attempt presented (the predecessor's ``login_attempts.method``)."""

    PASSWORD = "password"
    TOTP = "totp"
    BACKUP_CODE = "backup_code"
    MAGIC_LINK = "magic_link"
    PASSKEY = "passkey"
    ADMIN_CONSOLE = "admin_console"


class LoginAttempt(models.Model):
    """One sign-in attempt with one factor, successful or not (for operators and forensics).

    A sign-in with two factors is two rows: the first factor's (password or magic link) when it
    checks out and the second is demanded, then the code's. Written only through
    ``security.attempts.record``.
    """

    id = models.BigAutoField(primary_key=True)
    email_key = models.CharField(max_length=254, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="login_attempts",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    method = models.CharField(max_length=16, choices=AttemptMethod.choices)
    success = models.BooleanField()
    reason = models.CharField(max_length=40, blank=True, default="")
    known_device = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "security_login_attempt"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(method__in=AttemptMethod.values),
                name="security_login_attempt_method_valid",
            ),
        ]

    def __str__(self) -> str:
        outcome = "ok" if self.success else "fail"
        return f"{outcome} {self.method} {self.email_key} {self.created_at:%H:%M:%S}"


class LoginThrottle(models.Model):
    """The failure counter and lock for one account (and, separately, one known device).

    A failure is counted and the lock decided in one INSERT … ON CONFLICT DO UPDATE …
    RETURNING (``security.lockout``), so concurrent failures count exactly and a lock engages
    once, across any number of workers.
    """

    scope = models.CharField(max_length=400, primary_key=True)
    email_key = models.CharField(max_length=254, db_index=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "security_login_throttle"

    def __str__(self) -> str:
        return self.scope


class SharedCounter(models.Model):
    """A rate-limit counter every worker sees, when there is no Redis (``security.shared_state``
    writes it with one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``). The key is a SHA-256."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.BigIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "security_shared_counter"

    def __str__(self) -> str:
        return f"{self.key[:12]}… = {self.value}"


class SharedEntry(models.Model):
    """A short-lived value every worker sees, when there is no Redis: passkey ceremony state
    (taken once with ``DELETE … RETURNING``) and cooldowns. The key is a SHA-256."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.JSONField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "security_shared_entry"

    def __str__(self) -> str:
        return f"{self.key[:12]}…"


# Second-factor devices (django-otp) live in their own module; importing them here registers
# them with the ``security`` app.
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice  # noqa: E402, F401
