"""Passwordless sign-in by a link mailed to the account's address.

The link carries a one-time token (256 random bits, only its hash stored, purpose
``magic_link``, valid ``MAGIC_LINK_TTL_MINUTES``). Using it is a first factor like a password:
a user with a second factor still gets MFA_REQUIRED. It is deliberately independent of the
password lockout, so an account whose password is under attack can still sign in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.emails import email_key
from accounts.exceptions import VerificationTokenInvalid
from accounts.mailqueue import OutgoingMail, mail_request_enqueue
from accounts.models import Kind, OneTimeToken, QueuedMailKind, TokenPurpose, User
from accounts.one_time_tokens import one_time_link_mail, one_time_token_consume
from accounts.recovery import address_claim
from accounts.signin.second_factor import first_factor_passed
from accounts.signin.session import SignIn
from mana_auth.clientip import RequestMeta
from mana_auth.links import page_link
from security import attempts, lockout, ratelimit
from security.models import AttemptMethod, EventType
from security.services import security_event_record

MAGIC_LINK_METHOD = AttemptMethod.MAGIC_LINK


def magic_link_url(*, token: str, callback_url: str = "") -> str:
    """Where the mail points: the magic-link page (``PUBLIC_PAGES_URL``), which spends the
    token when its button is pressed and then goes on to ``callback_url`` (trusted origins
    only, carried in the link). Built from settings, never from the request's Host header."""
    return page_link("/magic-link", token=token, callbackURL=callback_url)


def magic_link_request(
    *, email: str, callback_url: str = "", meta: RequestMeta, device_cookie: str | None = None
) -> None:
    """Queue a sign-in link for ``email``. Whether it has an account is decided after the
    response (``magic_link_mail_resolve``): every address costs the same here.
    A known device (``device_cookie``) has its own per-address budget
    (``lockout.email_budget_key``)."""
    ratelimit.hit(ratelimit.MAGIC_IP, meta.ip)
    ratelimit.hit(ratelimit.MAGIC_EMAIL, lockout.email_budget_key(email_key(email), device_cookie))
    mail_request_enqueue(
        kind=QueuedMailKind.MAGIC_LINK,
        email=email,
        meta=meta,
        payload={"callbackURL": callback_url} if callback_url else None,
    )


def magic_link_mail_resolve(
    *, email: str, meta: RequestMeta, payload: dict[str, Any]
) -> OutgoingMail | None:
    """The queued request for ``email``: a sign-in link when it names a human account."""
    user = User.objects.filter_email(email).first()
    if user is None or not user.is_active or user.kind != Kind.HUMAN:
        return None
    callback = payload.get("callbackURL")
    callback_url = callback if isinstance(callback, str) else ""
    mail = one_time_link_mail(
        user=user,
        purpose=TokenPurpose.MAGIC_LINK,
        ttl=timedelta(minutes=settings.MAGIC_LINK_TTL_MINUTES),
        template="magic_link",
        link=lambda token: magic_link_url(token=token, callback_url=callback_url),
        context={"minutes": settings.MAGIC_LINK_TTL_MINUTES},
    )
    security_event_record(type=EventType.MAGIC_LINK_REQUESTED, user=user, meta=meta)
    return mail


def magic_link_verify(*, token: str, meta: RequestMeta) -> SignIn:
    """Use a link once: it proves the address, then counts as the first factor."""
    ratelimit.hit(ratelimit.LOGIN_IP, meta.ip)
    now = timezone.now()
    refused: User | None = None
    try:
        with transaction.atomic():
            record = one_time_token_consume(token=token, purpose=TokenPurpose.MAGIC_LINK, now=now)
            user = User.objects.select_for_update().get(pk=record.user_id)
            if not user.is_active:
                refused = user
                raise VerificationTokenInvalid()
            # One link signs in; the other links still in the mailbox stop working.
            OneTimeToken.objects.filter(
                user=user, purpose=TokenPurpose.MAGIC_LINK, used_at__isnull=True
            ).update(used_at=now)
            if user.email_verified_at is None:
                # The first proof of this address, and nothing proves who chose its sign-up
                # password: the mailbox owner claims the account, the stranger's password and
                # anything it added are void (pre-registration takeover).
                address_claim(user=user, meta=meta, via="magic_link")
    except VerificationTokenInvalid:
        # After the rollback, in a statement of its own: the refusal must leave its row. An
        # unknown, used or expired link names no account; it counts toward no lockout.
        attempts.record(
            method=AttemptMethod.MAGIC_LINK,
            success=False,
            email_key=refused.email_key if refused else "",
            user=refused,
            meta=meta,
            reason="inactive" if refused else "invalid_link",
        )
        raise
    # Committed first: MFA_REQUIRED is raised from here and must not undo the use of the link.
    return first_factor_passed(
        user=user,
        meta=meta,
        method=MAGIC_LINK_METHOD,
        lockout_scope=lockout.magic_link_scope(email_key(user.email)),
    )
