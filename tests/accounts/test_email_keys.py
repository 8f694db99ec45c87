"""One address, one key: look-alikes neither leak (409) nor squat, every spelling of an address
reaches its one account, and every lookup compares the same stored key (issue 15, point 3)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.emails import email_is_assignable, email_key, normalize_email
from accounts.models import User
from security.models import LoginThrottle
from spaces.models import Invitation
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
GOOD = "violet-harbour-lantern-42"
DOTTED_I = "\u0130"  # İ, LATIN CAPITAL LETTER I WITH DOT ABOVE: PostgreSQL lower() gives "i"
DOTLESS_I = "\u0131"  # LATIN SMALL LETTER DOTLESS I
KELVIN = "\u212a"  # KELVIN SIGN: NFKC gives an ASCII capital K


def fullwidth(text: str) -> str:
    """ASCII letters as their FULLWIDTH forms (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalpha() and c.isascii() else c for c in text)


def register(client, email, password=GOOD):
    return client.post(REGISTER, {"email": email, "password": password}, format="json")


def test_a_dotted_capital_i_look_alike_is_refused_whether_or_not_the_address_exists(
    api_client, user_factory, mailoutbox
):
    lookalike = f"{DOTTED_I}nfo@example.com"
    before = register(api_client, lookalike)  # info@example.com does not exist yet
    user_factory(email="info@example.com")
    mailoutbox.clear()
    after = register(api_client, lookalike)  # now it does

    # The same answer both times: no 409 that says "this address has an account".
    assert before.status_code == after.status_code == 400
    assert before.json() == after.json()
    assert after.json()["code"] == "VALIDATION_ERROR"
    assert "email" in after.json()["details"]["fields"]
    assert User.objects.count() == 1  # no look-alike account was created
    assert mailoutbox == []


@pytest.mark.parametrize("lookalike", [f"{DOTTED_I}nfo@example.com", f"{DOTLESS_I}nfo@example.com"])
def test_look_alike_local_parts_cannot_be_claimed(api_client, lookalike):
    response = register(api_client, lookalike)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not User.objects.exists()


def test_an_existing_look_alike_account_neither_blocks_nor_captures_the_real_owner(
    api_client, mailoutbox
):
    # A squatter from before the fix: PostgreSQL's lower() made this "info@example.com".
    squatter = User.objects.create_user(
        f"{DOTTED_I}nfo@example.com", PASSWORD, email_verified_at=timezone.now()
    )

    response = register(api_client, "info@example.com")

    assert response.status_code == 201
    owner = User.objects.get_by_email("info@example.com")
    assert owner.pk != squatter.pk and owner.email == "info@example.com"
    # The real owner got their own verification mail; nothing went to the look-alike.
    assert [mail.to for mail in mailoutbox] == [["info@example.com"]]
    assert "Confirm" in mailoutbox[0].subject

    mailoutbox.clear()
    forgot = api_client.post(
        "/api/v1/auth/forgot-password", {"email": "INFO@example.com"}, format="json"
    )
    assert forgot.status_code == 202
    assert [mail.to for mail in mailoutbox] == [["info@example.com"]]


@pytest.mark.parametrize(
    "spelling",
    [
        "Kelvin@Example.com",
        f"{KELVIN}elvin@example.com",  # Kelvin sign
        fullwidth("kelvin@example") + ".com",
        "  KELVIN@EXAMPLE.COM ",
    ],
)
def test_every_spelling_of_an_address_reaches_its_one_account(
    api_client, user_factory, mailoutbox, spelling
):
    owner = user_factory(email="kelvin@example.com")
    mailoutbox.clear()

    response = register(api_client, spelling)

    assert response.status_code == 201
    assert User.objects.count() == 1
    assert [mail.to for mail in mailoutbox] == [[owner.email]]
    assert "tried to sign up" in mailoutbox[0].subject
    signed_in = api_client.post(
        "/api/v1/auth/login", {"email": spelling, "password": PASSWORD}, format="json"
    )
    assert signed_in.status_code == 200
    assert signed_in.json()["user"]["id"] == str(owner.pk)


def test_idn_domains_compare_by_their_a_label(api_client, user_factory, mailoutbox):
    response = register(api_client, "Info@BÜCHER.de")
    assert response.status_code == 201
    user = User.objects.get()
    assert user.email == "Info@xn--bcher-kva.de"
    assert user.email_key == "info@xn--bcher-kva.de"
    assert mailoutbox[0].to == ["Info@xn--bcher-kva.de"]
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
    for spelling in (
        "info@bücher.de",
        "INFO@xn--BCHER-kva.DE",
        "info@" + fullwidth("b") + "ü" + fullwidth("cher") + ".de",
    ):
        signed_in = api_client.post(
            "/api/v1/auth/login", {"email": spelling, "password": GOOD}, format="json"
        )
        assert signed_in.status_code == 200, spelling


def test_sharp_s_domains_stay_two_domains(api_client, mailoutbox):
    # IDNA 2003 (Python's codec) mapped faß.de to fass.de: a sign-up for one address mailed
    # another domain, and the owner at faß.de met the account of fass.de.
    assert register(api_client, "anna@fass.de").status_code == 201
    mailoutbox.clear()

    response = register(api_client, "anna@faß.de")

    assert response.status_code == 201
    assert sorted(User.objects.values_list("email", flat=True)) == [
        "anna@fass.de",
        "anna@xn--fa-hia.de",
    ]
    assert [mail.to for mail in mailoutbox] == [["anna@xn--fa-hia.de"]]


def test_change_email_to_a_look_alike_is_refused(auth_client, user_factory, mailoutbox):
    user_factory(email="info@example.com")
    client = auth_client()
    mailoutbox.clear()

    response = client.post(
        "/api/v1/auth/change-email",
        {"newEmail": f"{DOTTED_I}nfo@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "newEmail" in response.json()["details"]["fields"]
    assert mailoutbox == []


def test_invitations_are_bound_to_the_key_and_refuse_look_alikes(
    auth_client, user_factory, mailoutbox
):
    owner = auth_client()
    space = owner.post("/api/v1/spaces", {"name": "Crew", "type": "team"}, format="json").json()
    url = f"/api/v1/spaces/{space['id']}/invitations"

    refused = owner.post(url, {"email": f"{DOTTED_I}nfo@example.com"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "VALIDATION_ERROR"
    assert not Invitation.objects.exists()

    invited = owner.post(url, {"email": f"{KELVIN}AI@Example.COM"}, format="json")
    assert invited.status_code == 201
    invitation = Invitation.objects.get()
    assert invitation.email_key == "kai@example.com"
    again = owner.post(url, {"email": "kai@example.com"}, format="json")
    assert again.status_code == 201
    invitation.refresh_from_db()
    assert invitation.status == "revoked"  # the same address: the new one supersedes it


def test_lockout_counts_every_spelling_against_one_account(api_client, user_factory):
    user_factory(email="lock@example.com")
    spellings = [
        "LOCK@example.com",
        fullwidth("lock") + "@example.com",
        "lock@EXAMPLE.COM",
        "Lock@example.com",
    ]
    for spelling in spellings:
        response = api_client.post(
            "/api/v1/auth/login", {"email": spelling, "password": "wrong-password-1"}, format="json"
        )
        assert response.status_code == 401
    assert set(LoginThrottle.objects.values_list("email_key", flat=True)) == {"lock@example.com"}


def test_the_database_refuses_a_second_row_with_the_same_key(user_factory):
    user_factory(email="dup@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("DUP@example.com", PASSWORD)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'accounts_user_email_key_unique'"
        )
        assert "UNIQUE" in cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'accounts_user' "
            "AND indexdef ILIKE '%lower(%'"
        )
        assert cursor.fetchone()[0] == 0  # PostgreSQL's lower() decides nothing any more


def test_the_key_follows_the_address_on_every_save(user_factory):
    user = user_factory(email="first@example.com")
    user.email = "Second@Example.com"
    user.save(update_fields=["email"])
    stored = User.objects.values_list("email", "email_key").get(pk=user.pk)
    assert stored == ("Second@Example.com", "second@example.com")


@pytest.mark.parametrize(
    ("raw", "key", "assignable"),
    [
        ("  Info@Example.COM ", "info@example.com", True),
        (f"{KELVIN}elvin@x.de", "kelvin@x.de", True),
        ("\u017fam@x.de", "sam@x.de", True),  # long s
        (fullwidth("info@x") + ".de", "info@x.de", True),
        (f"{DOTTED_I}nfo@x.de", "i\u0307nfo@x.de", False),
        ("Straße@x.de", "strasse@x.de", False),
        ("ΟΔΟΣ@x.gr", "οδοσ@x.gr", False),  # final and medial sigma fold alike
        ("info@BÜCHER.de", "info@xn--bcher-kva.de", True),
    ],
)
def test_the_key_function(raw, key, assignable):
    assert email_key(raw) == key
    assert email_is_assignable(raw) is assignable
    assert email_key(normalize_email(raw)) == key
