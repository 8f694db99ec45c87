"""Getting an account back: the reset link, "this wasn't me", and claiming an address.

A reset or a report retires every outstanding link and ends every session; factors someone else
may have added (passkeys, API keys, an authenticator) are revoked where the owner asks or the
situation demands it (``accounts.factors``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts import crypto, hooks
from accounts.emails import email_key
from accounts.exceptions import VerificationTokenInvalid
from accounts.factors import (
    FactorSummary,
    RevokedFactors,
    account_factors_revoke,
    account_factors_summary,
)
from accounts.mailqueue import (
    mail_queue_store,
)
from accounts.models import (
    ApiKey,
    OneTimeToken,
    Passkey,
    Role,
    TokenPurpose,
    User,
)
from accounts.one_time_tokens import (
    LINKS_RETIRED_BY_RECOVERY,
    one_time_token_consume,
    one_time_tokens_void,
)
from accounts.passwords import password_changed_notify, password_policy_check, password_reset_mail
from accounts.sessions import sessions_revoke_all
from mana_auth.clientip import RequestMeta
from security import lockout
from security.models import EventType, SecurityEvent
from security.services import security_event_record


@transaction.atomic
def address_claim(
    *, user: User, meta: RequestMeta, via: str, new_password: str = ""
) -> RevokedFactors:
    """The mailbox owner proved the address of a never-verified account without proving its
    sign-up password: make the account theirs.

    Whoever signed up chose the password, the name and — where unverified accounts may sign
    in (``REQUIRE_EMAIL_VERIFICATION=false``) — may have added sessions, passkeys, API keys,
    an authenticator, a vault, Spaces, memberships and invitations. All of it goes: the
    password becomes unusable (or ``new_password``, from a reset), every session ends, every
    factor is revoked and API keys deleted, every outstanding link dies, the name and picture
    are cleared, what the apps above registered for a claim is wiped (``hooks.address_claimed``:
    the vault; every Space the account owns alone, its memberships and sent invitations in the
    others, its rows in the sync store; a fresh personal Space), and the address is verified.
    A stranger's data must not stay on the owner's account (nor the owner's data later sit
    next to it). Unless a new password was set, a link to choose one is queued.
    """
    if new_password:
        user.set_password(new_password)
    else:
        user.set_unusable_password()
    user.email_verified_at = timezone.now()
    user.name, user.image = "", ""
    # An operator role granted before grants needed a verified address was the stranger's
    # account's, not the owner's: it does not survive the claim.
    operator_removed = user.role == Role.ADMIN or user.is_staff or user.is_superuser
    user.role, user.is_staff, user.is_superuser = Role.USER, False, False
    user.save(
        update_fields=[
            "password",
            "email_verified_at",
            "name",
            "image",
            "role",
            "is_staff",
            "is_superuser",
            "updated_at",
        ]
    )
    one_time_tokens_void(user=user, purposes=tuple(TokenPurpose.values))
    sessions = sessions_revoke_all(user=user, meta=meta, reason="address_claimed")
    revoked = account_factors_revoke(user=user, meta=meta, reason="address_claimed")
    ApiKey.objects.filter(user=user).delete()  # revoked above; the list starts empty
    wiped = hooks.address_claimed(user=user, meta=meta)
    lockout.unlock(email_key=email_key(user.email))
    security_event_record(
        type=EventType.ADDRESS_CLAIMED,
        user=user,
        meta=meta,
        metadata={
            "via": via,
            "sessionCount": sessions,
            "passkeyCount": revoked.passkeys,
            "apiKeyCount": revoked.api_keys,
            "totpRemoved": revoked.totp,
            "operatorRemoved": operator_removed,
            **wiped,
        },
    )
    security_event_record(
        type=EventType.EMAIL_VERIFIED, user=user, meta=meta, metadata={"via": via}
    )
    if not new_password:
        mail = password_reset_mail(user=user, meta=meta, template="address_claimed")
        if mail is not None:
            mail_queue_store(mail)
    return revoked


@dataclass(frozen=True)
class PasswordResetResult:
    user: User
    revoked: RevokedFactors | None  # set when passkeys, API keys and 2FA were revoked
    reason: str = ""  # why: "requested", "compromise_reported", "address_claimed"


@transaction.atomic
def password_reset(
    *, token: str, new_password: str, meta: RequestMeta, revoke_factors: bool = False
) -> PasswordResetResult:
    """Set a new password from a reset link; every session ends, every outstanding link dies,
    any lock clears, and the owner is told what can still sign in.

    Passkeys, API keys and 2FA are revoked too when the caller asks (``revoke_factors``), after
    a "this wasn't me" report not yet followed by a reset, and when this reset is the first
    proof of the address (the factors then came from whoever signed up: ``address_claim``).
    """
    record = one_time_token_consume(token=token, purpose=TokenPurpose.RESET_PASSWORD)
    user = User.objects.select_for_update().get(pk=record.user_id)
    password_policy_check(password=new_password, user=user)
    if user.email_verified_at is None:
        # The reset link proves the address and the new password is the owner's: a claim.
        revoked: RevokedFactors | None = address_claim(
            user=user, meta=meta, via="password_reset", new_password=new_password
        )
        reason = "address_claimed"
    else:
        reported = compromise_report_pending(user=user)
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        one_time_tokens_void(user=user, purposes=LINKS_RETIRED_BY_RECOVERY)
        sessions_revoke_all(user=user, meta=meta, reason="password_reset")
        lockout.unlock(email_key=email_key(user.email))
        revoked, reason = None, ""
        if reported or revoke_factors:
            reason = "compromise_reported" if reported else "requested"
            revoked = account_factors_revoke(user=user, meta=meta, reason=reason)
    security_event_record(
        type=EventType.PASSWORD_RESET,
        user=user,
        meta=meta,
        metadata={"factorsRevoked": revoked is not None, "reason": reason},
    )
    password_changed_notify(user=user, how="reset")
    return PasswordResetResult(user=user, revoked=revoked, reason=reason)


def compromise_report_pending(*, user: User) -> bool:
    """Whether the owner reported "this wasn't me" and has not reset the password since."""
    latest = (
        SecurityEvent.objects.filter(
            user=user,
            type__in=(EventType.ACCOUNT_COMPROMISE_REPORTED, EventType.PASSWORD_RESET),
        )
        .order_by("-created_at")
        .values_list("type", flat=True)
        .first()
    )
    return latest == EventType.ACCOUNT_COMPROMISE_REPORTED


@dataclass(frozen=True)
class CompromiseReport:
    user: User
    sessions: int
    revoked: RevokedFactors


@transaction.atomic
def compromise_report(*, token: str, meta: RequestMeta) -> CompromiseReport:
    """The owner says a change in a security notice was not theirs: lock the intruder out.

    Whoever made the change may know the password and may have added ways back in, so the
    password becomes unusable, every session ends, passkeys and API keys are revoked, and every
    outstanding link dies (a pending change-email link above all). The authenticator stays
    until the reset that follows — it still guards a magic-link sign-in meanwhile — and that
    reset revokes it, the backup codes and anything added since (``password_reset``). A link to
    choose a new password is queued. One report per notice link; the other report links die.
    """
    record = one_time_token_consume(token=token, purpose=TokenPurpose.REPORT_COMPROMISE)
    user = User.objects.select_for_update().get(pk=record.user_id)
    if not user.is_active:
        raise VerificationTokenInvalid()
    user.set_unusable_password()
    user.save(update_fields=["password", "updated_at"])
    one_time_tokens_void(user=user, purposes=tuple(TokenPurpose.values))
    sessions = sessions_revoke_all(user=user, meta=meta, reason="compromise_reported")
    now = timezone.now()
    _, deleted = Passkey.objects.filter(user=user).delete()
    api_keys = ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    revoked = RevokedFactors(
        passkeys=deleted.get(Passkey._meta.label, 0), api_keys=api_keys, totp=False
    )
    security_event_record(
        type=EventType.ACCOUNT_COMPROMISE_REPORTED,
        user=user,
        meta=meta,
        metadata={
            "sessionCount": sessions,
            "passkeyCount": revoked.passkeys,
            "apiKeyCount": revoked.api_keys,
        },
    )
    mail = password_reset_mail(user=user, meta=meta, template="compromise_reported")
    if mail is not None:
        mail_queue_store(mail)
    return CompromiseReport(user=user, sessions=sessions, revoked=revoked)


@dataclass(frozen=True)
class ResetPreview:
    user: User
    factors: FactorSummary
    compromise_reported: bool  # a "this wasn't me" report awaits this reset
    revokes_factors: bool  # the reset revokes passkeys, API keys and 2FA whatever is chosen
    # The reset is an address claim (never verified): it also deletes the account's Spaces,
    # their data, its sync rows and its encryption vault (``address_claim``), which the page
    # must say before the password is chosen.
    claim_wipes: bool = False


def password_reset_preview(*, token: str) -> ResetPreview:
    """What the reset page shows before the new password is chosen, without using the link:
    the account's passkeys, API keys and 2FA state, whether a reset will revoke them anyway
    (a pending "this wasn't me" report, or an address never verified), and whether it is an
    address claim that also deletes the account's Spaces, sync data and vault."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise VerificationTokenInvalid()
    record = (
        OneTimeToken.objects.select_related("user")
        .filter(
            token_hash=crypto.hash_token(token),
            purpose=TokenPurpose.RESET_PASSWORD,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if record is None or not record.user.is_active:
        raise VerificationTokenInvalid()
    user = record.user
    reported = compromise_report_pending(user=user)
    return ResetPreview(
        user=user,
        factors=account_factors_summary(user=user),
        compromise_reported=reported,
        revokes_factors=reported or not user.email_verified,
        claim_wipes=not user.email_verified,
    )
