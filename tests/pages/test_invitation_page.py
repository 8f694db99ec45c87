"""The invitation page: the Space, who invited, the role; Accept / Decline for the invited
address, a plain "not for you" for anyone else, and sign-in that comes back."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from spaces.models import Invitation, Membership
from spaces.services.invitations import invitation_create
from spaces.services.spaces import space_create
from tests.conftest import PASSWORD
from tests.pages.conftest import Browser, link_in, local, text

pytestmark = pytest.mark.django_db

GUEST = "guest@example.com"


@pytest.fixture
def invite(user_factory, mailoutbox):
    """Invite an address to a team Space; returns the mailed link."""
    owner = user_factory(email="olga@example.com", name="Olga Owner")
    space = space_create(user=owner, name="Garden Club", type="club", meta=RequestMeta())

    def make(email: str = GUEST, role: str = "member") -> str:
        mailoutbox.clear()
        invitation_create(user=owner, space_id=space.id, email=email, role=role, meta=RequestMeta())
        return link_in(mailoutbox[-1], "/invitations/accept")

    make.space = space  # type: ignore[attr-defined]
    make.owner = owner  # type: ignore[attr-defined]
    return make


def signed_in_browser(email: str) -> Browser:
    browser = Browser()
    browser.show("/login")
    assert browser.submit("/login", {"email": email, "password": PASSWORD}).status_code == 302
    return browser


def test_signed_out_it_shows_what_the_mail_said_and_a_way_back(browser, invite):
    link = invite(role="admin")
    page = browser.show(local(link))
    assert page.status_code == 200
    body = text(page)
    assert "Invitation to “Garden Club”" in body
    assert "Olga Owner (olga@example.com) invites you to join “Garden Club” as an admin." in body
    token = local(link).split("token=")[1]
    come_back = quote(f"/invitations/accept?token={token}", safe="")
    assert f'href="/login?next={come_back}"' in page.content.decode()
    assert f'href="/signup?next={come_back}"' in page.content.decode()
    assert 'value="accept"' not in page.content.decode()


def test_signing_in_from_the_page_comes_back_to_it(browser, invite, user_factory):
    user_factory(email=GUEST)
    link = local(invite())
    browser.show(local(link))
    login = browser.show(f"/login?next={quote(link, safe='')}")
    signed = browser.submit("/login", {"email": GUEST, "password": PASSWORD, "next": link})
    assert login.status_code == 200
    assert signed.status_code == 302 and signed["Location"] == link


def test_the_invited_address_accepts(invite, user_factory):
    guest = user_factory(email=GUEST)
    link = local(invite())
    browser = signed_in_browser(GUEST)
    page = browser.show(link)
    assert 'value="accept"' in page.content.decode() and 'value="decline"' in page.content.decode()
    token = link.split("token=")[1]
    done = browser.submit("/invitations/accept", {"token": token, "action": "accept"})
    assert done.status_code == 200 and "Welcome to “Garden Club”" in text(done)
    assert Membership.objects.get(space=invite.space, user=guest).role == "member"
    assert SecurityEvent.objects.filter(user=guest, type="SPACE_INVITATION_ACCEPTED").exists()
    gone = browser.show(link)
    assert gone.status_code == 400 and "no longer open" in text(gone)


def test_the_invited_address_declines(invite, user_factory):
    guest = user_factory(email=GUEST)
    link = local(invite())
    browser = signed_in_browser(GUEST)
    browser.show(link)
    done = browser.submit(
        "/invitations/accept", {"token": link.split("token=")[1], "action": "decline"}
    )
    assert done.status_code == 200 and "Invitation declined" in text(done)
    assert not Membership.objects.filter(space=invite.space, user=guest).exists()
    assert Invitation.objects.get().declined_at is not None


def test_someone_else_signed_in_is_told_and_cannot_answer(invite, user_factory):
    user_factory(email="mallory@example.com")
    link = local(invite())
    browser = signed_in_browser("mallory@example.com")
    page = browser.show(link)
    assert page.status_code == 200
    body = text(page)
    assert "You are signed in as mallory@example.com" in body
    assert "different address" in body
    assert GUEST not in page.content.decode()  # the invited address is not shown to others
    assert 'value="accept"' not in page.content.decode()
    forced = browser.submit(
        "/invitations/accept", {"token": link.split("token=")[1], "action": "accept"}
    )
    assert forced.status_code == 403
    assert "This invitation was sent to a different address." in text(forced)
    assert Invitation.objects.get().accepted_at is None


def test_answering_needs_a_session(browser, invite):
    link = local(invite())
    browser.show(link)
    response = browser.submit(
        "/invitations/accept", {"token": link.split("token=")[1], "action": "accept"}
    )
    assert response.status_code == 403
    assert Invitation.objects.get().accepted_at is None


def test_an_invitation_whose_inviter_lost_standing_is_gone(invite, user_factory):
    admin = user_factory(email="adam@example.com")
    Membership.objects.create(space=invite.space, user=admin, role="admin")
    invitation_create(
        user=admin, space_id=invite.space.id, email=GUEST, role="admin", meta=RequestMeta()
    )
    from django.core import mail

    link = local(link_in(mail.outbox[-1], "/invitations/accept"))
    Membership.objects.filter(user=admin).update(role="member")  # demoted behind its back
    page = Browser().show(link)
    assert page.status_code == 400 and "no longer open" in text(page)


def test_an_unknown_token(browser):
    page = browser.show("/invitations/accept?token=made-up")
    assert page.status_code == 400 and "no longer open" in text(page)


def test_the_page_speaks_the_invitees_language(invite, user_factory):
    user_factory(email=GUEST, locale="de")
    page = Browser(HTTP_ACCEPT_LANGUAGE="en").show(local(invite()))
    assert "lädt dich als Mitglied in „Garden Club“ ein." in text(page)


def test_hostile_names_are_shown_as_the_mail_shows_them(user_factory, mailoutbox):
    owner = user_factory(email="eve@example.com", name="Support: call +1 555 123 4567 now")
    space = space_create(
        user=owner, name="Visit evil.example today", type="team", meta=RequestMeta()
    )
    mailoutbox.clear()
    invitation_create(user=owner, space_id=space.id, email=GUEST, role="member", meta=RequestMeta())
    page = Browser().show(local(link_in(mailoutbox[-1], "/invitations/accept")))
    body = page.content.decode()
    assert "evil.example" not in body and "555" not in body
    assert "eve@example.com" in body


def test_the_api_accept_still_works_with_the_mailed_token(invite, user_factory):
    guest = user_factory(email=GUEST)
    token = local(invite()).split("token=")[1]
    api = APIClient()
    from tests.conftest import login_tokens

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(api, guest)['accessToken']}")
    assert (
        api.post("/api/v1/invitations/accept", {"token": token}, format="json").status_code == 200
    )
