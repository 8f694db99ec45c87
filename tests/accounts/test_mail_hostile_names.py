"""Names other people chose reach our mails only as one short line without links, addresses,
phone numbers, control or bidi characters (issue 15, point 11). The attacks go through the
API: sign up (or rename yourself, or a Space) with a hostile name, then make the service mail
someone."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

GOOD = "violet-harbour-lantern-42"
BASE = "http://localhost:8000"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
HOSTILE = (
    f"Anna{RLO}\u200b\r\n\r\nYour account is suspended. Restore it at "
    "http://mana-support.example/restore or www.mana-help.example, call +49 30 1234567, "
    "write to help@mana-support.example\u2028Subject: injected"
)
LEAKS = (
    "mana-support",
    "mana-help",
    "www.",
    "1234567",
    "help@",
    RLO,
    "\u200b",
    "\r",
    "\u2028",
)


def _line(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def _assert_clean(mail) -> None:
    html = mail.alternatives[0][0]
    for part in (mail.subject, mail.body, html):
        for leak in LEAKS:
            assert leak not in part, (leak, part)
    assert "\n" not in mail.subject
    # The only links are the service's own.
    for link in re.findall(r"(?:https?|ftp|mailto|tel):[^\s<\"]*", mail.body + html):
        assert link == BASE or link.startswith(BASE + "/"), link


def test_a_hostile_name_reaches_the_verification_mail_as_one_harmless_line(api_client, mailoutbox):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "anna@example.com", "password": GOOD, "name": HOSTILE},
        format="json",
    )
    assert response.status_code == 201

    (mail,) = mailoutbox
    _assert_clean(mail)
    greeting = _line(mail.body, "Hello ")
    assert greeting.startswith("Hello Anna Your account is suspended.")
    assert len(greeting) <= len("Hello ,") + 64
    # The mail's own link is still there, intact.
    assert re.search(r"http://localhost:8000/api/v1/auth/verify-email\?token=\S+", mail.body)
    assert mail.subject == "Confirm your email address"


def test_a_name_that_is_only_a_link_falls_back_to_the_address(api_client, mailoutbox):
    api_client.post(
        "/api/v1/auth/register",
        {"email": "bo@example.com", "password": GOOD, "name": "https://evil.example/x"},
        format="json",
    )
    (mail,) = mailoutbox
    assert _line(mail.body, "Hello ") == "Hello bo@example.com,"
    assert "evil" not in mail.alternatives[0][0]


def test_hostile_inviter_and_space_names_in_the_invitation_mail(
    auth_client, user_factory, mailoutbox
):
    inviter = auth_client(user_factory(email="inviter@example.com", name="Inviter"))
    renamed = inviter.patch("/api/v1/auth/profile", {"name": HOSTILE}, format="json")
    assert renamed.status_code == 200
    space = inviter.post(
        "/api/v1/spaces",
        {"name": "Team\r\nSubject: Urgent: verify at www.mana-help.example", "type": "team"},
        format="json",
    )
    assert space.status_code == 201
    mailoutbox.clear()

    invited = inviter.post(
        f"/api/v1/spaces/{space.json()['id']}/invitations",
        {"email": "guest@example.com"},
        format="json",
    )

    assert invited.status_code == 201
    (mail,) = mailoutbox
    _assert_clean(mail)
    assert mail.subject == "You are invited to Team Subject: Urgent: verify at"
    line = _line(mail.body, "Anna")
    # Who really invites: the chosen name, then the account's address.
    assert "(inviter@example.com) invites you to join" in line
    assert '"Team Subject: Urgent: verify at"' in line


def test_a_space_name_with_nothing_left_reads_as_a_space(auth_client, user_factory, mailoutbox):
    inviter = auth_client(user_factory(email="inviter@example.com", name=""))
    space = inviter.post(
        "/api/v1/spaces", {"name": "https://evil.example", "type": "team"}, format="json"
    )
    mailoutbox.clear()
    inviter.post(
        f"/api/v1/spaces/{space.json()['id']}/invitations",
        {"email": "guest@example.com"},
        format="json",
    )
    (mail,) = mailoutbox
    assert mail.subject == "You are invited to a Space on Mana"
    assert "inviter@example.com invites you to join a Space on Mana as member." in mail.body
    assert "evil" not in mail.body + mail.alternatives[0][0]


def test_every_mail_goes_through_the_same_cleaning(auth_client, user_factory, mailoutbox):
    # A notice mail that is not about sign-up: the password-changed notice greets by name.
    user = user_factory(email="carl@example.com", name=HOSTILE)
    client = auth_client(user)
    mailoutbox.clear()
    response = client.post(
        "/api/v1/auth/change-password",
        {"currentPassword": PASSWORD, "newPassword": "another-long-passphrase-9"},
        format="json",
    )
    assert response.status_code == 200
    assert mailoutbox
    for mail in mailoutbox:
        _assert_clean(mail)
