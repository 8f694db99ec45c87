"""Single-use, expiring tokens and the links that carry them.

A token is 256 random bits; only its SHA-256 is stored, with its purpose, its user, a payload
and its expiry. A conditional UPDATE uses it exactly once. Links are built from settings, never
from the request's ``Host`` header: an API link from ``BASE_URL`` (``link_build``), a page's
from ``PUBLIC_PAGES_URL`` (``mana_auth.links.page_link``); ``one_time_link_mail`` is the one
routine that issues a token and renders the mail carrying its link (verification, reset, magic
link, change of address).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from accounts import crypto
from accounts.exceptions import VerificationTokenInvalid
from accounts.mailqueue import (
    OutgoingMail,
    outgoing_mail,
)
from accounts.models import (
    OneTimeToken,
    TokenPurpose,
    User,
)


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
        raise VerificationTokenInvalid()
    token_hash = crypto.hash_token(token)
    # A conditional UPDATE is the single-use guarantee: of two concurrent uses, one row wins.
    claimed = OneTimeToken.objects.filter(
        token_hash=token_hash, purpose=purpose, used_at__isnull=True, expires_at__gt=current
    ).update(used_at=current)
    if claimed != 1:
        raise VerificationTokenInvalid()
    return OneTimeToken.objects.select_related("user").get(token_hash=token_hash)


def one_time_token_lock(*, token: str, purpose: TokenPurpose, now: datetime) -> OneTimeToken:
    """The unused, unexpired token of this purpose, locked; else VERIFICATION_TOKEN_INVALID."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise VerificationTokenInvalid()
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
        raise VerificationTokenInvalid()
    return record


def one_time_tokens_void(*, user: User, purposes: tuple[str, ...]) -> None:
    """Retire a user's outstanding links of these purposes (credentials or address changed)."""
    OneTimeToken.objects.filter(user=user, purpose__in=purposes, used_at__isnull=True).update(
        used_at=timezone.now()
    )


# Every link a recovery retires: whoever held the account may have asked for any of them (a
# pending change-email link would move the recovered account to the attacker's address). Only
# "this wasn't me" links survive: they are the owner's way to report what just happened.
LINKS_RETIRED_BY_RECOVERY = tuple(
    purpose for purpose in TokenPurpose.values if purpose != TokenPurpose.REPORT_COMPROMISE
)


def link_build(path: str, **params: str) -> str:
    """A link to this service's API, built from BASE_URL, never from the request's Host header
    (a link that opens a page: ``mana_auth.links.page_link``)."""
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{settings.BASE_URL}{path}" + (f"?{query}" if query else "")


def one_time_link_mail(
    *,
    user: User,
    purpose: TokenPurpose,
    ttl: timedelta,
    template: str,
    link: Callable[[str], str],
    context: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    to: str | None = None,
) -> OutgoingMail | None:
    """Mail a one-time link: issue the token, build its link (``link(token)``, from settings,
    never from the request) and render the mail (``template``, greeting ``user``) to ``to``
    (default: the account's address). The caller queues it (``mail_queue_store``) or drops it;
    None when the recipient never receives mail (personas). The mail expires with the token."""
    token = one_time_token_issue(user=user, purpose=purpose, ttl=ttl, payload=payload)
    return outgoing_mail(
        to=to or user.email,
        name=template,
        locale=user.locale,
        kind=user.kind,
        context={"name": user.name or user.email, "link": link(token), **(context or {})},
        expires_at=timezone.now() + ttl,
    )
