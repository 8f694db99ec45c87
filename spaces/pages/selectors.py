"""Reads for the invitation page."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from accounts import crypto as token_crypto
from accounts.emails import email_key
from accounts.models import User
from mana_auth.mail import mail_text
from spaces.models import Invitation, Membership
from spaces.services.invitations import roles_invitable_by


@dataclass(frozen=True)
class InvitationPreview:
    """What the invitation's mail already told its reader: the Space, who invited, the role.
    Names are shown as the mail shows them (``mail_text``: one plain line, nothing linkable)."""

    space_name: str
    inviter_name: str
    inviter_email: str
    role: str
    locale: str | None  # the invited account's, when there is one
    _email_key: str

    def is_for(self, user: User) -> bool:
        return token_crypto.tokens_equal(self._email_key, email_key(user.email))


def invitation_preview(*, token: object) -> InvitationPreview | None:
    """The open invitation behind ``token``, or None when it is unknown, answered, revoked,
    expired, or its inviter no longer has the standing to send it (as accepting would find).
    Reads only: the token stays usable."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    invitation = (
        Invitation.objects.select_related("space", "invited_by")
        .filter(token_hash=token_crypto.hash_token(token))
        .first()
    )
    if invitation is None or invitation.status_at(timezone.now()) != "pending":
        return None
    inviter = invitation.invited_by
    inviter_role = (
        Membership.objects.filter(space_id=invitation.space_id, user_id=inviter.id)
        .values_list("role", flat=True)
        .first()
        if inviter is not None
        else None
    )
    if inviter is None or invitation.role not in roles_invitable_by(inviter_role):
        return None
    invitee_locale = (
        User.objects.filter(email_key=invitation.email_key).values_list("locale", flat=True).first()
    )
    return InvitationPreview(
        space_name=mail_text(invitation.space.name),
        inviter_name=mail_text(inviter.name) if inviter.name else "",
        inviter_email=inviter.email,
        role=invitation.role,
        locale=invitee_locale,
        _email_key=invitation.email_key,
    )
