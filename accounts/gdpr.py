"""GDPR self-service: a summary of what is stored about a user (Art. 15), the complete export
(Art. 20) and the operators' variants. Deletion (Art. 17) is ``accounts.deletion``.

Completeness is a registry, not a habit. Every model that holds a user's data is either
named in ``EXPORTERS`` (model label → the exporter of the section that covers it), belongs to
an app in ``GENERIC_APPS`` (exported field by field), or is in ``EXCLUDED`` with the reason it
stays out. ``tests/gdpr/test_completeness.py`` walks Django's app registry and fails for a
user-related model in none of them, so a model added later cannot be forgotten.

Secrets never leave: no password hash, token/key/code/cookie hashes, wrapped keys, TOTP seeds
or credential values. Every key of the document says what its value is (camelCase).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.apps import apps
from django.db import DatabaseError, models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.emails import email_key
from accounts.models import ApiKey, Passkey, Session, User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Conflict, is_infrastructure_error
from security import ratelimit
from security.models import EventType, LoginAttempt, SecurityEvent
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.services import security_event_record
from spaces.models import (
    Invitation,
    Membership,
    ModulePermission,
    Space,
    SpaceCredential,
    SpaceRole,
    SpaceType,
)
from spaces.routers import sync_alias
from spaces.sync_store.models import SyncChange
from vault.models import Vault, VaultAudit
from vault.selectors import vault_audit_for_user, vault_status_for_user

EXPORT_FORMAT = "mana-auth/user-data-export@1"
# An export is a heavy read; a stolen access token should not be able to loop it.
EXPORT_USER = ratelimit.Limit("gdpr-export-user", 10, 3600)
# Deleting checks the password: bound guessing with a stolen access token.
DELETE_USER = ratelimit.Limit("gdpr-delete-user", 10, 300)
# The vault selector takes a limit; the export wants the whole trail.
_VAULT_AUDIT_ALL = 1_000_000

# Model fields never exported by the generic exporter, whatever the model (by name).
_SECRET_FIELD_MARKERS = (
    "password",
    "secret",
    "token",
    "cookie",
    "key_hash",
    "code_hash",
    "wrapped",
    "cipher",
    "seed",
    "private",
)


# --- Registry -----------------------------------------------------------------------------------


@dataclass
class Section:
    """One top-level part of the export and the rows (primary keys, per model) it carries."""

    key: str
    data: Any
    records: dict[str, set[str]] = field(default_factory=dict)

    def add(self, label: str, keys: Iterable[object]) -> None:
        self.records.setdefault(label, set()).update(str(key) for key in keys)


@dataclass
class Export:
    """The document and, per model label, the primary keys it covers (for the guard test)."""

    document: dict[str, Any]
    covered: dict[str, set[str]]


Exporter = Callable[["_Context"], Section]


@dataclass
class _Context:
    """What several sections need, computed once."""

    user: User
    sole_space_ids: list[Any]


def _labels(*models_: type[models.Model]) -> list[str]:
    return [model._meta.label for model in models_]


# --- Small helpers -----------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_secret_field(model_field: models.Field) -> bool:
    name = model_field.name.lower()
    if isinstance(model_field, models.BinaryField):
        return True
    if name == "iv" or name.endswith("_iv"):
        return True
    return any(marker in name for marker in _SECRET_FIELD_MARKERS)


def user_lookups(model: type[models.Model]) -> list[str]:
    """ORM paths from ``model`` to the user's primary key: its own foreign keys to the user,
    else one hop through a model that has one (``persona__user``)."""
    direct = [
        f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is User
    ]
    if direct or model is User:
        return direct
    hops: list[str] = []
    for f in model._meta.concrete_fields:
        target = f.related_model if f.is_relation else None
        if target is None or target is model or target is Space:
            continue
        hops.extend(
            f"{f.name}__{g.name}"
            for g in target._meta.concrete_fields
            if g.is_relation and g.related_model is User
        )
    return hops


def _rows_of(model: type[models.Model], user: User) -> models.QuerySet[Any]:
    lookups = user_lookups(model)
    if not lookups:
        return model._default_manager.none()
    condition = reduce(operator.or_, (Q(**{lookup: user.pk}) for lookup in lookups))
    return model._default_manager.filter(condition).order_by("pk")


def generic_record(obj: models.Model) -> dict[str, Any]:
    """Every non-secret field of a row, keyed by its camelCase name (relations as ``…Id``)."""
    record: dict[str, Any] = {}
    for model_field in obj._meta.concrete_fields:
        if _is_secret_field(model_field):
            continue
        key = _camel(model_field.name) + ("Id" if model_field.is_relation else "")
        record[key] = getattr(obj, model_field.attname)
    return record


def sole_space_ids(*, user: User) -> list[Any]:
    """The Spaces ``user`` is the only owner of, their personal Space included: what goes with
    the account."""
    owned_alone = (
        Membership.objects.filter(user=user, role=SpaceRole.OWNER)
        .annotate(
            owners=Count("space__memberships", filter=Q(space__memberships__role=SpaceRole.OWNER))
        )
        .filter(owners=1)
        .values("space_id")
    )
    return list(
        Space.objects.filter(
            Q(id__in=owned_alone) | Q(created_by=user, type=SpaceType.PERSONAL)
        ).values_list("id", flat=True)
    )


# --- Sections -----------------------------------------------------------------------------------


def _profile(ctx: _Context) -> Section:
    user = ctx.user
    groups = list(user.groups.order_by("name").values_list("name", flat=True))
    permissions = list(
        user.user_permissions.order_by("content_type__app_label", "codename").values_list(
            "content_type__app_label", "codename"
        )
    )
    section = Section(
        "profile",
        {
            "userId": user.pk,
            "email": user.email,
            "emailVerifiedAt": user.email_verified_at,
            "displayName": user.name,
            "profileImageUrl": user.image,
            "preferredLanguage": user.locale,
            "accountKind": user.kind,
            "role": user.role,
            "accessTier": user.access_tier,
            "isActive": user.is_active,
            "isOperatorStaff": user.is_staff,
            "isSuperuser": user.is_superuser,
            "operatorGroups": groups,
            "operatorPermissions": [f"{app}.{codename}" for app, codename in permissions],
            "lastSignInAt": user.last_login,
            "createdAt": user.created_at,
            "updatedAt": user.updated_at,
        },
    )
    section.add(User._meta.label, [user.pk])
    groups_through = User.groups.through
    permissions_through = User.user_permissions.through
    section.add(
        groups_through._meta.label,
        groups_through.objects.filter(user=user).values_list("pk", flat=True),
    )
    section.add(
        permissions_through._meta.label,
        permissions_through.objects.filter(user=user).values_list("pk", flat=True),
    )
    return section


def session_record(session: Session) -> dict[str, Any]:
    return {
        "sessionId": session.pk,
        "signInMethod": session.auth_method,
        "signedInAt": session.auth_time,
        "createdAt": session.created_at,
        "lastUsedAt": session.last_used_at,
        "expiresAt": session.expires_at,
        "revokedAt": session.revoked_at,
        "revokedReason": session.revoked_reason,
        "ipAddress": session.ip_address,
        "userAgent": session.user_agent,
    }


def _sessions(ctx: _Context) -> Section:
    sessions = list(Session.objects.filter(user=ctx.user).order_by("-created_at"))
    section = Section("sessions", [session_record(s) for s in sessions])
    section.add(Session._meta.label, (s.pk for s in sessions))
    return section


def passkey_record(passkey: Passkey) -> dict[str, Any]:
    return {
        "passkeyId": passkey.pk,
        "name": passkey.name,
        "credentialId": passkey.credential_id_b64,
        "authenticatorAaguid": passkey.aaguid,
        "deviceType": passkey.device_type,
        "backedUp": passkey.backed_up,
        "transports": list(passkey.transports or []),
        "signatureCounter": passkey.sign_count,
        "createdAt": passkey.created_at,
        "lastUsedAt": passkey.last_used_at,
    }


def _passkeys(ctx: _Context) -> Section:
    passkeys = list(Passkey.objects.filter(user=ctx.user).order_by("created_at", "id"))
    section = Section("passkeys", [passkey_record(p) for p in passkeys])
    section.add(Passkey._meta.label, (p.pk for p in passkeys))
    return section


def _second_factors(ctx: _Context) -> Section:
    totp = SealedTotpDevice.objects.filter(user=ctx.user).first()
    backup = BackupCodeDevice.objects.filter(user=ctx.user).first()
    codes = list(BackupCode.objects.filter(device__user=ctx.user).values_list("pk", flat=True))
    data = {
        "authenticatorApp": None
        if totp is None
        else {
            "name": totp.name,
            "confirmed": totp.confirmed,
            "confirmedAt": totp.confirmed_at,
            "createdAt": totp.created_at,
            "lastUsedAt": totp.last_used_at,
            "codeDigits": totp.digits,
            "codePeriodSeconds": totp.step,
            "recentFailedCodes": totp.throttling_failure_count,
        },
        "backupCodes": None
        if backup is None
        else {
            "remainingUnusedCodes": len(codes),
            "createdAt": backup.created_at,
            "lastUsedAt": backup.last_used_at,
            "recentFailedCodes": backup.throttling_failure_count,
        },
    }
    section = Section("secondFactors", data)
    section.add(SealedTotpDevice._meta.label, [totp.pk] if totp else [])
    section.add(BackupCodeDevice._meta.label, [backup.pk] if backup else [])
    section.add(BackupCode._meta.label, codes)
    return section


def api_key_record(api_key: ApiKey) -> dict[str, Any]:
    return {
        "apiKeyId": api_key.pk,
        "name": api_key.name,
        "visiblePrefix": api_key.prefix,
        "scopes": list(api_key.scopes),
        "createdAt": api_key.created_at,
        "expiresAt": api_key.expires_at,
        "lastUsedAt": api_key.last_used_at,
        "revokedAt": api_key.revoked_at,
    }


def _api_keys(ctx: _Context) -> Section:
    keys = list(ApiKey.objects.filter(user=ctx.user).order_by("-created_at"))
    section = Section("apiKeys", [api_key_record(k) for k in keys])
    section.add(ApiKey._meta.label, (k.pk for k in keys))
    return section


def vault_status_record(user: User) -> dict[str, Any]:
    status = vault_status_for_user(user=user)
    return {
        "vaultExists": status.vault_exists,
        "hasRecoveryWrap": status.has_recovery_wrap,
        "zeroKnowledge": status.zero_knowledge,
        "recoverySetAt": status.recovery_set_at,
    }


def _vault(ctx: _Context) -> Section:
    status = vault_status_record(ctx.user)
    audit = vault_audit_for_user(user=ctx.user, limit=_VAULT_AUDIT_ALL)
    data = {
        **status,
        "note": "The master key and its wraps are secrets and are not part of this export.",
        "auditTrail": [
            {
                "action": row.action,
                "httpStatus": row.status,
                "at": row.created_at,
                "ipAddress": row.ip_address,
                "userAgent": row.user_agent,
                "details": row.context,
            }
            for row in audit
        ],
    }
    section = Section("encryptionVault", data)
    section.add(Vault._meta.label, [ctx.user.pk] if status["vaultExists"] else [])
    section.add(VaultAudit._meta.label, (row.pk for row in audit))
    return section


def _invitation_record(
    invitation: Invitation, *, space_name: bool = True, outcome: bool = True
) -> dict[str, Any]:
    """An invitation as the user may see it: ``space_name`` only while the Space is visible to
    them, ``outcome`` (status, who accepted, when) only while they may follow it."""
    record: dict[str, Any] = {
        "invitationId": invitation.pk,
        "spaceId": invitation.space_id,
        "invitedEmail": invitation.email,
        "role": invitation.role,
        "invitedByUserId": invitation.invited_by_id,
        "createdAt": invitation.created_at,
        "expiresAt": invitation.expires_at,
    }
    if outcome:
        record.update(
            {
                "status": invitation.status,
                "acceptedAt": invitation.accepted_at,
                "acceptedByUserId": invitation.accepted_by_id,
                "declinedAt": invitation.declined_at,
                "revokedAt": invitation.revoked_at,
            }
        )
    if space_name:
        record["spaceName"] = invitation.space.name
    return record


SPACE_MANAGER_ROLES = (SpaceRole.OWNER, SpaceRole.ADMIN)


def _spaces(ctx: _Context) -> Section:
    user = ctx.user
    memberships = {
        m.space_id: m for m in Membership.objects.filter(user=user).select_related("space")
    }
    # A Space the user created but no longer belongs to is the other members' now: the export
    # says only that they created it (its id), nothing of what it has become.
    left = list(
        Space.objects.filter(created_by=user)
        .exclude(id__in=list(memberships))
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    spaces = [m.space for m in memberships.values()]
    spaces.sort(key=lambda s: (s.type != SpaceType.PERSONAL, s.created_at, str(s.id)))
    owned = [
        s.id for s in spaces if getattr(memberships.get(s.id), "role", None) == SpaceRole.OWNER
    ]
    managed = set(owned) | set(ctx.sole_space_ids)
    members: dict[Any, list[Membership]] = {}
    for m in Membership.objects.filter(space_id__in=managed).select_related("user"):
        members.setdefault(m.space_id, []).append(m)
    invitations: dict[Any, list[Invitation]] = {}
    for inv in Invitation.objects.filter(space_id__in=managed).order_by("-created_at"):
        invitations.setdefault(inv.space_id, []).append(inv)
    overrides: dict[Any, list[ModulePermission]] = {}
    for override in ModulePermission.objects.filter(space_id__in=managed).order_by(
        "role", "module"
    ):
        overrides.setdefault(override.space_id, []).append(override)
    credentials: dict[Any, list[SpaceCredential]] = {}
    for credential in SpaceCredential.objects.filter(space_id__in=managed).defer(
        "ciphertext", "iv"
    ):
        credentials.setdefault(credential.space_id, []).append(credential)

    items = []
    for space in spaces:
        membership = memberships.get(space.id)
        item: dict[str, Any] = {
            "spaceId": space.id,
            "name": space.name,
            "slug": space.slug,
            "type": space.type,
            "accessTier": space.tier,
            "metadata": space.metadata,
            "createdByYou": space.created_by_id == user.pk,
            "createdAt": space.created_at,
            "updatedAt": space.updated_at,
            "yourRole": membership.role if membership else None,
            "youJoinedAt": membership.created_at if membership else None,
            "deletedWithYourAccount": space.id in ctx.sole_space_ids,
        }
        if space.id in managed:
            item["members"] = [
                {
                    "userId": m.user_id,
                    "email": m.user.email,
                    "displayName": m.user.name,
                    "role": m.role,
                    "joinedAt": m.created_at,
                }
                for m in members.get(space.id, [])
            ]
            item["invitations"] = [
                _invitation_record(inv, space_name=False) for inv in invitations.get(space.id, [])
            ]
            item["moduleAccessOverrides"] = [
                {
                    "role": o.role,
                    "module": o.module,
                    "accessLevel": o.level,
                    "updatedAt": o.updated_at,
                }
                for o in overrides.get(space.id, [])
            ]
            item["credentials"] = [
                {
                    "credentialId": c.pk,
                    "kind": c.kind,
                    "name": c.name,
                    "createdByUserId": c.created_by_id,
                    "createdAt": c.created_at,
                    "updatedAt": c.updated_at,
                    "note": "The value is write-only and not part of this export.",
                }
                for c in credentials.get(space.id, [])
            ]
        items.append(item)
    items.extend(
        {
            "spaceId": space_id,
            "createdByYou": True,
            "yourRole": None,
            "note": "You created this Space and are no longer a member; its contents belong "
            "to its members and are not part of your export.",
        }
        for space_id in left
    )

    section = Section("spaces", items)
    section.add(Space._meta.label, [*(s.id for s in spaces), *left])
    section.add(Membership._meta.label, (m.pk for m in memberships.values()))
    section.add(Membership._meta.label, (m.pk for group in members.values() for m in group))
    section.add(Invitation._meta.label, (i.pk for group in invitations.values() for i in group))
    section.add(ModulePermission._meta.label, (o.pk for group in overrides.values() for o in group))
    section.add(
        SpaceCredential._meta.label, (c.pk for group in credentials.values() for c in group)
    )
    return section


def _received_invitations(user: User) -> models.QuerySet[Invitation]:
    return Invitation.objects.filter(email_key=email_key(user.email))


def _invitations(ctx: _Context) -> Section:
    user = ctx.user
    roles = dict(Membership.objects.filter(user=user).values_list("space_id", "role"))
    managed = {space_id for space_id, role in roles.items() if role in SPACE_MANAGER_ROLES}
    sent = list(
        Invitation.objects.filter(invited_by=user).select_related("space").order_by("-created_at")
    )
    received = list(
        Invitation.objects.filter(Q(accepted_by=user) | Q(email_key=email_key(user.email)))
        .select_related("space")
        .order_by("-created_at")
    )
    section = Section(
        "invitations",
        {
            # What the user did, always; the Space's name while they are in it; what became
            # of the invitation while they may still manage the Space's invitations.
            "sentByYou": [
                _invitation_record(
                    inv, space_name=inv.space_id in roles, outcome=inv.space_id in managed
                )
                for inv in sent
            ],
            # Addressed to them: a still open invitation shows the Space it invites to.
            "receivedByYou": [
                _invitation_record(inv, space_name=inv.space_id in roles or inv.status == "pending")
                for inv in received
            ],
        },
    )
    section.add(Invitation._meta.label, (inv.pk for inv in sent + received))
    return section


def _security_events(ctx: _Context) -> Section:
    events = list(SecurityEvent.objects.filter(user=ctx.user).order_by("created_at", "id"))
    section = Section(
        "securityEvents",
        [
            {
                "eventId": event.pk,
                "type": event.type,
                "at": event.created_at,
                "ipAddress": event.ip_address,
                "userAgent": event.user_agent,
                "details": event.metadata,
            }
            for event in events
        ],
    )
    section.add(SecurityEvent._meta.label, (event.pk for event in events))
    return section


def _login_attempts(ctx: _Context) -> Section:
    attempts = list(
        LoginAttempt.objects.filter(
            Q(user=ctx.user) | Q(user__isnull=True, email_key=email_key(ctx.user.email))
        ).order_by("created_at", "id")
    )
    section = Section(
        "signInAttempts",
        [
            {
                "at": attempt.created_at,
                "succeeded": attempt.success,
                "failureReason": attempt.reason,
                "emailEntered": attempt.email_key,
                "fromKnownDevice": attempt.known_device,
                "ipAddress": attempt.ip_address,
                "userAgent": attempt.user_agent,
            }
            for attempt in attempts
        ],
    )
    section.add(LoginAttempt._meta.label, (attempt.pk for attempt in attempts))
    return section


@dataclass(frozen=True)
class SyncCounts:
    available: bool
    total: int = 0
    by_app: dict[str, dict[str, int]] = field(default_factory=dict)
    ids: tuple[int, ...] = ()


def sync_store_counts(
    *, user: User, space_ids: Iterable[Any] = (), with_ids: bool = False
) -> SyncCounts:
    """The user's rows in the sync store (and those of ``space_ids``), per app and table.

    The sync store is another service's database: when it cannot answer, the count is
    reported unavailable instead of failing the caller.
    """
    alias = sync_alias()
    condition = Q(user_id=str(user.pk))
    spaces = [str(space_id) for space_id in space_ids]
    if spaces:
        condition |= Q(space_id__in=spaces)
    rows = SyncChange.objects.using(alias).filter(condition)
    try:
        # A savepoint when the sync store shares the main database: a failure here must not
        # poison the caller's transaction.
        with transaction.atomic(using=alias):
            if with_ids:
                fetched = list(rows.values_list("id", "app_id", "table_name"))
                grouped = Counter((app, table) for _, app, table in fetched)
                ids = tuple(row_id for row_id, _, _ in fetched)
            else:
                grouped = Counter(
                    {
                        (row["app_id"], row["table_name"]): row["n"]
                        for row in rows.values("app_id", "table_name").annotate(n=Count("id"))
                    }
                )
                ids = ()
    except DatabaseError as exc:
        if not is_infrastructure_error(exc):
            raise
        return SyncCounts(available=False)
    by_app: dict[str, dict[str, int]] = {}
    for (app, table), n in sorted(grouped.items()):
        by_app.setdefault(app, {})[table] = n
    return SyncCounts(available=True, total=sum(grouped.values()), by_app=by_app, ids=ids)


def _sync_store(ctx: _Context) -> Section:
    counts = sync_store_counts(user=ctx.user, space_ids=ctx.sole_space_ids, with_ids=True)
    section = Section(
        "syncedAppData",
        {
            "available": counts.available,
            "totalRecords": counts.total,
            "recordsByAppAndTable": counts.by_app,
            "note": (
                "What the Mana apps synchronise is held by the Mana sync service, end-to-end "
                "encrypted where the app encrypts it; this lists how much there is. Export the "
                "content from the apps themselves."
            ),
        },
    )
    section.add(SyncChange._meta.label, counts.ids)
    return section


def _generic_app(app_label: str, section_key: str) -> Exporter:
    """Export every user-related model of ``app_label`` field by field (secrets skipped)."""

    def export(ctx: _Context) -> Section:
        data: dict[str, list[dict[str, Any]]] = {}
        section = Section(section_key, data)
        for model in generic_models(app_label):
            rows = list(_rows_of(model, ctx.user))
            name = model.__name__[:1].lower() + model.__name__[1:]
            data[name] = [generic_record(row) for row in rows]
            section.add(model._meta.label, (row.pk for row in rows))
        return section

    return export


def generic_models(app_label: str) -> list[type[models.Model]]:
    if not apps.is_installed(app_label):
        return []
    config = apps.get_app_config(app_label)
    return sorted(
        (model for model in config.get_models() if user_lookups(model)),
        key=lambda model: model.__name__,
    )


# Model label → the exporter of the section that covers it. Order is the document's order.
EXPORTERS: dict[str, Exporter] = {
    **dict.fromkeys(
        [
            User._meta.label,
            User.groups.through._meta.label,
            User.user_permissions.through._meta.label,
        ],
        _profile,
    ),
    Session._meta.label: _sessions,
    Passkey._meta.label: _passkeys,
    **dict.fromkeys(_labels(SealedTotpDevice, BackupCodeDevice, BackupCode), _second_factors),
    ApiKey._meta.label: _api_keys,
    **dict.fromkeys(_labels(Vault, VaultAudit), _vault),
    **dict.fromkeys(
        _labels(Space, Membership, ModulePermission, SpaceCredential),
        _spaces,
    ),
    Invitation._meta.label: _invitations,
    SecurityEvent._meta.label: _security_events,
    LoginAttempt._meta.label: _login_attempts,
    SyncChange._meta.label: _sync_store,
}

# Apps whose user-related models are exported generically, each into one section.
GENERIC_APPS: dict[str, str] = {"personas": "personas"}

# Models holding something about a user that the export leaves out, and why.
EXCLUDED: dict[str, str] = {
    "accounts.OneTimeToken": (
        "Single-use links (email verification, password reset, magic link, email change, "
        "second-factor challenge): only a hash of the secret and timestamps; they expire "
        "within hours."
    ),
    "accounts.RefreshToken": (
        "Hashes of the refresh tokens a session was issued; the session itself is exported."
    ),
    "accounts.OutboxMessage": (
        "Delivery bookkeeping of notices to other Mana services; it carries only the account id."
    ),
    "accounts.QueuedMail": (
        "Mail waiting to be sent (minutes, at most days): the message itself is what the user "
        "receives; rows are deleted once delivered or expired, and with the account."
    ),
    "admin.LogEntry": (
        "The operator console's record of changes an operator made to other accounts: it "
        "describes those accounts, not the operator."
    ),
    "security.LoginThrottle": (
        "The sign-in lockout's short-lived failure counter for the address; it expires."
    ),
    "security.SharedCounter": (
        "Rate-limit counters (without Redis), keyed by a hash of the address or IP they count; "
        "each expires with its window, at most an hour."
    ),
    "security.SharedEntry": (
        "Passkey ceremony challenges and cooldowns (without Redis), keyed by hashes; single "
        "use, they expire within five minutes."
    ),
}

# Rows that may still name a deleted user, and why (the guard test checks their shape).
RETAINED_AFTER_DELETION: dict[str, str] = {
    "accounts.OutboxMessage": (
        "The deletion notice itself: it must carry the account id until the other services "
        "have been told; delivered notices are pruned by flush_outbox."
    ),
    "sync_store.SyncChange": (
        "Changes the user made inside a Space that lives on (another owner remains) belong to "
        "that Space's shared history; they keep only the bare account id."
    ),
}


def _exporters() -> list[tuple[list[str], Exporter]]:
    """Distinct exporters in registry order, each with the labels it covers."""
    seen: dict[Exporter, list[str]] = {}
    for label, exporter in EXPORTERS.items():
        seen.setdefault(exporter, []).append(label)
    ordered = [(labels, exporter) for exporter, labels in seen.items()]
    for app_label, key in GENERIC_APPS.items():
        ordered.append((_labels(*generic_models(app_label)), _generic_app(app_label, key)))
    return ordered


def covered_labels() -> set[str]:
    labels = set(EXPORTERS)
    for app_label in GENERIC_APPS:
        labels.update(_labels(*generic_models(app_label)))
    return labels


# --- Export -------------------------------------------------------------------------------------


def user_data_export_build(*, user: User) -> Export:
    """The complete export of ``user``'s data and the rows it covers (no audit row)."""
    ctx = _Context(user=user, sole_space_ids=sole_space_ids(user=user))
    document: dict[str, Any] = {
        "exportFormat": EXPORT_FORMAT,
        "exportedAt": timezone.now(),
        "accountId": user.pk,
        "about": (
            "Everything Mana's identity service stores about this account (GDPR Art. 15 and "
            "20). Secrets (password hash, token and key hashes, wrapped keys, authenticator "
            "seeds, credential values) are never exported. 'coverage' names the stored "
            "record types each section holds; 'notExported' names those left out and why."
        ),
    }
    covered: dict[str, set[str]] = {}
    sections: dict[str, list[str]] = {}
    for labels, exporter in _exporters():
        section = exporter(ctx)
        document[section.key] = section.data
        for label in labels:
            covered.setdefault(label, set())
        for label, keys in section.records.items():
            covered.setdefault(label, set()).update(keys)
            sections.setdefault(label, []).append(section.key)
    document["coverage"] = {
        label: {"sections": sections.get(label, []), "records": len(keys)}
        for label, keys in sorted(covered.items())
    }
    document["notExported"] = dict(EXCLUDED)
    return Export(document=document, covered=covered)


@transaction.atomic
def user_data_export(
    *, user: User, meta: RequestMeta | None = None, actor: User | None = None
) -> dict[str, Any]:
    """Export ``user``'s data (Art. 20) and record that it was exported."""
    security_event_record(
        type=EventType.DATA_EXPORTED,
        user=user,
        meta=meta,
        metadata={"byAdmin": actor is not None},
    )
    return user_data_export_build(user=user).document


# --- Summary ------------------------------------------------------------------------------------


def _spaces_summary(user: User, sole: set[Any]) -> list[dict[str, Any]]:
    # One query for every Space, however many: counts are aggregated in SQL.
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("space")
        .annotate(
            member_count=Count("space__memberships", distinct=True),
            owner_count=Count(
                "space__memberships",
                filter=Q(space__memberships__role=SpaceRole.OWNER),
                distinct=True,
            ),
        )
        .order_by("space__created_at", "space__id")
    )
    items = [
        {
            "spaceId": m.space_id,
            "name": m.space.name,
            "slug": m.space.slug,
            "type": m.space.type,
            "accessTier": m.space.tier,
            "yourRole": m.role,
            "youJoinedAt": m.created_at,
            "memberCount": m.member_count,
            "ownerCount": m.owner_count,
            "deletedWithYourAccount": m.space_id in sole,
        }
        for m in memberships
    ]
    items.sort(key=lambda item: item["type"] != SpaceType.PERSONAL)
    return items


def _persona_summary(user: User) -> dict[str, Any]:
    records: dict[str, int] = {}
    profile: dict[str, Any] | None = None
    for app_label in GENERIC_APPS:
        for model in generic_models(app_label):
            rows = _rows_of(model, user)
            is_profile = any(
                isinstance(f, models.OneToOneField) and f.name in user_lookups(model)
                for f in model._meta.concrete_fields
            )
            if is_profile and profile is None:
                row = rows.first()
                profile = generic_record(row) if row is not None else None
                records[model.__name__[:1].lower() + model.__name__[1:]] = int(row is not None)
            else:
                records[model.__name__[:1].lower() + model.__name__[1:]] = rows.count()
    return {"isPersona": user.kind == "persona", "persona": profile, "records": records}


def user_data_summary(*, user: User) -> dict[str, Any]:
    """What is stored about ``user``, at a glance (Art. 15); no secrets, no audit row."""
    now = timezone.now()
    sessions = list(
        Session.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).order_by(
            "-last_used_at"
        )
    )
    passkeys = list(Passkey.objects.filter(user=user).order_by("created_at", "id"))
    totp = SealedTotpDevice.objects.filter(user=user, confirmed=True).first()
    backup_codes = BackupCode.objects.filter(device__user=user, device__confirmed=True).count()
    keys = list(ApiKey.objects.filter(user=user).order_by("-created_at"))
    sole = sole_space_ids(user=user)
    received = list(
        _received_invitations(user)
        .filter(accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True)
        .filter(expires_at__gt=now)
        .select_related("space")
        .order_by("-created_at")
    )
    sent = Invitation.objects.filter(invited_by=user).aggregate(
        total=Count("id"),
        pending=Count(
            "id",
            filter=Q(
                accepted_at__isnull=True,
                declined_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            ),
        ),
    )
    events = SecurityEvent.objects.filter(user=user).aggregate(
        total=Count("id"), last=models.Max("created_at")
    )
    sync = sync_store_counts(user=user)
    return {
        "profile": {
            "userId": user.pk,
            "email": user.email,
            "emailVerified": user.email_verified,
            "displayName": user.name,
            "profileImageUrl": user.image,
            "preferredLanguage": user.locale,
            "accountKind": user.kind,
            "role": user.role,
            "accessTier": user.access_tier,
            "createdAt": user.created_at,
        },
        "sessions": {
            "activeCount": len(sessions),
            "active": [session_record(s) for s in sessions],
        },
        "passkeys": {"count": len(passkeys), "items": [passkey_record(p) for p in passkeys]},
        "secondFactors": {
            "authenticatorAppEnabled": totp is not None,
            "authenticatorAppConfirmedAt": totp.confirmed_at if totp else None,
            "backupCodesRemaining": backup_codes,
        },
        "encryptionVault": vault_status_record(user),
        "spaces": _spaces_summary(user, set(sole)),
        "invitations": {
            "sentTotal": sent["total"],
            "sentPending": sent["pending"],
            "receivedPending": [_invitation_record(inv) for inv in received],
        },
        "apiKeys": {
            "count": len(keys),
            "activeCount": sum(1 for k in keys if k.is_usable(now)),
            "items": [api_key_record(k) for k in keys],
        },
        "securityEvents": {"count": events["total"], "lastAt": events["last"]},
        "personaData": _persona_summary(user),
        "syncedAppData": {
            "available": sync.available,
            "totalRecords": sync.total if sync.available else None,
            "recordsByAppAndTable": sync.by_app if sync.available else None,
        },
    }


# --- Operators ----------------------------------------------------------------------------------


def admin_user_data_view(
    *, user: User, actor: User | None = None, meta: RequestMeta | None = None
) -> dict[str, Any]:
    """The summary of ``user``'s data for an operator (``GET /admin/users/{id}/data``).

    With ``actor``, the look is recorded as an ADMIN_ACTION on the operator's trail.
    """
    if actor is not None:
        security_event_record(
            type=EventType.ADMIN_ACTION,
            user=actor,
            meta=meta,
            metadata={"action": "user_data_view", "targetUserId": str(user.pk)},
        )
    return user_data_summary(user=user)


@transaction.atomic
def admin_user_data_delete(*, user: User, actor: User, meta: RequestMeta) -> None:
    """Delete ``user`` and everything of it for an operator (``DELETE /admin/users/{id}/data``).

    An operator's own account goes through ``DELETE /me/data`` (with the password) instead.
    """
    if actor.pk == user.pk:
        raise Conflict("Delete your own account with DELETE /api/v1/me/data.")
    from accounts.deletion import user_data_delete

    user_id = str(user.pk)
    user_data_delete(user=user, meta=meta, actor=actor)
    security_event_record(
        type=EventType.ADMIN_ACTION,
        user=actor,
        meta=meta,
        metadata={"action": "user_data_delete", "targetUserId": user_id},
    )
