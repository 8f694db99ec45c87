"""Spaces: personal and shared workspaces, their members, invitations, module overrides and
credentials."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.emails import email_key
from accounts.models import EMAIL_KEY_MAX_LENGTH, Tier
from spaces import modules, slugs


class SpaceType(models.TextChoices):
    PERSONAL = "personal", "Personal"
    BRAND = "brand", "Brand"
    CLUB = "club", "Club"
    FAMILY = "family", "Family"
    TEAM = "team", "Team"
    PRACTICE = "practice", "Practice"


class SpaceRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class AccessLevel(models.TextChoices):
    NONE = "none", "None"
    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"


class CredentialKind(models.TextChoices):
    OAUTH_TOKEN = "oauth_token", "OAuth token"
    API_KEY = "api_key", "API key"
    SMTP = "smtp", "SMTP"
    OTHER = "other", "Other"


SLUG_UNIQUE_CONSTRAINT = "spaces_space_slug_unique"
PERSONAL_UNIQUE_CONSTRAINT = "spaces_space_one_personal_per_user"


class Space(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=63)
    type = models.CharField(max_length=16, choices=SpaceType.choices)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PUBLIC)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_spaces",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "spaces_space"
        constraints = [
            models.UniqueConstraint(fields=["slug"], name=SLUG_UNIQUE_CONSTRAINT),
            # At most one personal Space per user, whatever the code does.
            models.UniqueConstraint(
                fields=["created_by"],
                condition=models.Q(type="personal"),
                name=PERSONAL_UNIQUE_CONSTRAINT,
            ),
            models.CheckConstraint(
                condition=models.Q(type__in=SpaceType.values), name="spaces_space_type_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(tier__in=Tier.values), name="spaces_space_tier_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(slug__regex=slugs.SLUG_PATTERN),
                name="spaces_space_slug_format",
            ),
        ]
        indexes = [models.Index(fields=["created_by", "type"], name="spaces_space_creator_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_personal(self) -> bool:
        return self.type == SpaceType.PERSONAL

    @property
    def allowed_modules(self) -> tuple[str, ...]:
        return modules.modules_for_type(self.type)


class Membership(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_memberships"
    )
    role = models.CharField(max_length=16, choices=SpaceRole.choices, default=SpaceRole.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "spaces_membership"
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="spaces_membership_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=SpaceRole.values), name="spaces_membership_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["user"], name="spaces_membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.space_id} as {self.role}"


class Invitation(models.Model):
    """An invitation by email. Only the SHA-256 of its token is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    # accounts.emails.email_key(email), kept by save(): the invitation is bound to this key.
    email_key = models.CharField(max_length=EMAIL_KEY_MAX_LENGTH, editable=False)
    role = models.CharField(max_length=16, choices=SpaceRole.choices, default=SpaceRole.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_space_invitations",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accepted_space_invitations",
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "spaces_invitation"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=SpaceRole.values), name="spaces_invitation_role_valid"
            ),
        ]
        # By address alone (sign-up, export, deletion); Space-scoped reads use the FK index.
        indexes = [models.Index(fields=["email_key"], name="spaces_invitation_key_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.space_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_key = email_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)

    def status_at(self, now: object = None) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.declined_at:
            return "declined"
        if self.expires_at <= (now or timezone.now()):  # type: ignore[operator]
            return "expired"
        return "pending"

    @property
    def status(self) -> str:
        return self.status_at()


class ModulePermission(models.Model):
    """An override that narrows what a role may do in one module of one Space."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="module_permissions")
    role = models.CharField(max_length=16, choices=SpaceRole.choices)
    module = models.CharField(max_length=64)
    level = models.CharField(max_length=8, choices=AccessLevel.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "spaces_module_permission"
        constraints = [
            models.UniqueConstraint(
                fields=["space", "role", "module"], name="spaces_module_permission_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=SpaceRole.values),
                name="spaces_module_permission_role_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=AccessLevel.values),
                name="spaces_module_permission_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}:{self.module}={self.level}"


class SpaceCredential(models.Model):
    """A secret a Space's services use (OAuth token, API key, SMTP login).

    The value is AES-256-GCM under the KEK with the Space id as associated data; users can
    write it and never read it back. Only other services read it, with the service key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=16, choices=CredentialKind.choices)
    name = models.CharField(max_length=100)
    ciphertext = models.BinaryField()
    iv = models.BinaryField()
    kek_id = models.CharField(max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_space_credentials",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "spaces_credential"
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="spaces_credential_name_unique"),
            models.CheckConstraint(
                condition=models.Q(kind__in=CredentialKind.values),
                name="spaces_credential_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} of {self.space_id}"
