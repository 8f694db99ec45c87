"""What Spaces does at each point of an account's life (accounts calls, spaces answers).

Registered from ``SpacesConfig.ready()`` with accounts' hooks (``accounts.hooks``), the GDPR
registry's erasure (``mana_auth.gdpr``) and the outbox (``accounts.outbox``): accounts sits
below Spaces and never imports it.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.emails import email_key
from accounts.models import OutboxEvent, OutboxMessage, OutboxTarget, User
from accounts.outbox import outbox_enqueue
from mana_auth.clientip import RequestMeta
from mana_auth.errors import is_infrastructure_error
from spaces import selectors
from spaces.models import Invitation, Membership
from spaces.routers import sync_alias
from spaces.services import invitations as invitation_services
from spaces.services import singletons as singleton_services
from spaces.services import spaces as space_services
from spaces.sync_store.models import SyncChange


def user_created(*, user: User) -> None:
    """Sign-up: the personal Space, in the sign-up transaction (a failure aborts it)."""
    space_services.personal_space_ensure(user=user)


def user_signed_up(*, user: User) -> None:
    """Sign-up: the sync store's singletons, after commit and best effort."""
    singleton_services.sync_singletons_bootstrap_for_signup(user=user)


def user_tier_changed(*, user: User) -> None:
    """The personal Space follows the account's tier."""
    space_services.personal_space_tier_sync(user=user)


def user_erase(*, user: User) -> None:
    """Account deletion: the Spaces the user alone owns go, their pending invitations in the
    Spaces that stay go void, invitations to their address go, and the sync store is told to
    purge their rows (after commit: it may be another database)."""
    doomed = selectors.sole_space_ids(user=user)
    space_services.spaces_delete_solely_owned(user=user)
    invitation_services.invitations_revoke_sent_by_deleted_user(user=user)
    # Invitations to the address are about the person even in Spaces that stay.
    Invitation.objects.filter(email_key=email_key(user.email)).delete()
    outbox_enqueue(
        target=OutboxTarget.SYNC_STORE,
        event=OutboxEvent.USER_DELETED,
        user_id=user.pk,
        payload={"userId": str(user.pk), "spaceIds": [str(s) for s in doomed]},
    )


def user_claimed(*, user: User, meta: RequestMeta) -> dict[str, Any]:
    """An address claim (``accounts.recovery.address_claim``): the mailbox owner takes over an
    account someone else signed up, so what that stranger made goes, through the services
    deletion uses: every Space the account owns alone (the personal one included, with their
    members, invitations and credentials), its memberships in the Spaces that stay and the
    invitations it sent there, and its rows in the sync store. Invitations *to* the address
    stay: they are for the mailbox owner. The owner gets a fresh personal Space."""
    doomed = selectors.sole_space_ids(user=user)
    revoked = 0
    for space_id in (
        invitation_services.invitations_pending(now=timezone.now())
        .filter(invited_by=user)
        .exclude(space_id__in=doomed)
        .values_list("space_id", flat=True)
        .distinct()
    ):
        revoked += invitation_services.invitations_revoke_beyond(
            space_id=space_id,
            inviter_id=user.id,
            role=None,
            actor=None,
            meta=meta,
            reason="address_claimed",
        )
    # The seats in Spaces that stay go through the deletion's path, which tells mana-credits
    # (space.member_removed) and records SPACE_MEMBER_REMOVED, both with reason address_claimed.
    kept = Membership.objects.filter(user=user).exclude(space_id__in=doomed).count()
    deleted = space_services.spaces_delete_solely_owned(
        user=user, cause=space_services.ADDRESS_CLAIMED, meta=meta
    )
    # The account lives on, so the purge carries a watermark: a retried purge (the sync store
    # was down) removes what existed at the claim, never what the owner wrote since.
    outbox_enqueue(
        target=OutboxTarget.SYNC_STORE,
        event=OutboxEvent.USER_DELETED,
        user_id=user.pk,
        payload={
            "userId": str(user.pk),
            "spaceIds": [str(s) for s in doomed],
            "before": timezone.now().isoformat(),
        },
    )
    space_services.personal_space_ensure(user=user)
    # After the purge above (on_commit runs in order): the fresh account's singletons.
    singleton_services.sync_singletons_bootstrap_for_signup(user=user)
    return {
        "spacesDeleted": deleted,
        "membershipsRemoved": kept,
        "invitationsRevoked": revoked,
    }


def sync_store_purge(message: OutboxMessage) -> str | None:
    """The outbox's sender for the sync store: delete the user's rows, except their changes in
    Spaces that stay (and, after a claim, the user-level rows written since the claim). None
    when done, else why not (the outbox retries)."""
    alias = sync_alias()
    space_ids = [str(s) for s in message.payload.get("spaceIds", [])]
    condition = Q(user_id=str(message.user_id), space_id__isnull=True)
    before = parse_datetime(str(message.payload.get("before") or ""))
    if before is not None:  # a claim: only what the stranger left
        condition &= Q(created_at__lte=before)
    if space_ids:
        condition |= Q(space_id__in=space_ids)
    try:
        with transaction.atomic(using=alias):
            SyncChange.objects.using(alias).filter(condition).delete()
    except DatabaseError as exc:
        if not is_infrastructure_error(exc):
            raise
        return f"sync store unavailable ({type(exc).__name__})"
    return None
