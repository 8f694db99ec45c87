"""Claiming an address takes nothing of the stranger's along (attacker's review, finding 4).

Someone signs up with the victim's address and — where unverified accounts may sign in
(``REQUIRE_EMAIL_VERIFICATION=false``) — builds on it: a vault, Spaces with members and
invitations, a seat and invitations in someone else's Space, sessions, a passkey, an API key,
an authenticator and backup codes. When the mailbox owner claims the account, all of it goes
(the vault, every Space the account owns alone, its memberships and invitations elsewhere, its
sync-store rows, every credential), a fresh personal Space is there, invitations *to* the
address stay (they are the owner's), and ``ADDRESS_CLAIMED`` says what went.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pyotp
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, OutboxMessage, Passkey, Session, User
from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from security.otp.models import SealedTotpDevice
from spaces.models import Invitation, Membership, Space, SpaceRole
from spaces.services.invitations import invitation_create
from spaces.services.spaces import space_create
from spaces.sync_store.models import SyncChange
from tests.accounts.test_preregistration import (
    ATTACKER_PASSWORD,
    VERIFY,
    VICTIM,
    last_mail,
    login,
    register,
    token_in,
)
from tests.passkeys.authenticator import DEFAULT_ORIGIN, DEFAULT_RP_ID, SoftAuthenticator
from tests.passkeys.conftest import register_options, register_verify
from tests.vault.conftest import RECOVERY, vault_row

pytestmark = pytest.mark.django_db
VAULT = "/api/v1/me/encryption-vault/"


def _squat(settings, user_factory) -> tuple[User, dict, Space, Invitation, Invitation]:
    """The stranger's account with data in every table; returns what the test checks."""
    settings.REQUIRE_EMAIL_VERIFICATION = False
    settings.WEBAUTHN_RP_ID, settings.WEBAUTHN_ORIGINS = DEFAULT_RP_ID, [DEFAULT_ORIGIN]
    register(APIClient())
    squatter = User.objects.get(email_key=VICTIM)
    tokens = login(VICTIM, ATTACKER_PASSWORD).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert client.post(VAULT + "init").status_code == 200
    assert client.post(VAULT + "recovery-wrap", RECOVERY, format="json").status_code == 200
    device = SoftAuthenticator()
    added = register_verify(client, device.create(register_options(client, None).json()), "k")
    assert added.status_code == 201
    key = client.post(
        "/api/v1/me/api-keys", {"name": "k", "scopes": ["profile:read"]}, format="json"
    )
    assert key.status_code == 201
    setup = client.post("/api/v1/me/mfa/totp/setup", {}, format="json").json()
    code = pyotp.TOTP(setup["secret"]).now()
    assert (
        client.post("/api/v1/me/mfa/totp/confirm", {"code": code}, format="json").status_code == 200
    )
    own = client.post("/api/v1/spaces", {"name": "Squat", "type": "team"}, format="json")
    assert own.status_code == 201, own.content
    own_space = Space.objects.get(id=own.json()["id"])
    bystander = user_factory(email="bystander@example.com")
    Membership.objects.create(space=own_space, user=bystander, role=SpaceRole.MEMBER)
    invitation_create(
        user=squatter,
        space_id=own_space.id,
        email="x@example.com",
        role="member",
        meta=RequestMeta(),
    )
    # A seat in someone else's Space, and an invitation the stranger sent there.
    alice = user_factory(email="alice@example.com")
    club = space_create(user=alice, name="Club", type="club", meta=RequestMeta())
    # An invitation *to* the address, from someone else: the mailbox owner's.
    to_owner = invitation_create(
        user=alice, space_id=club.id, email=VICTIM, role="member", meta=RequestMeta()
    )
    Membership.objects.create(space=club, user=squatter, role=SpaceRole.ADMIN)
    sent = invitation_create(
        user=squatter,
        space_id=club.id,
        email="friend@example.com",
        role="member",
        meta=RequestMeta(),
    )
    assert vault_row(squatter) is not None
    assert Session.objects.filter(user=squatter, revoked_at__isnull=True).exists()
    return squatter, tokens, club, sent, to_owner


def test_claiming_the_address_wipes_what_the_stranger_made(settings, user_factory, mailoutbox):
    squatter, tokens, club, sent, to_owner = _squat(settings, user_factory)
    personal_before = Space.objects.get(created_by=squatter, type="personal")
    stranger_spaces = set(
        Membership.objects.filter(user=squatter, role=SpaceRole.OWNER).values_list(
            "space_id", flat=True
        )
    )
    # The mailbox owner opens the verification link elsewhere and claims without the password.
    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    claimed = APIClient().post(VERIFY, {"token": token, "withoutPassword": True}, format="json")
    assert claimed.status_code == 200 and claimed.json()["passwordRemoved"] is True

    user = User.objects.get(pk=squatter.pk)
    assert vault_row(user) is None
    assert not Passkey.objects.filter(user=user).exists()
    assert not ApiKey.objects.filter(user=user).exists()
    assert not SealedTotpDevice.objects.filter(user=user).exists()
    assert not Session.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert not Space.objects.filter(id__in=stranger_spaces).exists()  # Squat and the personal
    assert not Invitation.objects.filter(space_id__in=stranger_spaces).exists()
    assert not Membership.objects.filter(space=club, user=user).exists()
    sent.refresh_from_db()
    assert sent.revoked_at is not None
    to_owner.refresh_from_db()
    assert to_owner.revoked_at is None  # the invitation to the address is the owner's
    assert Space.objects.filter(id=club.id).exists()
    # A fresh personal Space, and nothing else.
    memberships = list(Membership.objects.filter(user=user).select_related("space"))
    assert [(m.space.type, m.role) for m in memberships] == [("personal", SpaceRole.OWNER)]
    assert memberships[0].space_id != personal_before.id
    purge = OutboxMessage.objects.get(user_id=user.pk, target="sync_store", event="user.deleted")
    assert set(purge.payload["spaceIds"]) == {str(s) for s in stranger_spaces}
    event = SecurityEvent.objects.get(user=user, type="ADDRESS_CLAIMED")
    assert event.metadata | {"via": "-"} == event.metadata | {
        "via": "-",
        "vaultDeleted": True,
        "spacesDeleted": 2,
        "membershipsRemoved": 1,
        "invitationsRevoked": 1,
        "passkeyCount": 1,
        "apiKeyCount": 1,
        "totpRemoved": True,
    }
    assert SecurityEvent.objects.filter(
        user=user, type="SPACE_MEMBER_REMOVED", metadata__reason="address_claimed"
    ).exists()
    # The stranger's old token opens nothing.
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['accessToken']}")
    assert stale.get(VAULT + "key").status_code == 401


def test_a_claim_by_magic_link_wipes_the_same(settings, user_factory, mailoutbox):
    squatter, _, _, _, _ = _squat(settings, user_factory)
    owner = APIClient()
    owner.post("/api/v1/auth/magic-link", {"email": VICTIM}, format="json")
    signed_in = owner.post(
        "/api/v1/auth/magic-link/verify",
        {"token": token_in(last_mail(mailoutbox, "sign-in link"))},
        format="json",
    )
    assert signed_in.status_code == 200, signed_in.content
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['accessToken']}")
    assert vault_row(squatter) is None
    listed = owner.get("/api/v1/spaces").json()["items"]
    assert [space["type"] for space in listed] == ["personal"]


def test_a_retried_claim_purge_spares_what_the_owner_wrote_since(
    settings, user_factory, mailoutbox
):
    """The sync store was down at the claim (the purge stays in the outbox); by the time the
    retry runs, the owner has written their own rows: the purge removes only the stranger's."""
    squatter, _, _, _, _ = _squat(settings, user_factory)
    stale = SyncChange.objects.create(
        app_id="notes",
        table_name="notes",
        record_id="squatter-note",
        user_id=str(squatter.pk),
        op="insert",
        client_id="c",
        created_at=timezone.now() - timedelta(minutes=5),
    )
    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    claimed = APIClient().post(VERIFY, {"token": token, "withoutPassword": True}, format="json")
    assert claimed.status_code == 200, claimed.content
    purge = OutboxMessage.objects.get(
        user_id=squatter.pk, target="sync_store", event="user.deleted"
    )
    assert purge.delivered_at is None  # not yet sent (as when the sync store is down)
    owners = SyncChange.objects.create(
        app_id="notes",
        table_name="notes",
        record_id="owner-after-claim",
        user_id=str(squatter.pk),
        op="insert",
        client_id="c",
        created_at=timezone.now() + timedelta(seconds=1),
    )
    call_command("flush_outbox", stdout=StringIO())
    purge.refresh_from_db()
    assert purge.delivered_at is not None
    assert not SyncChange.objects.filter(pk=stale.pk).exists()
    assert SyncChange.objects.filter(pk=owners.pk).exists()


def test_a_claim_takes_away_an_operator_role_the_stranger_held(settings, user_factory, mailoutbox):
    """Granting operator access needs a verified address now; an account made an operator
    before that rule (or from a shell) loses the role when the mailbox owner claims it."""
    squatter, _, _, _, _ = _squat(settings, user_factory)
    User.objects.filter(pk=squatter.pk).update(role="admin", is_staff=True, is_superuser=True)
    token = token_in(last_mail(mailoutbox, "Confirm your email"))
    claimed = APIClient().post(VERIFY, {"token": token, "withoutPassword": True}, format="json")
    assert claimed.status_code == 200, claimed.content
    user = User.objects.get(pk=squatter.pk)
    assert (user.role, user.is_staff, user.is_superuser) == ("user", False, False)
    event = SecurityEvent.objects.get(user=user, type="ADDRESS_CLAIMED")
    assert event.metadata["operatorRemoved"] is True
