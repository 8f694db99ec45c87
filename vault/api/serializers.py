"""Input and output shapes of the vault API (camelCase on the wire, bytes as base64)."""

from __future__ import annotations

import base64
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from vault import grants
from vault.grants import MissionGrant
from vault.selectors import VaultStatus
from vault.services import VaultKey

_base64 = RegexValidator(r"^[A-Za-z0-9+/_-]+={0,2}\Z", "Must be base64.")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class VaultStatusOutputSerializer(serializers.Serializer):
    vaultExists = serializers.BooleanField()
    hasRecoveryWrap = serializers.BooleanField()
    zeroKnowledge = serializers.BooleanField()
    recoverySetAt = serializers.DateTimeField(allow_null=True)


def status_data(status: VaultStatus) -> dict[str, Any]:
    return dict(
        VaultStatusOutputSerializer(
            {
                "vaultExists": status.vault_exists,
                "hasRecoveryWrap": status.has_recovery_wrap,
                "zeroKnowledge": status.zero_knowledge,
                "recoverySetAt": status.recovery_set_at,
            }
        ).data
    )


class VaultMasterKeyOutputSerializer(serializers.Serializer):
    masterKey = serializers.CharField(help_text="The 32-byte master key, base64.")
    formatVersion = serializers.IntegerField()
    kekId = serializers.CharField(help_text="Public id of the KEK that wraps it on the server.")


class VaultRecoveryBlobOutputSerializer(serializers.Serializer):
    requiresRecoveryCode = serializers.BooleanField(help_text="Always true in this shape.")
    recoveryWrappedMk = serializers.CharField()
    recoveryIv = serializers.CharField()
    formatVersion = serializers.IntegerField()


VAULT_KEY_RESPONSE = PolymorphicProxySerializer(
    component_name="VaultKeyOutput",
    serializers=[VaultMasterKeyOutputSerializer, VaultRecoveryBlobOutputSerializer],
    resource_type_field_name=None,
)


def key_data(key: VaultKey) -> dict[str, Any]:
    if key.master_key is None:
        return {
            "requiresRecoveryCode": True,
            "recoveryWrappedMk": key.recovery_wrapped_mk,
            "recoveryIv": key.recovery_iv,
            "formatVersion": key.format_version,
        }
    return {
        "masterKey": b64(key.master_key),
        "formatVersion": key.format_version,
        "kekId": key.kek_id,
    }


class VaultReauthInputSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=4096,
        required=False,
        trim_whitespace=False,
        help_text="The current password, when the last sign-in is not recent.",
    )


class RecoveryWrapInputSerializer(VaultReauthInputSerializer):
    """``password`` is needed only in zero-knowledge mode (the wrap is then the only copy)."""

    recoveryWrappedMk = serializers.CharField(max_length=1024, validators=[_base64])
    recoveryIv = serializers.CharField(max_length=256, validators=[_base64])


class ZeroKnowledgeInputSerializer(VaultReauthInputSerializer):
    enable = serializers.BooleanField()
    masterKey = serializers.CharField(
        max_length=256,
        required=False,
        help_text="Required with enable=false: the 32-byte master key, base64.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["enable"] and not attrs.get("masterKey"):
            raise serializers.ValidationError({"masterKey": ["Required to disable."]})
        return attrs


class MissionGrantInputSerializer(serializers.Serializer):
    missionId = serializers.CharField(max_length=grants.MISSION_ID_MAX_LENGTH)
    ttlSeconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Clamped to [3600, 2592000]; default 86400.",
    )


class MissionGrantLabelSerializer(serializers.Serializer):
    template = serializers.CharField(
        help_text="The OAEP label: {userId}, {missionId}, {issuedAt}, {expiresAt} filled in."
    )
    encoding = serializers.ChoiceField(choices=["utf-8"])
    timestamps = serializers.ChoiceField(choices=["unix-seconds"])


class MissionGrantDerivationSerializer(serializers.Serializer):
    kdf = serializers.ChoiceField(choices=["HKDF-SHA256"])
    salt = serializers.CharField(help_text="HKDF salt, UTF-8.")
    info = serializers.CharField(help_text="HKDF info, UTF-8.")
    length = serializers.IntegerField(help_text="Key length in bytes.")
    wrap = serializers.ChoiceField(
        choices=[grants.WRAP_PLAIN, grants.WRAP_LABELLED],
        help_text=(
            "RSA-OAEP-SHA256: SHA-256, MGF1-SHA-256, no label (the default). "
            "RSA-OAEP-SHA256-LABEL (opt-in): the same with the OAEP label stated in `label`."
        ),
    )
    label = MissionGrantLabelSerializer(required=False)


class MissionGrantOutputSerializer(serializers.Serializer):
    wrappedKey = serializers.CharField(
        help_text="RSA-OAEP ciphertext of the 32-byte mission key, base64; see derivation.wrap."
    )
    derivation = MissionGrantDerivationSerializer()
    issuedAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    missionId = serializers.CharField()
    userId = serializers.UUIDField()
    version = serializers.IntegerField()


def grant_data(grant: MissionGrant) -> dict[str, Any]:
    return dict(
        MissionGrantOutputSerializer(
            {
                "wrappedKey": b64(grant.wrapped_key),
                "derivation": grant.derivation,
                "issuedAt": grant.issued_at,
                "expiresAt": grant.expires_at,
                "missionId": grant.mission_id,
                "userId": grant.user_id,
                "version": grants.GRANT_VERSION,
            }
        ).data
    )
