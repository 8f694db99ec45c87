"""The account holder's own details: name, language, picture, the end of onboarding, and the
change of address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.emails import email_key, normalize_email
from accounts.exceptions import ReauthRequired
from accounts.mailqueue import (
    mail_enqueue,
    mail_queue_store,
)
from accounts.models import (
    TokenPurpose,
    User,
)
from accounts.notices import security_report_link
from accounts.one_time_tokens import (
    link_build,
    one_time_link_mail,
    one_time_token_consume,
    one_time_tokens_void,
)
from accounts.reauth import password_recheck
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Conflict, ValidationFailed
from security import lockout
from security.models import EventType
from security.services import security_event_record

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


def onboarding_complete(*, user: User, meta: RequestMeta) -> User:
    """Mark ``user``'s onboarding finished, once. Calling again changes nothing and answers
    with the first time (a client retrying after a lost answer must not see an error, and the
    moment must not move). One conditional UPDATE decides, so of two racing calls one sets it
    and writes ``ONBOARDING_COMPLETED``; the other reads what it set."""
    now = timezone.now()
    with transaction.atomic():
        first = User.objects.filter(pk=user.pk, onboarding_completed_at__isnull=True).update(
            onboarding_completed_at=now, updated_at=now
        )
        if first:
            security_event_record(type=EventType.ONBOARDING_COMPLETED, user=user, meta=meta)
    if first:
        user.onboarding_completed_at, user.updated_at = now, now
    else:
        user.onboarding_completed_at = (
            User.objects.filter(pk=user.pk).values_list("onboarding_completed_at", flat=True).get()
        )
    return user


def email_change_request(*, user: User, new_email: str, password: str, meta: RequestMeta) -> None:
    # Checked before the transaction opens, so a wrong password's count survives the refusal.
    if not password_recheck(user=user, password=password):
        raise ReauthRequired(message="The password is not correct.")
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
    mail = one_time_link_mail(
        user=user,
        purpose=TokenPurpose.CHANGE_EMAIL,
        ttl=timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS),
        template="change_email_confirm",
        to=normalized,
        link=lambda token: link_build("/api/v1/auth/verify-email", token=token),
        context={"new_email": normalized, "hours": settings.EMAIL_VERIFICATION_TTL_HOURS},
        payload={"newEmail": normalized},
    )
    if mail is not None:
        mail_queue_store(mail)


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
    one_time_tokens_void(
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
