"""Sign-up and verification of the address.

Enumeration-safe: the answer to a sign-up is the same whether or not the address has an
account, and the first verification of an account keeps its sign-up password only when the
request proves it chose it (pre-registration takeover, ``email_verify``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import crypto, hooks
from accounts.emails import email_key, normalize_email
from accounts.exceptions import ReauthRequired, SignupLimitReached, VerificationTokenInvalid
from accounts.mailqueue import (
    OutgoingMail,
    mail_queue_store,
    mail_request_enqueue,
    outgoing_mail,
)
from accounts.models import (
    Kind,
    OneTimeToken,
    QueuedMailKind,
    TokenPurpose,
    User,
)
from accounts.one_time_tokens import (
    link_build,
    one_time_link_mail,
    one_time_token_consume,
    one_time_token_lock,
)
from accounts.outbox import outbox_enqueue_signup
from accounts.passwords import password_policy_check, password_reset_mail
from accounts.profile import email_change_confirm
from accounts.reauth import password_recheck
from accounts.recovery import address_claim
from mana_auth.clientip import RequestMeta
from mana_auth.links import trusted_callback
from security import lockout, ratelimit
from security.models import EventType
from security.services import security_event_record

logger = logging.getLogger("mana_auth.accounts")


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def signups_today(*, now: datetime | None = None) -> int:
    """Sign-ups since midnight UTC that count toward ``MAX_DAILY_SIGNUPS`` (no personas)."""
    start, _ = _today_bounds(now or timezone.now())
    return User.objects.filter(created_at__gte=start, kind=Kind.HUMAN).count()


def signup_status(*, now: datetime | None = None) -> dict[str, Any]:
    current = now or timezone.now()
    _, end = _today_bounds(current)
    cap = settings.MAX_DAILY_SIGNUPS
    if cap is None:
        return {"open": True, "remainingToday": None, "resetsAt": end}
    used = signups_today(now=current)
    remaining = max(0, cap - used)
    return {"open": remaining > 0, "remainingToday": remaining, "resetsAt": end}


def _signup_cap_enforce(now: datetime) -> None:
    if settings.MAX_DAILY_SIGNUPS is None:
        return
    with connection.cursor() as cursor:  # serialise counting so the cap is exact
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mana-auth:signup-cap'))")
    status = signup_status(now=now)
    if not status["open"]:
        raise SignupLimitReached(details={"resetsAt": status["resetsAt"].isoformat()})


def _verification_mail(
    *, user: User, callback_url: str = "", signup_binding: str = ""
) -> OutgoingMail | None:
    callback_url = trusted_callback(callback_url)
    payload = {"signup": signup_binding} if signup_binding else {}
    if callback_url:
        payload["callbackURL"] = callback_url  # a resend carries it too (_signup_payload_of)
    return one_time_link_mail(
        user=user,
        purpose=TokenPurpose.VERIFY_EMAIL,
        ttl=timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS),
        template="verify_email",
        link=lambda token: link_build(
            "/api/v1/auth/verify-email", token=token, callbackURL=callback_url
        ),
        context={"hours": settings.EMAIL_VERIFICATION_TTL_HOURS},
        payload=payload or None,
    )


def _verification_send(*, user: User, callback_url: str = "", signup_binding: str = "") -> None:
    mail = _verification_mail(user=user, callback_url=callback_url, signup_binding=signup_binding)
    if mail is not None:
        mail_queue_store(mail)


def signup_binding_make() -> tuple[str, str]:
    """``(secret, binding)``: the secret goes into an HttpOnly cookie of the browser that signs
    up, its hash into the account's verification links. A link opened where that cookie is
    proves the person who chose the password and the owner of the mailbox are one."""
    secret = crypto.make_opaque_token("su_")
    return secret, crypto.hash_token(secret)


def _signup_payload_of(user: User) -> dict[str, Any]:
    """The payload of the first verification link of ``user``: its sign-up's binding and
    callback."""
    payload = (
        OneTimeToken.objects.filter(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
        .order_by("created_at")
        .values_list("payload", flat=True)
        .first()
    )
    return payload if isinstance(payload, dict) else {}


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    name: str = "",
    locale: str = "en",
    meta: RequestMeta,
    kind: str = Kind.HUMAN,
    send_verification: bool = True,
    signup_binding: str = "",
    callback_url: str = "",
    now: datetime | None = None,
) -> tuple[User, bool]:
    """Create an account and its personal Space, or notify the existing owner.

    Returns ``(user, created)``. The HTTP answer is the same either way (no enumeration).
    ``signup_binding`` (``signup_binding_make``) ties the verification link to the browser
    that chose the password; ``callback_url`` (trusted origins only) rides in the mailed link.
    An existing address whose owner never verified it gets a link to choose a password instead
    of "sign in": that account's password was chosen by whoever signed up, not necessarily by
    the owner of the mailbox.
    """
    current = now or timezone.now()
    normalized = normalize_email(email)
    # Everything that can refuse a sign-up runs before we look the address up, and on the
    # request's own data only: an answer must never depend on whether the address exists.
    password_policy_check(password=password, user=User(email=normalized, name=name))
    if kind == Kind.HUMAN:
        _signup_cap_enforce(current)
    existing = User.objects.filter_email(normalized).first()
    if existing is None:
        user = _account_create(
            email=normalized,
            password=password,
            name=name,
            locale=locale,
            kind=kind,
            meta=meta,
            current=current,
        )
        if send_verification:
            _verification_send(user=user, signup_binding=signup_binding, callback_url=callback_url)
        return user, True
    # The same work as a new account, so the answer takes as long: the account is created
    # (one password hash, its personal Space, its event…) in a savepoint and rolled back, and
    # one mail row is queued. Which notice the owner gets, and whether (at most one an hour
    # per address: no mail bomb), is decided after the response (``signup_notice_mail_resolve``).
    _account_create_undone(
        email=normalized,
        password=password,
        name=name,
        locale=locale,
        kind=kind,
        meta=meta,
        current=current,
    )
    security_event_record(type=EventType.REGISTER_EXISTING, user=existing, meta=meta)
    callback_url = trusted_callback(callback_url)
    mail_request_enqueue(
        kind=QueuedMailKind.SIGNUP_NOTICE,
        email=existing.email,
        meta=meta,
        payload={"callbackURL": callback_url} if callback_url else None,
    )
    return existing, False


def _account_create(
    *,
    email: str,
    password: str,
    name: str,
    locale: str,
    kind: str,
    meta: RequestMeta,
    current: datetime,
) -> User:
    """The account, its personal Space, its event and its notices to other services."""
    user = User(email=email, name=name.strip(), locale=locale, kind=kind, created_at=current)
    user.set_password(password)
    user.save()
    hooks.user_created(user=user)  # the personal Space (spaces)
    security_event_record(type=EventType.REGISTER, user=user, meta=meta, metadata={"kind": kind})
    hooks.user_signed_up(user=user)  # best effort: the sync store's singletons (spaces)
    outbox_enqueue_signup(user=user)
    return user


class _Undo(Exception):
    """Rolls the savepoint of ``_account_create_undone`` back."""


def _account_create_undone(
    *,
    email: str,
    password: str,
    name: str,
    locale: str,
    kind: str,
    meta: RequestMeta,
    current: datetime,
) -> None:
    """Do a new account's work for a throwaway address and roll it back: a sign-up with a
    known address must cost what one with a new address costs, or its timing tells the two
    apart. What the creation schedules after commit goes with the savepoint.

    The throwaway address keeps ``email``'s local part (only the domain is random), so its
    personal Space looks for a free slug among the very slugs a new account with ``email``
    would read: a common local part (``info@``) reads as many rows either way."""
    local = email.rpartition("@")[0] or email
    try:
        with transaction.atomic():
            _account_create(
                email=f"{local}@{secrets.token_hex(8)}.sign-up.invalid",
                password=password,
                name=name,
                locale=locale,
                kind=kind,
                meta=meta,
                current=current,
            )
            raise _Undo
    except _Undo:
        pass


def sign_up(
    *,
    email: str,
    password: str,
    name: str,
    locale: str,
    meta: RequestMeta,
    callback_url: str = "",
) -> str:
    """The public sign-up (rate-limited per IP; the API's ``register`` and the sign-up page):
    ``user_register`` with a sign-up binding and the caller's ``callback_url`` (trusted
    origins only). Returns the secret for the browser's sign-up cookie, made for every address
    and used only by a new account, so the answer looks the same either way."""
    ratelimit.hit(ratelimit.REGISTER_IP, meta.ip)
    secret, binding = signup_binding_make()
    user_register(
        email=email,
        password=password,
        name=name,
        locale=locale,
        meta=meta,
        signup_binding=binding,
        callback_url=callback_url,
    )
    return secret


def verification_resend(
    *, email: str, meta: RequestMeta, callback_url: str = "", device_cookie: str | None = None
) -> None:
    """Queue a new verification link for ``email``; whether it has an unverified account is
    decided after the response (``verification_mail_resolve``), so every address costs the
    same here. A known device (``device_cookie``) has its own per-address budget
    (``lockout.email_budget_key``)."""
    ratelimit.hit(ratelimit.RESEND_IP, meta.ip)
    ratelimit.hit(ratelimit.RESEND_EMAIL, lockout.email_budget_key(email_key(email), device_cookie))
    callback_url = trusted_callback(callback_url)
    mail_request_enqueue(
        kind=QueuedMailKind.VERIFICATION,
        email=email,
        meta=meta,
        payload={"callbackURL": callback_url} if callback_url else None,
    )


def verification_mail_resolve(
    *, email: str, meta: RequestMeta, payload: dict[str, Any]
) -> OutgoingMail | None:
    """The queued resend for ``email``: a fresh link when it names an unverified account."""
    user = User.objects.filter_email(email).first()
    if user is None or user.email_verified or not user.is_active:
        return None
    # Bound to the browser that signed up, never to the one asking now: a resend requested by
    # someone else must not let the mailbox owner's click confirm a stranger's password. The
    # callback is the resend's, else the sign-up's (both trusted origins only).
    signup = _signup_payload_of(user)
    binding = signup.get("signup")
    return _verification_mail(
        user=user,
        signup_binding=binding if isinstance(binding, str) else "",
        callback_url=trusted_callback(payload.get("callbackURL"))
        or trusted_callback(signup.get("callbackURL")),
    )


def signup_notice_mail_resolve(
    *, email: str, meta: RequestMeta, payload: dict[str, Any]
) -> OutgoingMail | None:
    """The queued notice of a sign-up with an address that has an account: "someone tried to
    sign up" (verified), or a link to choose a password (never verified: its password was
    chosen by whoever signed up, see ``email_verify``). At most one an hour per address, in
    the shared state (every worker, Redis or PostgreSQL): repeated sign-ups with someone's
    address must not bomb their mailbox. The sign-up's answer never depends on it."""
    user = User.objects.filter_email(email).first()
    if user is None:
        return None
    if not ratelimit.allowed(ratelimit.SIGNUP_NOTICE_EMAIL, user.email_key):
        logger.info("sign-up notice skipped: one was sent to this address within the hour")
        return None
    if user.email_verified or not user.is_active:
        return outgoing_mail(
            to=user.email,
            name="signup_existing",
            locale=user.locale,
            kind=user.kind,
            context={"name": user.name or user.email},
        )
    return password_reset_mail(
        user=user,
        meta=meta,
        template="signup_pending",
        callback_url=trusted_callback(payload.get("callbackURL")),
    )


@dataclass(frozen=True)
class Verification:
    user: User
    password_removed: bool = False


SIGNUP_SECRETS_COMPARED = 3


def _signup_proven(
    *, record: OneTimeToken, user: User, signup_secret: str | None, password: str | None
) -> bool:
    """Did the request prove it is the one who chose the sign-up password?

    Either the link was opened in the browser that signed up (its cookie matches the binding
    in the link), or the request carries the password (checked like a re-authentication:
    wrong guesses are counted per account). A wrong password is refused outright.
    """
    binding = record.payload.get("signup") if isinstance(record.payload, dict) else None
    if isinstance(binding, str) and binding and isinstance(signup_secret, str) and signup_secret:
        # The cookie keeps the secrets of the browser's last few sign-ups, dot-separated
        # (``cookies.signup_cookie_value``): any of them binds. Every one is compared.
        matches = [
            hmac.compare_digest(crypto.hash_token(secret), binding)
            for secret in signup_secret.split(".")[:SIGNUP_SECRETS_COMPARED]
            if secret
        ]
        if any(matches):
            return True
    if password:
        if not password_recheck(user=user, password=password):
            raise ReauthRequired(
                message="The password is not correct.",
                details={"passwordRequired": True},
            )
        return True
    return False


def email_verify(
    *,
    token: str,
    meta: RequestMeta,
    signup_secret: str | None = None,
    password: str | None = None,
    without_password: bool = False,
) -> Verification:
    """Verify an address from its link.

    The first verification of an account must not hand a stranger's password the mailbox
    owner's account (pre-registration takeover): the password chosen at sign-up is kept only
    when this request proves it chose it (``_signup_proven``). Otherwise the request must say
    ``without_password`` — "I did not sign up, or I forgot the password" — and the address is
    claimed (``address_claim``): verified, the sign-up's password, sessions, factors and links
    void, and a link to choose a password mailed. Without either, REAUTH_REQUIRED with
    ``details.passwordRequired`` and nothing is used up (a mail scanner's GET changes nothing).
    """
    now = timezone.now()
    with transaction.atomic():
        record = one_time_token_lock(token=token, purpose=TokenPurpose.VERIFY_EMAIL, now=now)
        user = User.objects.select_for_update().get(pk=record.user_id)
        first = user.email_verified_at is None and user.is_active
        claim = False
        if first and user.has_usable_password():
            proven = _signup_proven(
                record=record, user=user, signup_secret=signup_secret, password=password
            )
            if not proven and not without_password:
                raise ReauthRequired(
                    message="Enter the password chosen at sign-up, or confirm without it.",
                    details={"passwordRequired": True},
                )
            claim = not proven
        one_time_token_consume(token=token, purpose=TokenPurpose.VERIFY_EMAIL, now=now)
        if claim:
            address_claim(user=user, meta=meta, via="verification_link")
        elif first:
            user.email_verified_at = now
            user.save(update_fields=["email_verified_at", "updated_at"])
            security_event_record(type=EventType.EMAIL_VERIFIED, user=user, meta=meta)
    return Verification(user=user, password_removed=claim)


def verify_token_any(
    *,
    token: str,
    meta: RequestMeta,
    signup_secret: str | None = None,
    password: str | None = None,
    without_password: bool = False,
) -> tuple[str, Verification]:
    """The verify-email link serves sign-up verification and email change confirmation."""
    if not isinstance(token, str) or not token:
        raise VerificationTokenInvalid()
    purpose = (
        OneTimeToken.objects.filter(token_hash=crypto.hash_token(token))
        .values_list("purpose", flat=True)
        .first()
    )
    if purpose == TokenPurpose.CHANGE_EMAIL:
        return "email_changed", Verification(user=email_change_confirm(token=token, meta=meta))
    verification = email_verify(
        token=token,
        meta=meta,
        signup_secret=signup_secret,
        password=password,
        without_password=without_password,
    )
    return ("password_removed" if verification.password_removed else "verified"), verification
