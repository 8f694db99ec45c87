"""GDPR self-service: the summary (Art. 15), the complete export (Art. 20) and the deletion on
request (Art. 17), and accounts' own part of them.

The documents are walked from the registry every app feeds (``mana_auth.gdpr``); accounts
contributes the profile, sessions, passkeys, API keys and sign-in attempts, and names what it
keeps out of the export. Deletion itself is ``accounts.deletion``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from rest_framework import serializers

from accounts import credits
from accounts.deletion import account_delete
from accounts.emails import email_key
from accounts.models import ApiKey, Passkey, Session, User
from mana_auth import gdpr
from mana_auth.clientip import RequestMeta
from mana_auth.gdpr import Context, Section
from mana_auth.records import Field, Record
from security import ratelimit
from security.models import EventType, LoginAttempt
from security.services import security_event_record

# An export is a heavy read; a stolen access token should not be able to loop it.
EXPORT_USER = ratelimit.Limit("gdpr-export-user", 10, 3600)
# Deleting checks the password: bound guessing with a stolen access token.
DELETE_USER = ratelimit.Limit("gdpr-delete-user", 10, 300)

_UUID = serializers.UUIDField
_TEXT = serializers.CharField
_TIME = serializers.DateTimeField


# --- Records -----------------------------------------------------------------------------------

SESSION = Record(
    "GdprSessionOutput",
    sessionId=Field(_UUID(), "pk"),
    signInMethod=Field(_TEXT(), "auth_method"),
    signedInAt=Field(_TIME(), "auth_time"),
    createdAt=Field(_TIME(), "created_at"),
    lastUsedAt=Field(_TIME(), "last_used_at"),
    expiresAt=Field(_TIME(), "expires_at"),
    revokedAt=Field(_TIME(allow_null=True), "revoked_at"),
    revokedReason=Field(_TEXT(), "revoked_reason"),
    ipAddress=Field(serializers.IPAddressField(allow_null=True), "ip_address"),
    userAgent=Field(_TEXT(), "user_agent"),
)

PASSKEY = Record(
    "GdprPasskeyOutput",
    passkeyId=Field(_UUID(), "pk"),
    name=Field(_TEXT(), "name"),
    credentialId=Field(_TEXT(), "credential_id_b64"),
    authenticatorAaguid=Field(_TEXT(), "aaguid"),
    deviceType=Field(_TEXT(), "device_type"),
    backedUp=Field(serializers.BooleanField(), "backed_up"),
    transports=Field(
        serializers.ListField(child=_TEXT()), lambda passkey: list(passkey.transports or [])
    ),
    signatureCounter=Field(serializers.IntegerField(), "sign_count"),
    createdAt=Field(_TIME(), "created_at"),
    lastUsedAt=Field(_TIME(allow_null=True), "last_used_at"),
)

API_KEY = Record(
    "GdprApiKeyOutput",
    apiKeyId=Field(_UUID(), "pk"),
    name=Field(_TEXT(), "name"),
    visiblePrefix=Field(_TEXT(), "prefix"),
    scopes=Field(serializers.ListField(child=_TEXT()), lambda key: list(key.scopes)),
    createdAt=Field(_TIME(), "created_at"),
    expiresAt=Field(_TIME(allow_null=True), "expires_at"),
    lastUsedAt=Field(_TIME(allow_null=True), "last_used_at"),
    revokedAt=Field(_TIME(allow_null=True), "revoked_at"),
)

# The export's profile: everything of the account row but its secrets.
PROFILE = Record(
    "GdprProfileExport",
    userId=Field(_UUID(), "pk"),
    email=Field(_TEXT(), "email"),
    emailVerifiedAt=Field(_TIME(allow_null=True), "email_verified_at"),
    onboardingCompletedAt=Field(_TIME(allow_null=True), "onboarding_completed_at"),
    displayName=Field(_TEXT(), "name"),
    profileImageUrl=Field(_TEXT(), "image"),
    preferredLanguage=Field(_TEXT(), "locale"),
    accountKind=Field(_TEXT(), "kind"),
    role=Field(_TEXT(), "role"),
    accessTier=Field(_TEXT(), "access_tier"),
    isActive=Field(serializers.BooleanField(), "is_active"),
    isOperatorStaff=Field(serializers.BooleanField(), "is_staff"),
    isSuperuser=Field(serializers.BooleanField(), "is_superuser"),
    operatorGroups=Field(
        serializers.ListField(child=_TEXT()),
        lambda user: list(user.groups.order_by("name").values_list("name", flat=True)),
    ),
    operatorPermissions=Field(
        serializers.ListField(child=_TEXT()),
        lambda user: [
            f"{app}.{codename}"
            for app, codename in user.user_permissions.order_by(
                "content_type__app_label", "codename"
            ).values_list("content_type__app_label", "codename")
        ],
    ),
    lastSignInAt=Field(_TIME(allow_null=True), "last_login"),
    createdAt=Field(_TIME(), "created_at"),
    updatedAt=Field(_TIME(), "updated_at"),
)

# The summary's profile, at a glance.
PROFILE_SUMMARY = Record(
    "GdprProfileOutput",
    userId=Field(_UUID(), "pk"),
    email=Field(serializers.EmailField(), "email"),
    emailVerified=Field(serializers.BooleanField(), "email_verified"),
    displayName=Field(_TEXT(), "name"),
    profileImageUrl=Field(_TEXT(), "image"),
    preferredLanguage=Field(_TEXT(), "locale"),
    accountKind=Field(_TEXT(), "kind"),
    role=Field(_TEXT(), "role"),
    accessTier=Field(_TEXT(), "access_tier"),
    createdAt=Field(_TIME(), "created_at"),
)

SESSIONS_SUMMARY = Record(
    "GdprSessionsOutput",
    activeCount=Field(serializers.IntegerField(), len),
    active=Field(SESSION.serializer(many=True), SESSION.build_many),
)

PASSKEYS_SUMMARY = Record(
    "GdprPasskeysOutput",
    count=Field(serializers.IntegerField(), len),
    items=Field(PASSKEY.serializer(many=True), PASSKEY.build_many),
)

API_KEYS_SUMMARY = Record(
    "GdprApiKeysOutput",
    count=Field(serializers.IntegerField(), lambda part: len(part["keys"])),
    activeCount=Field(
        serializers.IntegerField(),
        lambda part: sum(1 for key in part["keys"] if key.is_usable(part["now"])),
    ),
    items=Field(API_KEY.serializer(many=True), lambda part: API_KEY.build_many(part["keys"])),
)

LOGIN_ATTEMPT = Record(
    "GdprLoginAttemptExport",
    at=Field(_TIME(), "created_at"),
    method=Field(_TEXT(), "method"),
    succeeded=Field(serializers.BooleanField(), "success"),
    failureReason=Field(_TEXT(), "reason"),
    emailEntered=Field(_TEXT(), "email_key"),
    fromKnownDevice=Field(serializers.BooleanField(), "known_device"),
    ipAddress=Field(serializers.IPAddressField(allow_null=True), "ip_address"),
    userAgent=Field(_TEXT(), "user_agent"),
)


CREDIT_TRANSACTION = Record(
    "GdprCreditTransactionOutput",
    transactionId=Field(_TEXT(), "id"),
    amount=Field(serializers.FloatField(), "amount"),
    type=Field(_TEXT(), "type"),
    description=Field(_TEXT(), "description"),
    createdAt=Field(_TIME(), "created_at"),
)

CREDITS = Record(
    "GdprCreditsOutput",
    available=Field(
        serializers.BooleanField(
            help_text="False when mana-credits is not configured or could not be asked; the "
            "balance and transactions are then null."
        ),
        "available",
    ),
    reason=Field(
        serializers.ChoiceField(
            choices=list(credits.REASONS),
            allow_null=True,
            help_text="Why the credits are unavailable (null when available).",
        ),
        "reason",
    ),
    balance=Field(serializers.FloatField(allow_null=True), "balance"),
    recentTransactions=Field(
        CREDIT_TRANSACTION.serializer(many=True, allow_null=True),
        lambda reading: (
            None
            if reading.transactions is None
            else CREDIT_TRANSACTION.build_many(reading.transactions)
        ),
    ),
)


# --- Export and summary parts ------------------------------------------------------------------


def _profile(ctx: Context) -> Section:
    user = ctx.user
    section = Section("profile", PROFILE.build(user))
    section.add(User._meta.label, [user.pk])
    for through in (User.groups.through, User.user_permissions.through):
        section.add(
            through._meta.label, through.objects.filter(user=user).values_list("pk", flat=True)
        )
    return section


def _sessions(ctx: Context) -> Section:
    sessions = list(Session.objects.filter(user=ctx.user).order_by("-created_at"))
    section = Section("sessions", SESSION.build_many(sessions))
    section.add(Session._meta.label, (s.pk for s in sessions))
    return section


def _passkeys_of(user: User) -> list[Passkey]:
    return list(Passkey.objects.filter(user=user).order_by("created_at", "id"))


def _passkeys(ctx: Context) -> Section:
    passkeys = _passkeys_of(ctx.user)
    section = Section("passkeys", PASSKEY.build_many(passkeys))
    section.add(Passkey._meta.label, (p.pk for p in passkeys))
    return section


def _api_keys_of(user: User) -> list[ApiKey]:
    return list(ApiKey.objects.filter(user=user).order_by("-created_at"))


def _api_keys(ctx: Context) -> Section:
    keys = _api_keys_of(ctx.user)
    section = Section("apiKeys", API_KEY.build_many(keys))
    section.add(ApiKey._meta.label, (k.pk for k in keys))
    return section


def _sign_in_attempts(ctx: Context) -> Section:
    attempts = list(
        LoginAttempt.objects.filter(
            Q(user=ctx.user) | Q(user__isnull=True, email_key=email_key(ctx.user.email))
        ).order_by("created_at", "id")
    )
    section = Section("signInAttempts", LOGIN_ATTEMPT.build_many(attempts))
    section.add(LoginAttempt._meta.label, (attempt.pk for attempt in attempts))
    return section


# The export's credits reading, by this name in the export's ``Context``: read before the
# export's transaction opens (``user_data_export``), so no transaction waits on mana-credits.
CREDITS_EXPORT_READING = "credits_export_reading"


def _credits_export_read(user: User) -> credits.CreditsReading:
    return credits.credits_read(user_id=user.pk, limit=credits.EXPORT_TRANSACTIONS)


def _credits(ctx: Context) -> Section:
    reading = ctx.once(CREDITS_EXPORT_READING, lambda: _credits_export_read(ctx.user))
    data = CREDITS.build(reading)
    data["note"] = (
        "Credits are held by the Mana credits service; this is the balance and the latest "
        "transactions it reported when the export was made."
    )
    return Section("credits", data)


def _credits_summary(ctx: Context) -> dict[str, Any]:
    return CREDITS.build(credits.credits_read(user_id=ctx.user.pk))


def _sessions_summary(ctx: Context) -> dict[str, Any]:
    sessions = Session.objects.filter(user=ctx.user).live(ctx.now).order_by("-last_used_at")
    return SESSIONS_SUMMARY.build(list(sessions))


def _api_keys_summary(ctx: Context) -> dict[str, Any]:
    return API_KEYS_SUMMARY.build({"keys": _api_keys_of(ctx.user), "now": ctx.now})


def register() -> None:
    """Accounts' part of the GDPR registry (``AccountsConfig.ready()``)."""
    user_labels = gdpr.labels(User, User.groups.through, User.user_permissions.through)
    gdpr.register_export(position=10, labels=user_labels, build=_profile)
    gdpr.register_export(position=20, labels=gdpr.labels(Session), build=_sessions)
    gdpr.register_export(position=30, labels=gdpr.labels(Passkey), build=_passkeys)
    gdpr.register_export(position=50, labels=gdpr.labels(ApiKey), build=_api_keys)
    gdpr.register_export(position=100, labels=gdpr.labels(LoginAttempt), build=_sign_in_attempts)
    gdpr.register_export(position=115, labels=(), build=_credits)

    gdpr.register_summary(
        position=10,
        key="profile",
        build=lambda ctx: PROFILE_SUMMARY.build(ctx.user),
        schema=PROFILE_SUMMARY.serializer(),
    )
    gdpr.register_summary(
        position=20, key="sessions", build=_sessions_summary, schema=SESSIONS_SUMMARY.serializer()
    )
    gdpr.register_summary(
        position=30,
        key="passkeys",
        build=lambda ctx: PASSKEYS_SUMMARY.build(_passkeys_of(ctx.user)),
        schema=PASSKEYS_SUMMARY.serializer(),
    )
    gdpr.register_summary(
        position=80, key="apiKeys", build=_api_keys_summary, schema=API_KEYS_SUMMARY.serializer()
    )
    # Optional in the contract: added after the first release (always present here).
    gdpr.register_summary(
        position=120,
        key="credits",
        build=_credits_summary,
        schema=CREDITS.serializer(required=False),
    )

    gdpr.register_excluded(
        "accounts.OneTimeToken",
        "Single-use links (email verification, password reset, magic link, email change, "
        "second-factor challenge): only a hash of the secret and timestamps; they expire "
        "within hours.",
    )
    gdpr.register_excluded(
        "accounts.RefreshToken",
        "Hashes of the refresh tokens a session was issued; the session itself is exported.",
    )
    gdpr.register_excluded(
        "accounts.OutboxMessage",
        "Delivery bookkeeping of notices to other Mana services; it carries identifiers only "
        "(the account's, its shared Spaces' and their members'), with roles and tiers.",
    )
    gdpr.register_excluded(
        "accounts.QueuedMail",
        "Mail waiting to be sent (minutes, at most days): the message itself is what the user "
        "receives; rows are deleted once delivered or expired, and with the account.",
    )
    gdpr.register_excluded(
        "admin.LogEntry",
        "The operator console's record of changes an operator made to other accounts: it "
        "describes those accounts, not the operator.",
    )
    gdpr.register_retained(
        "accounts.OutboxMessage",
        "The deletion notice itself: it must carry the account id until the other services "
        "have been told; delivered notices are pruned by flush_outbox.",
    )


# --- The services ------------------------------------------------------------------------------


def user_data_summary(*, user: User) -> dict[str, Any]:
    """What is stored about ``user``, at a glance (Art. 15); no secrets, no audit row."""
    return gdpr.summary_build(user=user)


def user_data_export(*, user: User, meta: RequestMeta | None = None) -> dict[str, Any]:
    """Export ``user``'s data (Art. 20; rate-limited per account) and record that it was."""
    ratelimit.hit(EXPORT_USER, str(user.pk))
    # Another service's answer, before the transaction: never hold one open across the call.
    reading = _credits_export_read(user)
    return _user_data_export(user=user, meta=meta, known={CREDITS_EXPORT_READING: reading})


@transaction.atomic
def _user_data_export(
    *, user: User, meta: RequestMeta | None, known: dict[str, Any]
) -> dict[str, Any]:
    security_event_record(
        type=EventType.DATA_EXPORTED, user=user, meta=meta, metadata={"byAdmin": False}
    )
    return gdpr.export_build(user=user, known=known).document


def user_data_delete_request(*, user: User, password: str, meta: RequestMeta) -> None:
    """Delete the account on its owner's request (Art. 17): the password, bounded per account
    so a stolen access token cannot guess it (``accounts.deletion.account_delete``)."""
    ratelimit.hit(DELETE_USER, str(user.pk))
    account_delete(user=user, password=password, meta=meta)
