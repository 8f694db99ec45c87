"""Input and output shapes of the second-factor and magic-link API (camelCase on the wire)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.api.serializers import NormalizedEmailField


class MfaTotpStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class MfaBackupCodesStatusSerializer(serializers.Serializer):
    remaining = serializers.IntegerField()


class MfaPasskeysStatusSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class MfaStatusOutputSerializer(serializers.Serializer):
    totp = MfaTotpStatusSerializer()
    backupCodes = MfaBackupCodesStatusSerializer()
    passkeys = MfaPasskeysStatusSerializer()


class MfaReauthInputSerializer(serializers.Serializer):
    """The current password; optional when the session signed in within the re-auth window."""

    password = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, default="", trim_whitespace=False
    )


class TotpSetupOutputSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The seed in base32, for typing into an app.")
    otpauthUri = serializers.CharField()
    qrSvg = serializers.CharField(help_text="The otpauth URI as an inline SVG QR code.")


class TotpConfirmInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class TotpConfirmOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    backupCodes = serializers.ListField(child=serializers.CharField())


class BackupCodesOutputSerializer(serializers.Serializer):
    backupCodes = serializers.ListField(child=serializers.CharField())


class MfaLoginInputSerializer(serializers.Serializer):
    mfaToken = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=64)
    method = serializers.ChoiceField(choices=["totp", "backup_code"], default="totp")


class MagicLinkRequestInputSerializer(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)
    callbackURL = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Where the magic-link page goes after signing in. Used only when it is an "
        "absolute URL on a trusted origin; anything else is ignored.",
    )


class MagicLinkAcceptedOutputSerializer(serializers.Serializer):
    status = serializers.CharField()


class MagicLinkVerifyInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
