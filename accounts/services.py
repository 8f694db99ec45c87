"""Writes for accounts: sign-up, verification, sign-in, sessions, self-service.

Every service is atomic and records its security event in the same transaction. Only genuine
credential failures touch a lockout counter; anything else propagates and is classified by the
exception handler (a broken database is a 503, never an "invalid credentials").
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts import crypto, signing_keys
from accounts.emails import email_key, normalize_email
from accounts.factors import (
    FactorSummary,
    RevokedFactors,
    account_factors_revoke,
    account_factors_summary,
)
from accounts.mailqueue import (
    OutgoingMail,
    mail_enqueue,
    mail_queue_store,
    mail_request_enqueue,
    outgoing_mail,
)
from accounts.models import (
    ApiKey,
    Kind,
    OneTimeToken,
    Passkey,
    QueuedMailKind,
    RefreshToken,
    Session,
    TokenPurpose,
    User,
)
from accounts.selectors import SESSION_USER_SELECT, session_user_fetch
from accounts.validators import MAX_PASSWORD_BYTES
from mana_auth.clientip import RequestMeta
from mana_auth.errors import AuthError, Conflict, ValidationFailed
from mana_auth.links import page_link, trusted_callback
from mana_auth.mail import send_mail
from security import lockout, ratelimit
from security.models import EventType, LoginAttempt, SecurityEvent
from security.services import security_event_record

logger = logging.getLogger("mana_auth.accounts")


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: what the view renders and which cookies it sets."""

    user: User
    session: Session
    tokens: TokenPair
    cookie_value: str
    device_cookie: str | None = None


# --- Tokens -----------------------------------------------------------------------------------


def access_token_mint(*, user: User, session: Session, now: datetime | None = None) -> str:
    kid, private_key = signing_keys.active_signing_key()
    claims = crypto.access_claims(
        user_id=user.id,
        email=user.email,
        role=user.role,
        tier=user.access_tier,
        session_id=session.id,
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        now=now or timezone.now(),
        ttl_seconds=settings.JWT_ACCESS_TTL_SECONDS,
    )
    return crypto.sign_access_token(private_key=private_key, kid=kid, claims=claims)


def _refresh_token_issue(*, session: Session, now: datetime) -> str:
    token = crypto.make_opaque_token("rt_")
    RefreshToken.objects.create(
        token_hash=crypto.hash_token(token),
        session=session,
        created_at=now,
        expires_at=min(session.expires_at, now + timedelta(days=settings.REFRESH_TTL_DAYS)),
    )
    return token


def _token_pair(*, user: User, session: Session, now: datetime) -> TokenPair:
    return TokenPair(
        access_token=access_token_mint(user=user, session=session, now=now),
        refresh_token=_refresh_token_issue(session=session, now=now),
        expires_in=settings.JWT_ACCESS_TTL_SECONDS,
    )


# --- One-time tokens --------------------------------------------------------------------------


def one_time_token_issue(
    *,
    user: User,
    purpose: TokenPurpose,
    ttl: timedelta,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    """Issue a single-use token (256 random bits); only its hash is stored."""
    current = now or timezone.now()
    token = crypto.make_opaque_token()
    OneTimeToken.objects.create(
        token_hash=crypto.hash_token(token),
        purpose=purpose,
        user=user,
        payload=payload or {},
        created_at=current,
        expires_at=current + ttl,
    )
    return token


def one_time_token_consume(
    *, token: str, purpose: TokenPurpose, now: datetime | None = None
) -> OneTimeToken:
    """Use a token exactly once. Unknown, used, expired or wrong-purpose → one error."""
    current = now or timezone.now()
    if not isinstance(token, str) or not token or len(token) > 200:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    token_hash = crypto.hash_token(token)
    # A conditional UPDATE is the single-use guarantee: of two concurrent uses, one row wins.
    claimed = OneTimeToken.objects.filter(
        token_hash=token_hash, purpose=purpose, used_at__isnull=True, expires_at__gt=current
    ).update(used_at=current)
    if claimed != 1:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    return OneTimeToken.objects.select_related("user").get(token_hash=token_hash)


def _one_time_tokens_void(*, user: User, purposes: tuple[str, ...]) -> None:
    """Retire a user's outstanding links of these purposes (credentials or address changed)."""
    OneTimeToken.objects.filter(user=user, purpose__in=purposes, used_at__isnull=True).update(
        used_at=timezone.now()
    )


def _link(path: str, **params: str) -> str:
    """Links are built from BASE_URL, never from the request's Host header."""
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{settings.BASE_URL}{path}" + (f"?{query}" if query else "")


# --- Password policy --------------------------------------------------------------------------


def password_policy_check(*, password: str, user: User) -> None:
    if not isinstance(password, str) or len(password.encode()) > MAX_PASSWORD_BYTES:
        raise AuthError(code="WEAK_PASSWORD", details={"reasons": ["This password is too long."]})
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise AuthError(code="WEAK_PASSWORD", details={"reasons": list(exc.messages)}) from exc
    from security.breached import password_breach_count

    if password_breach_count(password) > 0:
        raise AuthError(
            code="WEAK_PASSWORD",
            details={"reasons": ["This password has appeared in a data breach."]},
        )


@lru_cache(maxsize=1)
def _dummy_hash(params: tuple[int, int, int]) -> str:
    return make_password(crypto.make_opaque_token())


def _burn_password_check(password: str) -> None:
    """Run the hasher once for an unknown account, so timing does not tell it is unknown."""
    check_password(
        password,
        _dummy_hash(
            (
                settings.ARGON2_MEMORY_COST_KIB,
                settings.ARGON2_TIME_COST,
                settings.ARGON2_PARALLELISM,
            )
        ),
    )


# --- Registration -----------------------------------------------------------------------------


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def signup_status(*, now: datetime | None = None) -> dict[str, Any]:
    current = now or timezone.now()
    start, end = _today_bounds(current)
    cap = settings.MAX_DAILY_SIGNUPS
    if cap is None:
        return {"open": True, "remainingToday": None, "resetsAt": end}
    used = User.objects.filter(created_at__gte=start, kind=Kind.HUMAN).count()
    remaining = max(0, cap - used)
    return {"open": remaining > 0, "remainingToday": remaining, "resetsAt": end}


def _signup_cap_enforce(now: datetime) -> None:
    if settings.MAX_DAILY_SIGNUPS is None:
        return
    with connection.cursor() as cursor:  # serialise counting so the cap is exact
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mana-auth:signup-cap'))")
    status = signup_status(now=now)
    if not status["open"]:
        raise AuthError(
            code="SIGNUP_LIMIT_REACHED", details={"resetsAt": status["resetsAt"].isoformat()}
        )


def _verification_mail(
    *, user: User, callback_url: str = "", signup_binding: str = ""
) -> OutgoingMail | None:
    ttl = timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS)
    callback_url = trusted_callback(callback_url)
    payload = {"signup": signup_binding} if signup_binding else {}
    if callback_url:
        payload["callbackURL"] = callback_url  # a resend carries it too (_signup_payload_of)
    token = one_time_token_issue(
        user=user, purpose=TokenPurpose.VERIFY_EMAIL, ttl=ttl, payload=payload or None
    )
    return outgoing_mail(
        to=user.email,
        name="verify_email",
        locale=user.locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "link": _link("/api/v1/auth/verify-email", token=token, callbackURL=callback_url),
            "hours": settings.EMAIL_VERIFICATION_TTL_HOURS,
        },
        expires_at=timezone.now() + ttl,
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


def _signup_binding_of(user: User) -> str:
    """The binding of the sign-up that created ``user`` (its first verification link)."""
    binding = _signup_payload_of(user).get("signup")
    return binding if isinstance(binding, str) else ""


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
    if existing is not None:
        make_password(password)  # the same hashing work as a real sign-up
        security_event_record(type=EventType.REGISTER_EXISTING, user=existing, meta=meta)
        if existing.email_verified or not existing.is_active:
            mail_enqueue(
                to=existing.email,
                name="signup_existing",
                locale=existing.locale,
                kind=existing.kind,
                context={"name": existing.name or existing.email},
            )
        else:
            mail = password_reset_mail(
                user=existing, meta=meta, template="signup_pending", callback_url=callback_url
            )
            if mail is not None:
                mail_queue_store(mail)
        return existing, False
    user = User(email=normalized, name=name.strip(), locale=locale, kind=kind, created_at=current)
    user.set_password(password)
    user.save()
    from spaces.services import personal_space_ensure

    personal_space_ensure(user=user)
    security_event_record(type=EventType.REGISTER, user=user, meta=meta, metadata={"kind": kind})
    _after_signup_hooks(user)
    if send_verification:
        _verification_send(user=user, signup_binding=signup_binding, callback_url=callback_url)
    return user, True


def _after_signup_hooks(user: User) -> None:
    """Best-effort side effects that must never abort sign-up (sync store, other services)."""
    from spaces.services import sync_singletons_bootstrap_for_signup

    sync_singletons_bootstrap_for_signup(user=user)
    from accounts.outbox import outbox_enqueue_signup

    outbox_enqueue_signup(user=user)


def verification_resend(*, email: str, meta: RequestMeta, callback_url: str = "") -> None:
    """Queue a new verification link for ``email``; whether it has an unverified account is
    decided after the response (``verification_mail_resolve``), so every address costs the
    same here."""
    ratelimit.hit(ratelimit.RESEND_IP, meta.ip)
    ratelimit.hit(ratelimit.RESEND_EMAIL, email_key(email))
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


@dataclass(frozen=True)
class Verification:
    user: User
    password_removed: bool = False


def _live_token(*, token: str, purpose: TokenPurpose, now: datetime) -> OneTimeToken:
    """The unused, unexpired token of this purpose, locked; else VERIFICATION_TOKEN_INVALID."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    record = (
        OneTimeToken.objects.select_for_update()
        .filter(
            token_hash=crypto.hash_token(token),
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=now,
        )
        .first()
    )
    if record is None:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    return record


def _signup_proven(
    *, record: OneTimeToken, user: User, signup_secret: str | None, password: str | None
) -> bool:
    """Did the request prove it is the one who chose the sign-up password?

    Either the link was opened in the browser that signed up (its cookie matches the binding
    in the link), or the request carries the password (checked like a re-authentication:
    wrong guesses are counted per account). A wrong password is refused outright.
    """
    binding = record.payload.get("signup") if isinstance(record.payload, dict) else None
    if (
        isinstance(binding, str)
        and binding
        and isinstance(signup_secret, str)
        and signup_secret
        and hmac.compare_digest(crypto.hash_token(signup_secret), binding)
    ):
        return True
    if password:
        if not password_recheck(user=user, password=password):
            raise AuthError(
                code="REAUTH_REQUIRED",
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
        record = _live_token(token=token, purpose=TokenPurpose.VERIFY_EMAIL, now=now)
        user = User.objects.select_for_update().get(pk=record.user_id)
        first = user.email_verified_at is None and user.is_active
        claim = False
        if first and user.has_usable_password():
            proven = _signup_proven(
                record=record, user=user, signup_secret=signup_secret, password=password
            )
            if not proven and not without_password:
                raise AuthError(
                    code="REAUTH_REQUIRED",
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


@transaction.atomic
def address_claim(
    *, user: User, meta: RequestMeta, via: str, new_password: str = ""
) -> RevokedFactors:
    """The mailbox owner proved the address of a never-verified account without proving its
    sign-up password: make the account theirs.

    Whoever signed up chose the password, the name and — where unverified accounts may sign
    in (``REQUIRE_EMAIL_VERIFICATION=false``) — may have added sessions, passkeys, API keys or
    an authenticator. All of it goes: the password becomes unusable (or ``new_password``, from
    a reset), every session ends, every factor is revoked, every outstanding link dies, the
    name and picture are cleared, the address is verified. Data stays (Spaces, vault): it is
    not a credential, and the owner may have put it there. Unless a new password was set, a
    link to choose one is queued.
    """
    if new_password:
        user.set_password(new_password)
    else:
        user.set_unusable_password()
    user.email_verified_at = timezone.now()
    user.name, user.image = "", ""
    user.save(update_fields=["password", "email_verified_at", "name", "image", "updated_at"])
    _one_time_tokens_void(user=user, purposes=tuple(TokenPurpose.values))
    sessions = sessions_revoke_all(user=user, meta=meta, reason="address_claimed")
    revoked = account_factors_revoke(user=user, meta=meta, reason="address_claimed")
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


# --- Sign-in ----------------------------------------------------------------------------------


# savepoint=False: callers that open their own transaction (passkey sign-in) get one commit,
# not a SAVEPOINT round trip on top; an error here still rolls the whole transaction back.
@transaction.atomic(savepoint=False)
def session_start(
    *, user: User, meta: RequestMeta, method: str, now: datetime | None = None
) -> SignIn:
    """Create a server-side session and its first token pair. Records LOGIN_SUCCESS."""
    current = now or timezone.now()
    cookie_value = crypto.make_opaque_token("st_")
    session = Session.objects.create(
        user=user,
        cookie_hash=crypto.hash_token(cookie_value),
        ip_address=meta.ip,
        user_agent=meta.user_agent,
        auth_method=method,
        auth_time=current,
        created_at=current,
        last_used_at=current,
        expires_at=current + timedelta(days=settings.SESSION_ABSOLUTE_TTL_DAYS),
    )
    tokens = _token_pair(user=user, session=session, now=current)
    security_event_record(
        type=EventType.LOGIN_SUCCESS,
        user=user,
        meta=meta,
        metadata={"method": method, "sessionId": str(session.id)},
    )
    return SignIn(user=user, session=session, tokens=tokens, cookie_value=cookie_value)


def first_factor_passed(
    *, user: User, meta: RequestMeta, method: str, lockout_scope: str | None = None
) -> SignIn:
    """A first factor checked out: finish the sign-in, or demand the second factor.

    ``lockout_scope`` is the lockout counter the first factor was checked against; wrong
    second-factor codes count toward it, and ``login/mfa`` refuses while it is locked.
    """
    from security.mfa import mfa_challenge_issue, mfa_methods_for_user

    methods = mfa_methods_for_user(user=user)
    if methods:
        mfa_token = mfa_challenge_issue(
            user=user,
            first_factor=method,
            lockout_scope=lockout_scope or lockout.scope_for(email_key(user.email), None),
        )
        raise AuthError(code="MFA_REQUIRED", details={"mfaToken": mfa_token, "methods": methods})
    return session_start(user=user, meta=meta, method=method)


def login_failure_record(
    *,
    key: str,
    scope: str,
    user: User | None,
    meta: RequestMeta,
    reason: str,
    known_device: bool,
) -> None:
    """Count a genuine credential failure and write its audit rows (own transaction, so the
    count survives the error response that follows)."""
    with transaction.atomic():
        outcome = lockout.failure_record(scope=scope, email_key=key)
        LoginAttempt.objects.create(
            email_key=key,
            user=user,
            ip_address=meta.ip,
            user_agent=meta.user_agent,
            success=False,
            reason=reason,
            known_device=known_device,
        )
        if user is not None:
            security_event_record(
                type=EventType.LOGIN_FAILURE,
                user=user,
                meta=meta,
                metadata={"reason": reason, "failures": outcome.failures},
            )
            if outcome.locked_now:
                security_event_record(
                    type=EventType.ACCOUNT_LOCKED,
                    user=user,
                    meta=meta,
                    metadata={"scope": "device" if known_device else "account"},
                )
                mail_enqueue(
                    to=user.email,
                    name="account_locked",
                    locale=user.locale,
                    kind=user.kind,
                    context={
                        "name": user.name or user.email,
                        "minutes": settings.LOCKOUT_DURATION_SECONDS // 60,
                    },
                )
    ratelimit.hit(ratelimit.LOGIN_FAILURES_IP, meta.ip)


def password_login(
    *, email: str, password: str, meta: RequestMeta, device_cookie: str | None = None
) -> SignIn:
    """Email + password. Unknown email and wrong password look the same, in body and time."""
    key = email_key(email)
    ratelimit.hit(ratelimit.LOGIN_IP, meta.ip)
    ratelimit.check(ratelimit.LOGIN_FAILURES_IP, meta.ip)
    ratelimit.hit(ratelimit.LOGIN_EMAIL, key)
    device_id = lockout.device_id_from_cookie(device_cookie, key)
    scope = lockout.scope_for(key, device_id)
    has_counter, remaining = lockout.throttle_state(scope)
    if remaining:
        raise AuthError(code="ACCOUNT_LOCKED", details={"remainingSeconds": remaining})
    user = User.objects.filter_email(email).first() if key else None
    if user is None or not isinstance(password, str):
        _burn_password_check(password if isinstance(password, str) else "")
        login_failure_record(
            key=key,
            scope=scope,
            user=None,
            meta=meta,
            reason="unknown",
            known_device=device_id is not None,
        )
        raise AuthError(code="INVALID_CREDENTIALS")
    if not user.check_password(password) or not user.is_active:
        login_failure_record(
            key=key,
            scope=scope,
            user=user,
            meta=meta,
            reason="password",
            known_device=device_id is not None,
        )
        raise AuthError(code="INVALID_CREDENTIALS")
    if settings.REQUIRE_EMAIL_VERIFICATION and not user.email_verified:
        raise AuthError(code="EMAIL_NOT_VERIFIED")
    sign_in = first_factor_passed(user=user, meta=meta, method="password", lockout_scope=scope)
    # Only a completed sign-in resets the count: with a second factor pending (MFA_REQUIRED was
    # raised above), the count stands until ``login/mfa`` succeeds, so wrong codes add up.
    # Successes are recorded as LOGIN_SUCCESS events; LoginAttempt rows hold the failures.
    if has_counter:
        lockout.success_record(scope=scope)
    return SignIn(
        user=sign_in.user,
        session=sign_in.session,
        tokens=sign_in.tokens,
        cookie_value=sign_in.cookie_value,
        device_cookie=device_cookie if device_id else lockout.device_cookie_make(key),
    )


# --- Sessions ---------------------------------------------------------------------------------


def _session_revoke_rows(*, sessions: Any, reason: str, now: datetime) -> list[uuid.UUID]:
    ids = list(sessions.filter(revoked_at__isnull=True).values_list("id", flat=True))
    if ids:
        Session.objects.filter(id__in=ids).update(revoked_at=now, revoked_reason=reason)
        from accounts.selectors import session_cache_forget

        session_cache_forget(ids)
    return ids


_CLAIM_SQL = (
    "WITH claimed AS ("  # noqa: S608 - constants built from the models
    " UPDATE accounts_refresh_token SET used_at = %s"
    " WHERE token_hash = %s AND used_at IS NULL AND expires_at > %s"
    " RETURNING session_id) "
    + SESSION_USER_SELECT
    + " WHERE s.id = (SELECT session_id FROM claimed)"
)
_ROTATE_SQL = (
    "WITH touched AS (UPDATE accounts_session SET last_used_at = %s WHERE id = %s)"
    " INSERT INTO accounts_refresh_token (token_hash, session_id, created_at, expires_at, used_at)"
    " VALUES (%s, %s, %s, %s, NULL)"
)


def _refresh_claim(*, token_hash: str, now: datetime) -> Session | None:
    """Mark the token used and load its session and user, in one statement.

    The conditional UPDATE is the single-use guarantee: of two concurrent refreshes with the
    same token, exactly one gets the row back.
    """
    return session_user_fetch(_CLAIM_SQL, [now, token_hash, now])


def session_refresh(*, refresh_token: str, meta: RequestMeta) -> tuple[User, TokenPair]:
    """Rotate a refresh token. A replayed (already used) token revokes the whole session."""
    now = timezone.now()
    if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 200:
        raise AuthError(code="TOKEN_INVALID")
    token_hash = crypto.hash_token(refresh_token)
    with transaction.atomic():
        session = _refresh_claim(token_hash=token_hash, now=now)
        if session is not None:
            user = session.user
            idle_limit = session.last_used_at + timedelta(days=settings.SESSION_IDLE_TTL_DAYS)
            if not session.is_live(now) or not user.is_active or idle_limit <= now:
                raise AuthError(code="SESSION_REVOKED")
            new_token = crypto.make_opaque_token("rt_")
            expires_at = min(session.expires_at, now + timedelta(days=settings.REFRESH_TTL_DAYS))
            with connection.cursor() as cursor:
                cursor.execute(
                    _ROTATE_SQL,
                    [now, session.id, crypto.hash_token(new_token), session.id, now, expires_at],
                )
            pair = TokenPair(
                access_token=access_token_mint(user=user, session=session, now=now),
                refresh_token=new_token,
                expires_in=settings.JWT_ACCESS_TTL_SECONDS,
            )
            return user, pair
    record = (
        RefreshToken.objects.select_related("session", "session__user")
        .filter(token_hash=token_hash)
        .first()
    )
    if record is None:
        raise AuthError(code="TOKEN_INVALID")
    if record.used_at is None:  # unused but expired
        raise AuthError(code="TOKEN_EXPIRED")
    _refresh_reuse_handle(session=record.session, user=record.session.user, meta=meta, now=now)
    raise AuthError(code="REFRESH_TOKEN_REUSED")


@transaction.atomic
def _refresh_reuse_handle(
    *, session: Session, user: User, meta: RequestMeta, now: datetime
) -> None:
    revoked = _session_revoke_rows(
        sessions=Session.objects.filter(id=session.id), reason="refresh_reuse", now=now
    )
    security_event_record(
        type=EventType.REFRESH_TOKEN_REUSED,
        user=user,
        meta=meta,
        metadata={"sessionId": str(session.id)},
    )
    if revoked:
        send_mail(
            to=user.email,
            name="refresh_reuse",
            locale=user.locale,
            kind=user.kind,
            context={
                "name": user.name or user.email,
                "report_link": security_report_link(user=user),
            },
        )


@transaction.atomic
def session_revoke(
    *, user: User, session: Session, meta: RequestMeta, reason: str = "logout"
) -> None:
    revoked = _session_revoke_rows(
        sessions=Session.objects.filter(id=session.id, user=user), reason=reason, now=timezone.now()
    )
    if revoked:
        security_event_record(
            type=EventType.LOGOUT if reason == "logout" else EventType.SESSION_REVOKED,
            user=user,
            meta=meta,
            metadata={"sessionId": str(session.id), "reason": reason},
        )


@transaction.atomic
def sessions_revoke_all(
    *, user: User, meta: RequestMeta, reason: str, keep: Session | None = None
) -> int:
    sessions = Session.objects.filter(user=user)
    if keep is not None:
        sessions = sessions.exclude(id=keep.id)
    revoked = _session_revoke_rows(sessions=sessions, reason=reason, now=timezone.now())
    if revoked:
        security_event_record(
            type=EventType.SESSION_REVOKED,
            user=user,
            meta=meta,
            metadata={"count": len(revoked), "reason": reason},
        )
    return len(revoked)


@transaction.atomic
def session_to_token(*, session: Session) -> TokenPair:
    """Trade the SSO cookie's session for a token pair (apps on other subdomains)."""
    now = timezone.now()
    Session.objects.filter(id=session.id).update(last_used_at=now)
    return _token_pair(user=session.user, session=session, now=now)


# --- Re-authentication ------------------------------------------------------------------------


def password_recheck(*, user: User, password: str | None) -> bool:
    """Check a signed-in user's password (re-authentication, password/email change, account
    deletion). Wrong guesses are counted per user: a stolen access token must not become an
    unlimited password oracle."""
    ratelimit.check(ratelimit.REAUTH_USER, str(user.pk))
    if isinstance(password, str) and password and user.check_password(password):
        return True
    ratelimit.hit(ratelimit.REAUTH_USER, str(user.pk))
    return False


def reauth_require(*, user: User, session: Session | None, password: str | None) -> None:
    """Sensitive actions need the current password now, or a sign-in within the window."""
    if password:
        if not password_recheck(user=user, password=password):
            raise AuthError(code="REAUTH_REQUIRED", message="The password is not correct.")
        return
    if session is not None:
        window = timedelta(seconds=settings.REAUTH_WINDOW_SECONDS)
        if session.auth_time + window > timezone.now():
            return
    raise AuthError(code="REAUTH_REQUIRED")


def session_mark_authenticated(*, session: Session, method: str) -> None:
    """Record a fresh first-factor check on an existing session (re-authentication)."""
    Session.objects.filter(id=session.id).update(auth_time=timezone.now(), auth_method=method)


# --- Password reset and change ----------------------------------------------------------------


def password_forgot(*, email: str, meta: RequestMeta, callback_url: str = "") -> None:
    """Queue a reset link for ``email``; whether it has an account is decided after the
    response (``password_reset_mail_resolve``), so every address costs the same here."""
    ratelimit.hit(ratelimit.FORGOT_IP, meta.ip)
    ratelimit.hit(ratelimit.FORGOT_EMAIL, email_key(email))
    callback_url = trusted_callback(callback_url)
    mail_request_enqueue(
        kind=QueuedMailKind.PASSWORD_RESET,
        email=email,
        meta=meta,
        payload={"callbackURL": callback_url} if callback_url else None,
    )


def password_reset_mail(
    *, user: User, meta: RequestMeta, template: str = "reset_password", callback_url: str = ""
) -> OutgoingMail | None:
    """Issue a reset link for ``user`` and render its mail (the caller queues or sends it).

    ``template``: ``reset_password``, or a mail that explains why a password must be chosen
    (``signup_pending``, ``address_claimed``, ``compromise_reported``) around the same link.
    """
    ttl = timedelta(minutes=settings.PASSWORD_RESET_TTL_MINUTES)
    token = one_time_token_issue(user=user, purpose=TokenPurpose.RESET_PASSWORD, ttl=ttl)
    security_event_record(type=EventType.PASSWORD_RESET_REQUESTED, user=user, meta=meta)
    return outgoing_mail(
        to=user.email,
        name=template,
        locale=user.locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "link": page_link("/reset-password", token=token, callbackURL=callback_url),
            "minutes": settings.PASSWORD_RESET_TTL_MINUTES,
        },
        expires_at=timezone.now() + ttl,
    )


def password_reset_mail_resolve(
    *, email: str, meta: RequestMeta, payload: dict[str, Any]
) -> OutgoingMail | None:
    """The queued forgot-password request for ``email``: a link when it names an account."""
    user = User.objects.filter_email(email).first()
    if user is None or not user.is_active:
        return None
    return password_reset_mail(
        user=user, meta=meta, callback_url=trusted_callback(payload.get("callbackURL"))
    )


# Every link a recovery retires: whoever held the account may have asked for any of them (a
# pending change-email link would move the recovered account to the attacker's address). Only
# "this wasn't me" links survive: they are the owner's way to report what just happened.
_LINKS_RETIRED_BY_RECOVERY = tuple(
    purpose for purpose in TokenPurpose.values if purpose != TokenPurpose.REPORT_COMPROMISE
)


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
        _one_time_tokens_void(user=user, purposes=_LINKS_RETIRED_BY_RECOVERY)
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
    _password_changed_notify(user=user, how="reset")
    return PasswordResetResult(user=user, revoked=revoked, reason=reason)


def password_change(
    *, user: User, session: Session, current_password: str, new_password: str, meta: RequestMeta
) -> None:
    # Checked before the transaction opens: a wrong password's count must outlive the refusal
    # (without Redis the counter is a row, and a rollback would take it back).
    if not password_recheck(user=user, password=current_password):
        raise AuthError(code="REAUTH_REQUIRED", message="The current password is not correct.")
    _password_change(user=user, session=session, new_password=new_password, meta=meta)


@transaction.atomic
def _password_change(*, user: User, session: Session, new_password: str, meta: RequestMeta) -> None:
    password_policy_check(password=new_password, user=user)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    _one_time_tokens_void(user=user, purposes=_LINKS_RETIRED_BY_RECOVERY)
    sessions_revoke_all(user=user, meta=meta, reason="password_changed", keep=session)
    session_mark_authenticated(session=session, method="password")
    security_event_record(type=EventType.PASSWORD_CHANGED, user=user, meta=meta)
    _password_changed_notify(user=user, how="change")


def _password_changed_notify(*, user: User, how: str) -> None:
    """The "password changed" mail: what can still sign in, and a "this wasn't me" link.

    Queued in the change's transaction: the notice is as durable as the change (it is retried
    until delivered), and a reset — a public endpoint — never fails on the mail server.
    """
    summary = account_factors_summary(user=user)
    mail_enqueue(
        to=user.email,
        name="password_changed",
        locale=user.locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "how": how,
            "report_link": security_report_link(user=user),
            "report_days": settings.SECURITY_REPORT_TTL_DAYS,
            **summary.as_mail(),
        },
    )


# --- "This wasn't me" -------------------------------------------------------------------------


def security_report_link(*, user: User) -> str:
    """A one-time link for a security notice: "this wasn't me" (``compromise_report``).

    Every notice gets its own; each works once, within ``SECURITY_REPORT_TTL_DAYS``.
    """
    token = one_time_token_issue(
        user=user,
        purpose=TokenPurpose.REPORT_COMPROMISE,
        ttl=timedelta(days=settings.SECURITY_REPORT_TTL_DAYS),
    )
    return page_link("/report-compromise", token=token)


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
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    user.set_unusable_password()
    user.save(update_fields=["password", "updated_at"])
    _one_time_tokens_void(user=user, purposes=tuple(TokenPurpose.values))
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


def password_reset_preview(*, token: str) -> ResetPreview:
    """What the reset page shows before the new password is chosen, without using the link:
    the account's passkeys, API keys and 2FA state, and whether a reset will revoke them
    anyway (a pending "this wasn't me" report, or an address never verified)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
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
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
    user = record.user
    reported = compromise_report_pending(user=user)
    return ResetPreview(
        user=user,
        factors=account_factors_summary(user=user),
        compromise_reported=reported,
        revokes_factors=reported or not user.email_verified,
    )


# --- Profile and email change -----------------------------------------------------------------

PROFILE_FIELDS = ("name", "locale", "image")


@transaction.atomic
def profile_update(*, user: User, data: dict[str, Any], meta: RequestMeta) -> User:
    changed = [
        field for field in PROFILE_FIELDS if field in data and getattr(user, field) != data[field]
    ]
    for field in changed:
        setattr(user, field, data[field])
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
        security_event_record(
            type=EventType.PROFILE_UPDATED, user=user, meta=meta, metadata={"fields": changed}
        )
    return user


def email_change_request(*, user: User, new_email: str, password: str, meta: RequestMeta) -> None:
    # Checked before the transaction opens, so a wrong password's count survives the refusal.
    if not password_recheck(user=user, password=password):
        raise AuthError(code="REAUTH_REQUIRED", message="The password is not correct.")
    _email_change_request(user=user, new_email=new_email, meta=meta)


@transaction.atomic
def _email_change_request(*, user: User, new_email: str, meta: RequestMeta) -> None:
    normalized = normalize_email(new_email)
    if email_key(normalized) == email_key(user.email):
        raise ValidationFailed({"newEmail": ["This is already your address."]})
    taken = User.objects.filter_email(normalized).exists()
    security_event_record(type=EventType.EMAIL_CHANGE_REQUESTED, user=user, meta=meta)
    # Both mails are queued: whether the confirmation goes out depends on whether the new
    # address has an account, and the answer's timing must not tell.
    mail_enqueue(
        to=user.email,
        name="change_email_notice",
        locale=user.locale,
        kind=user.kind,
        context={"name": user.name or user.email, "report_link": security_report_link(user=user)},
    )
    if taken:
        return  # same answer; the owner of the other account learns nothing from us either
    token = one_time_token_issue(
        user=user,
        purpose=TokenPurpose.CHANGE_EMAIL,
        ttl=timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS),
        payload={"newEmail": normalized},
    )
    mail_enqueue(
        to=normalized,
        name="change_email_confirm",
        locale=user.locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "new_email": normalized,
            "link": _link("/api/v1/auth/verify-email", token=token),
            "hours": settings.EMAIL_VERIFICATION_TTL_HOURS,
        },
        expires_at=timezone.now() + timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS),
    )


@transaction.atomic
def email_change_confirm(*, token: str, meta: RequestMeta) -> User:
    record = one_time_token_consume(token=token, purpose=TokenPurpose.CHANGE_EMAIL)
    user = User.objects.select_for_update().get(pk=record.user_id)
    new_email = str(record.payload.get("newEmail", ""))
    if not new_email or User.objects.filter_email(new_email).exclude(pk=user.pk).exists():
        raise Conflict("This address is already in use.")
    old_key = email_key(user.email)
    user.email = new_email
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email", "email_verified_at", "updated_at"])
    # Links mailed to the old address stop working with it.
    _one_time_tokens_void(
        user=user,
        purposes=(
            TokenPurpose.RESET_PASSWORD,
            TokenPurpose.MAGIC_LINK,
            TokenPurpose.VERIFY_EMAIL,
            TokenPurpose.CHANGE_EMAIL,
        ),
    )
    lockout.unlock(email_key=old_key)
    security_event_record(type=EventType.EMAIL_CHANGED, user=user, meta=meta)
    return user


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
        raise AuthError(code="VERIFICATION_TOKEN_INVALID")
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


# --- Account deletion -------------------------------------------------------------------------


def account_delete(
    *, user: User, password: str | None, meta: RequestMeta, actor: User | None = None
) -> None:
    """Delete the account and everything of it. The security trail survives, anonymised."""
    # Checked before the transaction opens, so a wrong password's count survives the refusal.
    if actor is None and not password_recheck(user=user, password=password):
        raise AuthError(code="REAUTH_REQUIRED", message="The password is not correct.")
    _account_delete(user=user, meta=meta, actor=actor)


@transaction.atomic
def _account_delete(*, user: User, meta: RequestMeta, actor: User | None) -> None:
    from accounts.deletion import user_data_delete

    user_data_delete(user=user, meta=meta, actor=actor)
