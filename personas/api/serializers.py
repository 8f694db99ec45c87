"""Input and output shapes of the personas Admin API (camelCase on the wire; unique names for
OpenAPI)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import NewAddressField
from personas.catalog import CatalogPersona
from personas.models import ActionResult, Archetype, Persona, TickCadence
from spaces import modules

TEXT_MAX = 4000
PROMPT_MAX = 20000

# --- Personas ---------------------------------------------------------------------------------


# What the catalog rules accept (personas.catalog), stated in the schema; the rules still judge.
_BUILT_MODULES = [module_id for module_id, module in modules.MODULES.items() if module.built]


@extend_schema_field(
    {"type": "string", "format": "email", "maxLength": 254, "pattern": r"^[^@\s]+@mana\.test$"}
)
class PersonaEmailField(NewAddressField):
    """A persona's address: on @mana.test, a domain that cannot receive mail."""


@extend_schema_field(
    {
        "type": "object",
        "description": "Module id to a positive weight; only modules that are built.",
        "properties": {
            module_id: {"type": "number", "exclusiveMinimum": True, "minimum": 0}
            for module_id in _BUILT_MODULES
        },
        "additionalProperties": False,
        "minProperties": 1,
    }
)
class ModuleMixField(serializers.DictField):
    pass


@extend_schema_field({"type": "string", "enum": list(modules.MODULE_IDS)})
class ModuleIdField(serializers.CharField):
    """A module of the registry (spaces.modules); an unknown one is refused by the service."""


class PersonaUpsertInputSerializer(serializers.Serializer):
    email = PersonaEmailField(max_length=254)
    name = serializers.CharField(max_length=200)
    archetype = serializers.ChoiceField(choices=Archetype.values)
    systemPrompt = serializers.CharField(max_length=PROMPT_MAX)
    moduleMix = ModuleMixField(child=serializers.FloatField(), allow_empty=False)
    tickCadence = serializers.ChoiceField(choices=TickCadence.values)


def persona_spec(data: dict[str, Any]) -> CatalogPersona:
    return CatalogPersona(
        email=data["email"],
        name=data["name"].strip(),
        archetype=data["archetype"],
        system_prompt=data["systemPrompt"].strip(),
        module_mix=dict(data["moduleMix"]),
        tick_cadence=data["tickCadence"],
    )


class PersonaOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="user_id", help_text="the persona's user id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    archetype = serializers.CharField()
    systemPrompt = serializers.CharField(source="system_prompt")
    moduleMix = serializers.DictField(source="module_mix", child=serializers.FloatField())
    tickCadence = serializers.CharField(source="tick_cadence")
    lastActiveAt = serializers.DateTimeField(source="last_active_at", allow_null=True)


class PersonaUpsertOutputSerializer(PersonaOutputSerializer):
    created = serializers.BooleanField(help_text="the account was signed up by this call")


class PersonaListItemOutputSerializer(PersonaOutputSerializer):
    actionCount7d = serializers.IntegerField(source="actions_7d")


class PersonaActionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tickId = serializers.CharField(source="tick_id")
    toolName = serializers.CharField(source="tool_name")
    inputHash = serializers.CharField(source="input_hash")
    result = serializers.CharField()
    detail = serializers.CharField()
    latencyMs = serializers.IntegerField(source="latency_ms")
    createdAt = serializers.DateTimeField(source="created_at")


class PersonaFeedbackAverageOutputSerializer(serializers.Serializer):
    module = serializers.CharField()
    averageRating = serializers.FloatField()
    count = serializers.IntegerField()
    lastRatedAt = serializers.DateTimeField()


class PersonaDetailOutputSerializer(PersonaListItemOutputSerializer):
    recentActions = PersonaActionOutputSerializer(many=True, help_text="the last 20, newest first")
    feedback = PersonaFeedbackAverageOutputSerializer(many=True)


def persona_data(persona: Persona, **extra: Any) -> dict[str, Any]:
    return {**PersonaOutputSerializer(persona).data, **extra}


class PersonaActionInputSerializer(serializers.Serializer):
    tickId = serializers.CharField(max_length=64)
    toolName = serializers.CharField(max_length=100)
    inputHash = serializers.CharField(max_length=128)
    result = serializers.ChoiceField(choices=ActionResult.values)
    detail = serializers.CharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, default=""
    )
    latencyMs = serializers.IntegerField(min_value=0, max_value=2_147_483_647)


class PersonaFeedbackInputSerializer(serializers.Serializer):
    tickId = serializers.CharField(max_length=64)
    module = ModuleIdField(max_length=64)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    notes = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class PersonaFeedbackOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tickId = serializers.CharField(source="tick_id")
    module = serializers.CharField()
    rating = serializers.IntegerField()
    notes = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
