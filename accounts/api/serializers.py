"""Input and output shapes of the accounts API (camelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.emails import NOT_ASSIGNABLE_MESSAGE, email_is_assignable, normalize_email
from accounts.models import Locale, Session, User


class NormalizedEmailField(serializers.EmailField):
    """An email address, NFKC-normalised (domain lower-cased) before it is validated."""

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            data = normalize_email(data)
        return super().to_internal_value(data)


class NewAddressField(NormalizedEmailField):
    """An address someone claims (sign-up, email change, invitation): also plain ASCII once
    normalised, so no look-alike of another address (``İnfo@`` for ``info@``) can be claimed.
    Refused the same way whether or not an account has the look-alike address."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not email_is_assignable(value):
            raise serializers.ValidationError(NOT_ASSIGNABLE_MESSAGE)
        return value


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    image = serializers.CharField()
    locale = serializers.CharField()
    emailVerified = serializers.BooleanField(source="email_verified")
    role = serializers.CharField()
    tier = serializers.CharField(source="access_tier")
    kind = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    onboardingCompletedAt = serializers.DateTimeField(
        source="onboarding_completed_at",
        allow_null=True,
        required=False,
        help_text="When the user finished onboarding (POST /api/v1/me/onboarding/complete); "
        "null until then.",
    )


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as DRF renders datetimes."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_data(user: User) -> dict[str, Any]:
    """The contract's user shape. Built by hand: it is on every sign-in and session answer,
    and a serializer costs more than the rest of the request (UserOutputSerializer documents
    the same shape for OpenAPI)."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "image": user.image,
        "locale": user.locale,
        "emailVerified": user.email_verified_at is not None,
        "role": user.role,
        "tier": user.access_tier,
        "kind": user.kind,
        "createdAt": iso(user.created_at),
        "onboardingCompletedAt": iso(user.onboarding_completed_at),
    }


@extend_schema_field({"type": "string", "minLength": 8, "maxLength": 256})
class NewPasswordField(serializers.Field):
    """A password being chosen, read like a ``CharField(max_length=4096)`` without trimming.

    The schema states the policy's bounds (8 to 256 characters); the policy still judges, so a
    short one is WEAK_PASSWORD as before. Not a ``CharField``: drf-spectacular would document
    ``minLength: 1`` over the policy's 8.
    """

    MAX_LENGTH = 4096
    default_error_messages = {
        "invalid": "Not a valid string.",
        "blank": "This field may not be blank.",
        "max_length": "Ensure this field has no more than {max_length} characters.",
    }

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        value = str(data)
        if value == "":
            self.fail("blank")
        if len(value) > self.MAX_LENGTH:
            self.fail("max_length", max_length=self.MAX_LENGTH)
        return value

    def to_representation(self, value: Any) -> str:
        return str(value)


def callback_url_field(
    *, after: str = "Where the mailed link's page goes afterwards."
) -> serializers.CharField:
    """An optional ``callbackURL``: honoured on a trusted origin only, anything else ignored
    (never refused, never redirected to)."""
    return serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"{after} Used only when it is an absolute URL on a trusted origin; anything "
        "else is ignored.",
    )


class RegisterInputSerializer(serializers.Serializer):
    email = NewAddressField(max_length=254)
    password = NewPasswordField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    locale = serializers.ChoiceField(choices=Locale.values, required=False, default="en")
    callbackURL = callback_url_field()


class RegisterOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    email = serializers.EmailField()


class SignupStatusOutputSerializer(serializers.Serializer):
    open = serializers.BooleanField()
    remainingToday = serializers.IntegerField(allow_null=True)
    resetsAt = serializers.DateTimeField()


class TokenInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)


class VerifyEmailQuerySerializer(serializers.Serializer):
    """Documents the mail link's query (the view reads it leniently): short enough for any
    request line."""

    token = serializers.CharField(max_length=512)
    callbackURL = serializers.URLField(max_length=2000, required=False, allow_blank=True)


class VerifyEmailInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)
    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        required=False,
        allow_blank=True,
        default="",
        help_text="The password chosen at sign-up; needed for a first verification when the "
        "link is opened outside the browser that signed up.",
    )
    withoutPassword = serializers.BooleanField(
        required=False,
        default=False,
        help_text='Verify a first time without the sign-up password ("I did not sign up" '
        'or "I forgot it"): that password, every session, passkey, API key and 2FA of the '
        "account are removed, and a link to choose a password is mailed.",
    )


class VerifiedOutputSerializer(serializers.Serializer):
    verified = serializers.BooleanField()
    passwordRemoved = serializers.BooleanField(
        help_text="The account's sign-up password was removed; a link to choose one was mailed."
    )


class EmailInputSerializer(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)
    callbackURL = callback_url_field()


class AcceptedOutputSerializer(serializers.Serializer):
    status = serializers.CharField()


class LoginInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class SignInOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    accessToken = serializers.CharField()
    refreshToken = serializers.CharField()
    expiresIn = serializers.IntegerField()
    tokenType = serializers.CharField()


class MfaLoginInputSerializer(serializers.Serializer):
    mfaToken = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=64)
    method = serializers.ChoiceField(choices=["totp", "backup_code"], default="totp")


class MagicLinkRequestInputSerializer(serializers.Serializer):
    email = NormalizedEmailField(max_length=254)
    callbackURL = callback_url_field(after="Where the magic-link page goes after signing in.")


class MagicLinkAcceptedOutputSerializer(serializers.Serializer):
    status = serializers.CharField()


class MagicLinkVerifyInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class TokenPairOutputSerializer(serializers.Serializer):
    accessToken = serializers.CharField()
    refreshToken = serializers.CharField()
    expiresIn = serializers.IntegerField()
    tokenType = serializers.CharField()


class RefreshInputSerializer(serializers.Serializer):
    refreshToken = serializers.CharField(max_length=4096)


class ValidateOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    claims = serializers.DictField(required=False)
    code = serializers.CharField(required=False)


class SessionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at")
    ipAddress = serializers.IPAddressField(source="ip_address", allow_null=True)
    userAgent = serializers.CharField(source="user_agent")
    authMethod = serializers.CharField(source="auth_method")


class SessionListItemSerializer(SessionOutputSerializer):
    current = serializers.BooleanField()


def session_data(session: Session, *, current: bool | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(session.id),
        "createdAt": iso(session.created_at),
        "expiresAt": iso(session.expires_at),
        "lastUsedAt": iso(session.last_used_at),
        "ipAddress": session.ip_address,
        "userAgent": session.user_agent,
        "authMethod": session.auth_method,
    }
    if current is not None:
        data["current"] = current
    return data


class SessionInfoOutputSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    session = SessionOutputSerializer()


class SessionListOutputSerializer(serializers.Serializer):
    items = SessionListItemSerializer(many=True)


class RevokedOutputSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class ResetPasswordInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096)
    newPassword = NewPasswordField()
    revokeFactors = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also revoke every passkey, API key, the authenticator app and backup codes.",
    )


class RevokedFactorsOutputSerializer(serializers.Serializer):
    passkeys = serializers.IntegerField()
    apiKeys = serializers.IntegerField()
    totp = serializers.BooleanField()


class ResetPasswordOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    factorsRevoked = serializers.BooleanField()
    revoked = RevokedFactorsOutputSerializer(allow_null=True)
    reason = serializers.ChoiceField(
        choices=["", "requested", "compromise_reported", "address_claimed"],
        help_text='Why factors were revoked: asked for, a pending "this wasn\'t me" report, or '
        "the first proof of a never-verified address.",
    )


class FactorPasskeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    createdAt = serializers.DateTimeField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)


class FactorApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    createdAt = serializers.DateTimeField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField(allow_null=True)


class FactorTotpOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class FactorBackupCodesOutputSerializer(serializers.Serializer):
    remaining = serializers.IntegerField()


class ResetPasswordPreviewOutputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    passkeys = FactorPasskeyOutputSerializer(many=True)
    apiKeys = FactorApiKeyOutputSerializer(many=True)
    totp = FactorTotpOutputSerializer()
    backupCodes = FactorBackupCodesOutputSerializer()
    compromiseReported = serializers.BooleanField()
    revokesFactors = serializers.BooleanField(
        help_text="The reset revokes passkeys, API keys and 2FA whatever revokeFactors says."
    )
    claimWipes = serializers.BooleanField(
        required=False,
        help_text="The address was never verified: the reset is an address claim and also "
        "deletes the account's Spaces and their data, its sync data and its encryption vault "
        "(the encrypted data can no longer be read). Say so before the password is chosen.",
    )


class CompromiseRevokedOutputSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    passkeys = serializers.IntegerField()
    apiKeys = serializers.IntegerField()


class CompromiseReportOutputSerializer(serializers.Serializer):
    reported = serializers.BooleanField()
    revoked = CompromiseRevokedOutputSerializer()


class OkOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()


class ProfileInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.ChoiceField(choices=Locale.values, required=False)
    image = serializers.URLField(max_length=2000, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in sorted(unknown)}
            )
        return attrs


class ChangeEmailInputSerializer(serializers.Serializer):
    newEmail = NewAddressField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class ChangePasswordInputSerializer(serializers.Serializer):
    currentPassword = serializers.CharField(max_length=4096, trim_whitespace=False)
    newPassword = NewPasswordField()


class PasswordInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
