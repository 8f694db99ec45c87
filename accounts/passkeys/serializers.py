"""Input and output shapes of the passkeys API (camelCase on the wire).

The WebAuthn options and credentials are the browser's JSON forms (``toJSON()`` /
``parse*OptionsFromJSON``); py_webauthn checks their inner structure, these serializers only
the envelope.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Passkey


class PasskeyCapabilityOutputSerializer(serializers.Serializer):
    available = serializers.BooleanField()
    rpId = serializers.CharField()
    rpName = serializers.CharField()


class PasskeyRegisterOptionsInputSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, trim_whitespace=False
    )


class PasskeyCreationOptionsOutputSerializer(serializers.Serializer):
    """``PublicKeyCredentialCreationOptionsJSON``."""

    rp = serializers.DictField()
    user = serializers.DictField()
    challenge = serializers.CharField()
    pubKeyCredParams = serializers.ListField(child=serializers.DictField())
    timeout = serializers.IntegerField()
    excludeCredentials = serializers.ListField(child=serializers.DictField())
    authenticatorSelection = serializers.DictField()
    attestation = serializers.CharField()


_B64URL = {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$"}


@extend_schema_field(
    {
        "type": "object",
        "description": "A PublicKeyCredential as its toJSON() gives it (WebAuthn Level 3).",
        "required": ["id", "rawId", "type", "response"],
        "properties": {
            "id": _B64URL,
            "rawId": _B64URL,
            "type": {"type": "string", "enum": ["public-key"]},
            "response": {
                "type": "object",
                "required": ["clientDataJSON"],
                "properties": {
                    "clientDataJSON": _B64URL,
                    "attestationObject": _B64URL,
                    "authenticatorData": _B64URL,
                    "signature": _B64URL,
                    "userHandle": {"type": "string", "nullable": True},
                    "transports": {"type": "array", "items": {"type": "string"}},
                },
            },
            "authenticatorAttachment": {"type": "string", "nullable": True},
            "clientExtensionResults": {"type": "object"},
        },
    }
)
class PasskeyCredentialField(serializers.DictField):
    """A ``PublicKeyCredential`` in its JSON form: ``{id, rawId, type, response, …}``."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        for name in ("id", "rawId"):
            if not isinstance(value.get(name), str) or not value[name]:
                raise serializers.ValidationError(f"{name} is required.")
        if not isinstance(value.get("response"), dict):
            raise serializers.ValidationError("response is required.")
        return value


class PasskeyRegisterVerifyInputSerializer(serializers.Serializer):
    credential = PasskeyCredentialField()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class PasskeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    credentialId = serializers.CharField(source="credential_id_b64")
    aaguid = serializers.CharField()
    transports = serializers.ListField(child=serializers.CharField())
    deviceType = serializers.CharField(source="device_type")
    backedUp = serializers.BooleanField(source="backed_up")
    createdAt = serializers.DateTimeField(source="created_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)


def passkey_data(passkey: Passkey) -> dict[str, Any]:
    return dict(PasskeyOutputSerializer(passkey).data)


class PasskeyListOutputSerializer(serializers.Serializer):
    items = PasskeyOutputSerializer(many=True)


class PasskeyRenameInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class PasskeyDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, trim_whitespace=False
    )


class PasskeyAuthenticateOptionsInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)


class PasskeyRequestOptionsOutputSerializer(serializers.Serializer):
    """``PublicKeyCredentialRequestOptionsJSON`` plus a ``ceremonyId`` clients may send back."""

    challenge = serializers.CharField()
    timeout = serializers.IntegerField()
    rpId = serializers.CharField()
    allowCredentials = serializers.ListField(child=serializers.DictField())
    userVerification = serializers.CharField()
    ceremonyId = serializers.CharField()


class PasskeyAuthenticateVerifyInputSerializer(serializers.Serializer):
    """``{credential}``, as the contract says; the ceremony is found from the challenge in
    ``credential.response.clientDataJSON``. ``ceremonyId`` is optional: sent, it must match."""

    credential = PasskeyCredentialField()
    ceremonyId = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
