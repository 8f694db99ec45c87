"""Personas' part of the GDPR documents: every persona row of the user, field by field.

Registered from ``PersonasConfig.ready()`` (``mana_auth.gdpr``). The export lists each
user-related model of the app generically (secret-looking fields skipped), so a model added
here later is exported without touching this file.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers

from accounts.models import Kind
from mana_auth import gdpr
from mana_auth.gdpr import Context
from mana_auth.records import Field, Record

APP_LABEL = "personas"

PERSONA_SUMMARY = Record(
    "GdprPersonaOutput",
    isPersona=Field(serializers.BooleanField(), "is_persona"),
    persona=Field(
        serializers.DictField(allow_null=True, help_text="The persona's settings, if any."),
        "persona",
    ),
    records=Field(
        serializers.DictField(
            child=serializers.IntegerField(), help_text="Stored persona records per kind."
        ),
        "records",
    ),
)


def _persona_summary(ctx: Context) -> dict[str, Any]:
    records: dict[str, int] = {}
    profile: dict[str, Any] | None = None
    for model in gdpr.generic_models(APP_LABEL):
        rows = gdpr.rows_of(model, ctx.user)
        is_profile = any(
            isinstance(f, models.OneToOneField) and f.name in gdpr.user_lookups(model)
            for f in model._meta.concrete_fields
        )
        if is_profile and profile is None:
            row = rows.first()
            profile = gdpr.generic_record(row) if row is not None else None
            records[gdpr.record_name(model)] = int(row is not None)
        else:
            records[gdpr.record_name(model)] = rows.count()
    return PERSONA_SUMMARY.build(
        {"is_persona": ctx.user.kind == Kind.PERSONA, "persona": profile, "records": records}
    )


def register() -> None:
    """Personas' part of the GDPR registry (``PersonasConfig.ready()``)."""
    gdpr.register_export(
        position=120,
        labels=gdpr.labels(*gdpr.generic_models(APP_LABEL)),
        build=gdpr.generic_export(APP_LABEL, "personas"),
    )
    gdpr.register_summary(
        position=100,
        key="personaData",
        build=_persona_summary,
        schema=PERSONA_SUMMARY.serializer(),
    )
