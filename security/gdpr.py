"""Security's part of the GDPR documents: second factors and the audit trail.

Registered from ``SecurityConfig.ready()`` (``mana_auth.gdpr``). Seeds and code hashes never
leave: the export says what exists and when, not what the secret is. Sign-in attempts are
exported by accounts, which owns signing in and the address they are keyed by.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max
from rest_framework import serializers

from mana_auth import gdpr
from mana_auth.gdpr import Context, Section
from mana_auth.records import Field, Record
from security.models import SecurityEvent
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice

_TIME = serializers.DateTimeField
_COUNT = serializers.IntegerField

AUTHENTICATOR = Record(
    "GdprAuthenticatorExport",
    name=Field(serializers.CharField(), "name"),
    confirmed=Field(serializers.BooleanField(), "confirmed"),
    confirmedAt=Field(_TIME(allow_null=True), "confirmed_at"),
    createdAt=Field(_TIME(allow_null=True), "created_at"),
    lastUsedAt=Field(_TIME(allow_null=True), "last_used_at"),
    codeDigits=Field(_COUNT(), "digits"),
    codePeriodSeconds=Field(_COUNT(), "step"),
    recentFailedCodes=Field(_COUNT(), "throttling_failure_count"),
)

BACKUP_CODES = Record(
    "GdprBackupCodesExport",
    remainingUnusedCodes=Field(_COUNT(), lambda part: len(part["codes"])),
    createdAt=Field(_TIME(allow_null=True), "device.created_at"),
    lastUsedAt=Field(_TIME(allow_null=True), "device.last_used_at"),
    recentFailedCodes=Field(_COUNT(), "device.throttling_failure_count"),
)

SECURITY_EVENT = Record(
    "GdprSecurityEventExport",
    eventId=Field(serializers.UUIDField(), "pk"),
    type=Field(serializers.CharField(), "type"),
    at=Field(_TIME(), "created_at"),
    ipAddress=Field(serializers.IPAddressField(allow_null=True), "ip_address"),
    userAgent=Field(serializers.CharField(), "user_agent"),
    details=Field(serializers.DictField(), "metadata"),
)

SECOND_FACTORS_SUMMARY = Record(
    "GdprSecondFactorsOutput",
    authenticatorAppEnabled=Field(
        serializers.BooleanField(), lambda part: part["totp"] is not None
    ),
    authenticatorAppConfirmedAt=Field(
        _TIME(allow_null=True), lambda part: part["totp"].confirmed_at if part["totp"] else None
    ),
    backupCodesRemaining=Field(_COUNT(), "backup_codes"),
)

SECURITY_EVENTS_SUMMARY = Record(
    "GdprSecurityEventsOutput",
    count=Field(_COUNT(), "total"),
    lastAt=Field(_TIME(allow_null=True), "last"),
)


def _second_factors(ctx: Context) -> Section:
    totp = SealedTotpDevice.objects.filter(user=ctx.user).first()
    backup = BackupCodeDevice.objects.filter(user=ctx.user).first()
    codes = list(BackupCode.objects.filter(device__user=ctx.user).values_list("pk", flat=True))
    data = {
        "authenticatorApp": None if totp is None else AUTHENTICATOR.build(totp),
        "backupCodes": None
        if backup is None
        else BACKUP_CODES.build({"device": backup, "codes": codes}),
    }
    section = Section("secondFactors", data)
    section.add(SealedTotpDevice._meta.label, [totp.pk] if totp else [])
    section.add(BackupCodeDevice._meta.label, [backup.pk] if backup else [])
    section.add(BackupCode._meta.label, codes)
    return section


def _security_events(ctx: Context) -> Section:
    events = list(SecurityEvent.objects.filter(user=ctx.user).order_by("created_at", "id"))
    section = Section("securityEvents", SECURITY_EVENT.build_many(events))
    section.add(SecurityEvent._meta.label, (event.pk for event in events))
    return section


def _second_factors_summary(ctx: Context) -> dict[str, Any]:
    totp = SealedTotpDevice.objects.filter(user=ctx.user, confirmed=True).first()
    codes = BackupCode.objects.filter(device__user=ctx.user, device__confirmed=True).count()
    return SECOND_FACTORS_SUMMARY.build({"totp": totp, "backup_codes": codes})


def _security_events_summary(ctx: Context) -> dict[str, Any]:
    events = SecurityEvent.objects.filter(user=ctx.user).aggregate(
        total=Count("id"), last=Max("created_at")
    )
    return SECURITY_EVENTS_SUMMARY.build(events)


def register() -> None:
    """Security's part of the GDPR registry (``SecurityConfig.ready()``)."""
    gdpr.register_export(
        position=40,
        labels=gdpr.labels(SealedTotpDevice, BackupCodeDevice, BackupCode),
        build=_second_factors,
    )
    gdpr.register_export(position=90, labels=gdpr.labels(SecurityEvent), build=_security_events)
    gdpr.register_summary(
        position=40,
        key="secondFactors",
        build=_second_factors_summary,
        schema=SECOND_FACTORS_SUMMARY.serializer(),
    )
    gdpr.register_summary(
        position=90,
        key="securityEvents",
        build=_security_events_summary,
        schema=SECURITY_EVENTS_SUMMARY.serializer(),
    )
    gdpr.register_excluded(
        "security.LoginThrottle",
        "The sign-in lockout's short-lived failure counter for the address; it expires.",
    )
    gdpr.register_excluded(
        "security.SharedCounter",
        "Rate-limit counters (without Redis), keyed by a hash of the address or IP they count; "
        "each expires with its window, at most an hour.",
    )
    gdpr.register_excluded(
        "security.SharedEntry",
        "Passkey ceremony challenges and cooldowns (without Redis), keyed by hashes; single "
        "use, they expire within five minutes.",
    )
