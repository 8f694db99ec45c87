"""Accounts: users, sessions, one-time tokens, JWT signing keys, passkeys."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.emails import email_key, normalize_email

models.CharField.register_lookup(Lower)
models.EmailField.register_lookup(Lower)


# Full case folding turns one character into at most three (``ß`` → ``ss``, ``ΐ`` → three).
EMAIL_KEY_MAX_LENGTH = 3 * 254


class Role(models.TextChoices):
    USER = "user", "User"
    ADMIN = "admin", "Admin"


class Tier(models.TextChoices):
    GUEST = "guest", "Guest"
    PUBLIC = "public", "Public"
    BETA = "beta", "Beta"
    ALPHA = "alpha", "Alpha"
    FOUNDER = "founder", "Founder"


class Kind(models.TextChoices):
    HUMAN = "human", "Human"
    PERSONA = "persona", "Persona"
    SYSTEM = "system", "System"


class Locale(models.TextChoices):
    EN = "en", "English"
    DE = "de", "Deutsch"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_email(self, email: str) -> User:
        return self.get(email_key=email_key(email))

    def filter_email(self, email: str) -> models.QuerySet[User]:
        """The account of ``email`` however it is spelled (see ``accounts.emails``)."""
        return self.filter(email_key=email_key(email))

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get_by_email(username or "")

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.ADMIN)
        extra.setdefault("email_verified_at", timezone.now())
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254)
    # accounts.emails.email_key(email), kept by save(): the one thing compared, and unique.
    email_key = models.CharField(max_length=EMAIL_KEY_MAX_LENGTH, editable=False)
    name = models.CharField(max_length=200, blank=True, default="")
    image = models.URLField(max_length=2000, blank=True, default="")
    locale = models.CharField(max_length=8, choices=Locale.choices, default=Locale.EN)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Set once, by the user (``accounts.profile.onboarding_complete``); the predecessor's column.
    onboarding_completed_at = models.DateTimeField(null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    access_tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PUBLIC)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUMAN)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "accounts_user"
        constraints = [
            models.UniqueConstraint(fields=["email_key"], name="accounts_user_email_key_unique"),
            models.CheckConstraint(
                condition=~models.Q(email_key=""), name="accounts_user_email_key_set"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_user_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(access_tier__in=Tier.values), name="accounts_user_tier_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=Kind.values), name="accounts_user_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="accounts_user_created_idx")]

    def __str__(self) -> str:
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The key follows the address on every write path (services, admin, create_user);
        # a save that names its fields writes the key whenever it writes the address.
        self.email_key = email_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)


def session_idle_ttl() -> timedelta:
    return timedelta(days=settings.SESSION_IDLE_TTL_DAYS)


class SessionQuerySet(models.QuerySet["Session"]):
    def live(self, now: datetime) -> SessionQuerySet:
        """Not revoked, before the absolute expiry and used within the idle limit: exactly
        the sessions ``Session.is_live`` accepts."""
        return self.filter(
            revoked_at__isnull=True, expires_at__gt=now, last_used_at__gt=now - session_idle_ttl()
        )


class Session(models.Model):
    """A server-side sign-in. Its id is the JWT ``sid``; refresh tokens belong to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: accounts_session_user_idx (user, revoked_at) serves it (0011).
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="sessions", db_index=False
    )
    cookie_hash = models.CharField(max_length=64, unique=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    auth_method = models.CharField(max_length=32, default="password")
    auth_time = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=64, blank=True, default="")

    objects = SessionQuerySet.as_manager()

    class Meta:
        db_table = "accounts_session"
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_session_user_idx")]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"

    def live_until(self) -> datetime:
        """The earlier of the absolute expiry and the idle limit (last use + the idle TTL).
        Every way of presenting a session (bearer token, refresh token, SSO cookie) is held
        to it."""
        return min(self.expires_at, self.last_used_at + session_idle_ttl())

    def is_live(self, now: datetime | None = None) -> bool:
        current = now or timezone.now()
        return self.revoked_at is None and self.live_until() > current


class RefreshToken(models.Model):
    """One issued refresh token (hash only). Used once; a second use is a replay."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_refresh_token"

    def __str__(self) -> str:
        return f"refresh token of {self.session_id}"


class TokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email", "Verify email"
    RESET_PASSWORD = "reset_password", "Reset password"
    MAGIC_LINK = "magic_link", "Magic link"
    CHANGE_EMAIL = "change_email", "Change email"
    MFA = "mfa", "Second-factor challenge"
    REPORT_COMPROMISE = "report_compromise", '"This wasn\'t me" report'


class OneTimeToken(models.Model):
    """A single-use, expiring, purpose-bound token; only its SHA-256 is stored."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    purpose = models.CharField(max_length=32, choices=TokenPurpose.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_tokens")
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_one_time_token"
        indexes = [models.Index(fields=["user", "purpose"], name="accounts_ott_user_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} token of {self.user_id}"


class SigningKeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class SigningKey(models.Model):
    """An Ed25519 JWT signing key. The private half is wrapped with the KEK."""

    kid = models.CharField(max_length=64, primary_key=True)
    public_key = models.BinaryField()
    private_wrapped = models.BinaryField()
    private_iv = models.BinaryField()
    kek_id = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=SigningKeyStatus.choices, default=SigningKeyStatus.ACTIVE
    )
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_signing_key"
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="active"),
                name="accounts_signing_key_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class Passkey(models.Model):
    """A WebAuthn credential registered to a user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.BinaryField(max_length=1023)
    credential_id_b64 = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    aaguid = models.CharField(max_length=64, blank=True, default="")
    transports = models.JSONField(default=list, blank=True)
    device_type = models.CharField(max_length=32, blank=True, default="")
    backed_up = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "accounts_passkey"
        indexes = [models.Index(fields=["user"], name="accounts_passkey_user_idx")]

    def __str__(self) -> str:
        return self.name or f"passkey {self.id}"


class ApiKeyHashFormat(models.TextChoices):
    # This service's keys: ``sk_live_<public id>_<secret>``, SHA-256 hex of the whole key.
    SHA256_HEX = "sha256_hex", "SHA-256 (hex)"
    # Keys imported from the predecessor (Better Auth's api-key plugin, ``mana_…``): unpadded
    # base64url of SHA-256 of the whole key. They have no public id; the hash finds the row.
    BETTER_AUTH = "better_auth", "Better Auth (base64url SHA-256)"


class ApiKey(models.Model):
    """A personal API key: ``sk_live_<public id>_<secret>``, or an imported predecessor key.
    Only a hash of the key is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # Visible part: ``sk_live_<public id>`` (finds the row), or an imported key's first characters.
    prefix = models.CharField(max_length=40)
    key_hash = models.CharField(max_length=64)
    hash_format = models.CharField(
        max_length=16, choices=ApiKeyHashFormat.choices, default=ApiKeyHashFormat.SHA256_HEX
    )
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "accounts_api_key"
        constraints = [
            # The lookup of each format: by the public prefix, or by the hash itself.
            models.UniqueConstraint(
                fields=["prefix"],
                condition=models.Q(hash_format="sha256_hex"),
                name="accounts_api_key_prefix_unique",
            ),
            models.UniqueConstraint(
                fields=["key_hash"],
                condition=models.Q(hash_format="better_auth"),
                name="accounts_api_key_better_auth_hash_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(hash_format__in=ApiKeyHashFormat.values),
                name="accounts_api_key_hash_format_valid",
            ),
        ]
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_apikey_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: object = None) -> bool:
        current = now or timezone.now()
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > current  # type: ignore[operator]
        )


class OutboxTarget(models.TextChoices):
    CREDITS = "credits", "mana-credits"
    SYNC_STORE = "sync_store", "Sync store"


class OutboxEvent(models.TextChoices):
    USER_CREATED = "user.created", "User created"
    USER_DELETED = "user.deleted", "User deleted"
    # Shared Spaces, for mana-credits' pools (enqueued by Spaces, a higher layer).
    SPACE_CREATED = "space.created", "Space created"
    SPACE_DELETED = "space.deleted", "Space deleted"
    SPACE_MEMBER_ADDED = "space.member_added", "Space member added"
    SPACE_MEMBER_REMOVED = "space.member_removed", "Space member removed"
    SPACE_TIER_CHANGED = "space.tier_changed", "Space tier changed"


class OutboxMessage(models.Model):
    """A notice to another Mana service, written in the transaction of the change it reports
    and delivered after commit; ``flush_outbox`` retries what failed.

    ``user_id`` is deliberately not a foreign key: a deletion notice must outlive the account.
    The payload carries identifiers only, never secrets. Messages with the same non-empty
    ``subject`` (``space:<id>``) are delivered in the order they were written: a newer one
    waits while an older one is pending, so "member removed" never overtakes "member added".
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    target = models.CharField(max_length=16, choices=OutboxTarget.choices)
    event = models.CharField(max_length=32, choices=OutboxEvent.choices)
    user_id = models.UUIDField()
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    subject = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "accounts_outbox_message"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target__in=OutboxTarget.values),
                name="accounts_outbox_target_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(event__in=OutboxEvent.values),
                name="accounts_outbox_event_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="accounts_outbox_pending_idx",
            ),
            models.Index(fields=["user_id"], name="accounts_outbox_user_idx"),
            models.Index(
                fields=["subject", "created_at"],
                condition=models.Q(delivered_at__isnull=True) & ~models.Q(subject=""),
                name="accounts_outbox_subject_idx",
            ),
        ]

    def __str__(self) -> str:
        state = "delivered" if self.delivered_at else f"pending ({self.attempts} attempts)"
        return f"{self.event} → {self.target}: {state}"


class QueuedMailKind(models.TextChoices):
    MAIL = "mail", "Rendered mail"
    PASSWORD_RESET = "password_reset", "Password reset request"
    MAGIC_LINK = "magic_link", "Magic link request"
    VERIFICATION = "verification", "Verification resend request"
    SIGNUP_NOTICE = "signup_notice", "Sign-up notice request"


class QueuedMail(models.Model):
    """A mail waiting for delivery (``accounts.mailqueue``), written in the transaction of the
    request that caused it and delivered after the response.

    A ``mail`` row holds the rendered message, one-time links included: it is secret-bearing,
    never shown in the admin, and deleted the moment it is delivered or expires. The other
    kinds are requests made for an address ("mail a reset link to …") that the deliverer
    resolves after the response — whether the address has an account is decided there, so the
    request does the same work for known and unknown addresses; they hold no secret.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=QueuedMailKind.choices)
    recipient = models.EmailField(max_length=254)
    payload = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=998, blank=True, default="")
    text_body = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "accounts_mail_queue"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=QueuedMailKind.values),
                name="accounts_mail_queue_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["next_attempt_at"], name="accounts_mail_queue_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} mail ({self.attempts} attempts)"
