"""Passwords: the policy, forgotten passwords (the reset link), and changing one.

Setting a password from a reset link is a recovery (``accounts.recovery.password_reset``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.emails import email_key
from accounts.exceptions import ReauthRequired, WeakPassword
from accounts.factors import (
    account_factors_summary,
)
from accounts.mailqueue import (
    OutgoingMail,
    mail_enqueue,
    mail_request_enqueue,
)
from accounts.models import (
    QueuedMailKind,
    Session,
    TokenPurpose,
    User,
)
from accounts.notices import security_report_link
from accounts.one_time_tokens import (
    LINKS_RETIRED_BY_RECOVERY,
    one_time_link_mail,
    one_time_tokens_void,
)
from accounts.reauth import password_recheck
from accounts.sessions import session_mark_authenticated, sessions_revoke_all
from accounts.validators import MAX_PASSWORD_BYTES
from mana_auth.clientip import RequestMeta
from mana_auth.links import page_link, trusted_callback
from security import lockout, ratelimit
from security.breached import password_breach_count
from security.models import EventType
from security.services import security_event_record


def password_policy_check(*, password: str, user: User) -> None:
    if not isinstance(password, str) or len(password.encode()) > MAX_PASSWORD_BYTES:
        raise WeakPassword(details={"reasons": ["This password is too long."]})
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise WeakPassword(details={"reasons": list(exc.messages)}) from exc

    if password_breach_count(password) > 0:
        raise WeakPassword(
            details={"reasons": ["This password has appeared in a data breach."]},
        )


def password_forgot(
    *, email: str, meta: RequestMeta, callback_url: str = "", device_cookie: str | None = None
) -> None:
    """Queue a reset link for ``email``; whether it has an account is decided after the
    response (``password_reset_mail_resolve``), so every address costs the same here.
    ``callback_url`` (trusted origins only) rides in the mailed link.
    A known device (``device_cookie``) has its own per-address budget
    (``lockout.email_budget_key``)."""
    ratelimit.hit(ratelimit.FORGOT_IP, meta.ip)
    ratelimit.hit(ratelimit.FORGOT_EMAIL, lockout.email_budget_key(email_key(email), device_cookie))
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
    mail = one_time_link_mail(
        user=user,
        purpose=TokenPurpose.RESET_PASSWORD,
        ttl=timedelta(minutes=settings.PASSWORD_RESET_TTL_MINUTES),
        template=template,
        link=lambda token: page_link("/reset-password", token=token, callbackURL=callback_url),
        context={"minutes": settings.PASSWORD_RESET_TTL_MINUTES},
    )
    security_event_record(type=EventType.PASSWORD_RESET_REQUESTED, user=user, meta=meta)
    return mail


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


def password_change(
    *, user: User, session: Session, current_password: str, new_password: str, meta: RequestMeta
) -> None:
    # Checked before the transaction opens: a wrong password's count must outlive the refusal
    # (without Redis the counter is a row, and a rollback would take it back).
    if not password_recheck(user=user, password=current_password):
        raise ReauthRequired(message="The current password is not correct.")
    _password_change(user=user, session=session, new_password=new_password, meta=meta)


@transaction.atomic
def _password_change(*, user: User, session: Session, new_password: str, meta: RequestMeta) -> None:
    password_policy_check(password=new_password, user=user)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    one_time_tokens_void(user=user, purposes=LINKS_RETIRED_BY_RECOVERY)
    sessions_revoke_all(user=user, meta=meta, reason="password_changed", keep=session)
    session_mark_authenticated(session=session, method="password")
    security_event_record(type=EventType.PASSWORD_CHANGED, user=user, meta=meta)
    password_changed_notify(user=user, how="change")


def password_changed_notify(*, user: User, how: str) -> None:
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
