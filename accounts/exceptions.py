"""Domain errors of accounts, each with its contract code (and so its status).

Raised by the services, rendered in the envelope by the one exception handler
(``mana_auth.errors``). ``details`` carry what a client needs (``remainingSeconds``,
``mfaToken``, ``reasons``…); messages never carry a secret.
"""

from __future__ import annotations

from mana_auth.errors import AuthError


class WeakPassword(AuthError):
    code = "WEAK_PASSWORD"


class InvalidCredentials(AuthError):
    code = "INVALID_CREDENTIALS"


class EmailNotVerified(AuthError):
    code = "EMAIL_NOT_VERIFIED"


class AccountLocked(AuthError):
    code = "ACCOUNT_LOCKED"


class MfaRequired(AuthError):
    code = "MFA_REQUIRED"


class MfaInvalidCode(AuthError):
    code = "MFA_INVALID_CODE"


class ReauthRequired(AuthError):
    code = "REAUTH_REQUIRED"


class TokenInvalid(AuthError):
    code = "TOKEN_INVALID"


class TokenExpired(AuthError):
    code = "TOKEN_EXPIRED"


class SessionRevoked(AuthError):
    code = "SESSION_REVOKED"


class RefreshTokenReused(AuthError):
    code = "REFRESH_TOKEN_REUSED"


class VerificationTokenInvalid(AuthError):
    """A link or token that is unknown, used, expired or of another purpose: one answer."""

    code = "VERIFICATION_TOKEN_INVALID"


class PasskeyVerificationFailed(AuthError):
    code = "PASSKEY_VERIFICATION_FAILED"


class SignupLimitReached(AuthError):
    code = "SIGNUP_LIMIT_REACHED"
