"""Invitations: sent to an address's key, accepted only from that verified address, and only as
good as their inviter's standing (revoked when the inviter leaves, is removed or demoted)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto as token_crypto
from accounts.emails import email_key, normalize_email
from accounts.exceptions import EmailNotVerified, VerificationTokenInvalid
from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    Conflict,
    Forbidden,
    ValidationFailed,
)
from mana_auth.links import page_link
from mana_auth.mail import send_mail
from security import ratelimit
from security.models import EventType
from spaces import selectors
from spaces.models import (
    Invitation,
    Membership,
    SpaceRole,
)
from spaces.services import credit_notices
from spaces.services.base import MANAGERS, membership_lock, role_require, space_event
from spaces.services.singletons import singletons_bootstrap_after_commit


def roles_invitable_by(role: str | None) -> frozenset[str]:
    """The roles a member with ``role`` may invite: owners any, admins below owner, members
    none. An invitation is only as good as its inviter's standing (see ``_open_invitation``)."""
    if role == SpaceRole.OWNER:
        return frozenset(SpaceRole.values)
    if role == SpaceRole.ADMIN:
        return frozenset({SpaceRole.ADMIN, SpaceRole.MEMBER})
    return frozenset()


def invitations_pending(*, now: datetime) -> Any:
    return Invitation.objects.filter(
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
        expires_at__gt=now,
    )


def invitations_revoke_beyond(
    *,
    space_id: object,
    inviter_id: object,
    role: str | None,
    actor: User | None,
    meta: RequestMeta | None,
    reason: str,
) -> int:
    """Revoke the pending invitations ``inviter_id`` sent in the Space that their ``role``
    (None: no longer a member) would not let them send now; one audit event each. Called
    wherever an inviter leaves, is removed or demoted, in the same transaction."""
    current = timezone.now()
    allowed = roles_invitable_by(role)
    stale = list(
        invitations_pending(now=current)
        .select_for_update()
        .filter(space_id=space_id, invited_by_id=inviter_id)
        .exclude(role__in=allowed)
        .values_list("id", flat=True)
    )
    if stale:
        Invitation.objects.filter(id__in=stale).update(revoked_at=current)
    for invitation_id in stale:
        space_event(
            EventType.SPACE_INVITATION_REVOKED,
            user=actor,
            meta=meta,
            spaceId=space_id,
            invitationId=invitation_id,
            reason=reason,
        )
    return len(stale)


def invitations_revoke_sent_by_deleted_user(*, user: User) -> int:
    """Account deletion: the pending invitations ``user`` sent in Spaces that stay go void
    (their ``invited_by`` is about to become NULL, and nobody would answer for them)."""
    space_ids = (
        invitations_pending(now=timezone.now())
        .filter(invited_by=user)
        .values_list("space_id", flat=True)
        .distinct()
    )
    return sum(
        invitations_revoke_beyond(
            space_id=space_id,
            inviter_id=user.id,
            role=None,
            actor=None,
            meta=None,
            reason="inviter_deleted",
        )
        for space_id in list(space_ids)
    )


def _invitation_ttl() -> timedelta:
    return timedelta(days=getattr(settings, "SPACE_INVITATION_TTL_DAYS", 7))


def _invitation_link(token: str) -> str:
    return page_link("/invitations/accept", token=token)


@transaction.atomic
def invitation_create(
    *,
    user: User,
    space_id: object,
    email: str,
    role: str,
    meta: RequestMeta,
    now: datetime | None = None,
) -> Invitation:
    """Invite an address; the mail carries a single-use token (only its hash is stored)."""
    current = now or timezone.now()
    actor = membership_lock(user=user, space_id=space_id)
    role_require(actor, *MANAGERS)
    space = actor.space
    if space.is_personal:
        raise Conflict("A personal Space has no other members.")
    if role not in SpaceRole.values:
        raise ValidationFailed({"role": [f"Must be one of {', '.join(SpaceRole.values)}."]})
    if role == SpaceRole.OWNER and actor.role != SpaceRole.OWNER:
        raise Forbidden("Only an owner can invite an owner.")
    ratelimit.hit(ratelimit.INVITE_SPACE, str(user.id))
    address = normalize_email(email)
    key = email_key(address)
    invitee = User.objects.filter_email(address).first()
    if invitee is not None and Membership.objects.filter(space=space, user=invitee).exists():
        raise Conflict("This person is already a member.")
    # A new invitation supersedes any still-open one for the same address.
    Invitation.objects.filter(
        space=space,
        email_key=key,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        declined_at__isnull=True,
    ).update(revoked_at=current)
    token = token_crypto.make_opaque_token("inv_")
    invitation = Invitation.objects.create(
        space=space,
        email=address,
        role=role,
        token_hash=token_crypto.hash_token(token),
        invited_by=user,
        created_at=current,
        expires_at=current + _invitation_ttl(),
    )
    space_event(
        EventType.SPACE_INVITATION_SENT,
        user=user,
        meta=meta,
        spaceId=space.id,
        invitationId=invitation.id,
        role=role,
    )
    send_mail(
        to=address,
        name="space_invitation",
        locale=invitee.locale if invitee is not None else user.locale,
        kind=invitee.kind if invitee is not None else "human",
        context={
            # The name is the inviter's to choose; the address next to it is what we know.
            "inviter": user.name,
            "inviter_email": user.email,
            "space_name": space.name,
            "role": role,
            "link": _invitation_link(token),
            "days": _invitation_ttl().days,
        },
    )
    return invitation


@transaction.atomic
def invitation_revoke(
    *, user: User, space_id: object, invitation_id: object, meta: RequestMeta
) -> None:
    actor = membership_lock(user=user, space_id=space_id)
    role_require(actor, *MANAGERS)
    invitation = selectors.invitation_get(space=actor.space, invitation_id=invitation_id)
    if invitation.role == SpaceRole.OWNER and actor.role != SpaceRole.OWNER:
        raise Forbidden("Only an owner can revoke an owner invitation.")
    if invitation.status != "pending":
        raise Conflict("The invitation is no longer open.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    space_event(
        EventType.SPACE_INVITATION_REVOKED,
        user=user,
        meta=meta,
        spaceId=actor.space.id,
        invitationId=invitation.id,
    )


def _open_invitation(*, user: User, token: str, now: datetime) -> Invitation:
    """The open invitation behind ``token``, locked, if it was sent to the caller's verified
    address. A link forwarded to someone else does nothing."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise VerificationTokenInvalid()
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("space")
        .filter(token_hash=token_crypto.hash_token(token))
        .first()
    )
    if invitation is None or invitation.status_at(now) != "pending":
        raise VerificationTokenInvalid()
    # Revoked when the inviter leaves, is removed or demoted; checked here as well, so that no
    # path that changes a membership can leave a live invitation its inviter could not send.
    inviter_role = (
        Membership.objects.filter(space_id=invitation.space_id, user_id=invitation.invited_by_id)
        .values_list("role", flat=True)
        .first()
        if invitation.invited_by_id is not None
        else None
    )
    if invitation.role not in roles_invitable_by(inviter_role):
        raise VerificationTokenInvalid()
    if not token_crypto.tokens_equal(email_key(invitation.email), email_key(user.email)):
        raise Forbidden("This invitation was sent to a different address.")
    if not user.email_verified:
        raise EmailNotVerified(message="Verify your email address to accept invitations.")
    return invitation


@transaction.atomic
def invitation_accept(
    *, user: User, token: str, meta: RequestMeta, now: datetime | None = None
) -> Membership:
    current = now or timezone.now()
    invitation = _open_invitation(user=user, token=token, now=current)
    invitation.accepted_at = current
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    membership, created = Membership.objects.get_or_create(
        space=invitation.space, user=user, defaults={"role": invitation.role}
    )
    space_event(
        EventType.SPACE_INVITATION_ACCEPTED,
        user=user,
        meta=meta,
        spaceId=invitation.space_id,
        invitationId=invitation.id,
        role=membership.role,
        joined=created,
    )
    if created:
        credit_notices.notify_member_added(
            space=invitation.space, user_id=user.pk, role=membership.role, via="invitation"
        )
        singletons_bootstrap_after_commit(
            space_ids=[str(invitation.space_id)], user_id=str(user.id), user_context=False
        )
    membership.space = invitation.space
    return membership


@transaction.atomic
def invitation_decline(
    *, user: User, token: str, meta: RequestMeta, now: datetime | None = None
) -> None:
    current = now or timezone.now()
    invitation = _open_invitation(user=user, token=token, now=current)
    invitation.declined_at = current
    invitation.save(update_fields=["declined_at"])
    space_event(
        EventType.SPACE_INVITATION_DECLINED,
        user=user,
        meta=meta,
        spaceId=invitation.space_id,
        invitationId=invitation.id,
    )
