"""Sign-up, verification and the daily cap."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from accounts.models import OneTimeToken, User
from security.models import SecurityEvent

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
GOOD = "violet-harbour-lantern-42"


def register(client, email="new@example.com", password=GOOD, **extra):
    return client.post(REGISTER, {"email": email, "password": password, **extra}, format="json")


def link_token(mail) -> str:
    match = re.search(r"https?://\S+", mail.body)
    assert match, mail.body
    return parse_qs(urlsplit(match.group(0)).query)["token"][0]


def test_register_creates_user_and_sends_verification(api_client, mailoutbox):
    response = register(api_client, email="  Anna@Example.COM ", name="Anna", locale="de")
    assert response.status_code == 201
    assert response.json() == {"status": "verification_sent", "email": "Anna@example.com"}
    user = User.objects.get_by_email("anna@example.com")
    assert user.name == "Anna" and user.locale == "de" and not user.email_verified
    assert user.password.startswith("argon2$argon2id$")
    assert SecurityEvent.objects.filter(user=user, type="REGISTER").count() == 1
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["Anna@example.com"]
    assert "Bestätige" in mail.subject
    assert mail.alternatives and mail.alternatives[0][1] == "text/html"
    token = link_token(mail)
    assert len(token) >= 22  # ≥128 bits, url-safe
    stored = OneTimeToken.objects.get(user=user, purpose="verify_email")
    assert stored.token_hash != token and token not in stored.token_hash


def test_register_existing_email_answers_the_same_and_notifies_owner(
    api_client, user_factory, mailoutbox
):
    owner = user_factory(email="owner@example.com")
    mailoutbox.clear()
    response = register(api_client, email="OWNER@example.com")
    assert response.status_code == 201
    assert response.json() == {"status": "verification_sent", "email": "OWNER@example.com"}
    assert User.objects.filter_email("owner@example.com").count() == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [owner.email]
    assert "tried to sign up" in mailoutbox[0].subject


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "too short"),
        ("password123", "too common"),
        ("anna.example@example.com", "too similar"),
        ("x" * 1025, "too long"),
    ],
)
def test_weak_passwords_are_refused_and_nothing_is_created(
    api_client, password, reason, mailoutbox
):
    response = register(api_client, email="anna.example@example.com", password=password)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "WEAK_PASSWORD"
    assert any(reason in text for text in body["details"]["reasons"]), body
    assert not User.objects.filter_email("anna.example@example.com").exists()
    assert mailoutbox == []


def test_sixty_four_character_password_is_allowed(api_client):
    assert register(api_client, password="a1b2c3d4" * 8).status_code == 201


def test_invalid_email_is_validation_error(api_client):
    response = register(api_client, email="not-an-email")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "email" in response.json()["details"]["fields"]


def test_nfkc_and_case_variants_reach_one_account(api_client, user_factory):
    user_factory(email="Zoe@example.com")
    # fullwidth letters normalise (NFKC) to the same address
    assert register(api_client, email="\uff5a\uff4f\uff45@EXAMPLE.com").status_code == 201
    assert User.objects.filter_email("zoe@example.com").count() == 1
    login = api_client.post(
        "/api/v1/auth/login",
        {"email": "\uff3a\uff2f\uff25@example.COM", "password": "correct horse battery staple"},
        format="json",
    )
    assert login.status_code == 200


def test_signup_cap(api_client, settings, user_factory):
    settings.MAX_DAILY_SIGNUPS = 2
    user_factory(kind="persona")  # personas do not count
    status = api_client.get("/api/v1/auth/signup-status").json()
    assert status["open"] is True and status["remainingToday"] == 2
    assert register(api_client, email="a@example.com").status_code == 201
    assert register(api_client, email="b@example.com").status_code == 201
    response = register(api_client, email="c@example.com")
    assert response.status_code == 403
    assert response.json()["code"] == "SIGNUP_LIMIT_REACHED"
    assert "resetsAt" in response.json()["details"]
    assert not User.objects.filter_email("c@example.com").exists()
    status = api_client.get("/api/v1/auth/signup-status").json()
    assert status == {**status, "open": False, "remainingToday": 0}


def test_signup_status_unlimited(api_client):
    body = api_client.get("/api/v1/auth/signup-status").json()
    assert body["open"] is True and body["remainingToday"] is None


@pytest.mark.django_db(transaction=True)
def test_registration_is_one_transaction(api_client, mailoutbox):
    """A failure after the user row is written leaves no half-created user behind."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE security_event RENAME COLUMN metadata TO metadata_x")
    try:
        response = register(api_client, email="half@example.com")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE security_event RENAME COLUMN metadata_x TO metadata")
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert not User.objects.filter_email("half@example.com").exists()
    assert mailoutbox == []


# --- Verification ---------------------------------------------------------------------------


def test_verify_email_by_post_is_single_use(api_client, mailoutbox):
    register(api_client, email="v@example.com")
    token = link_token(mailoutbox[0])
    response = api_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert response.status_code == 200
    assert response.json() == {"verified": True, "passwordRemoved": False}  # the same browser
    assert User.objects.get_by_email("v@example.com").email_verified
    assert SecurityEvent.objects.filter(type="EMAIL_VERIFIED").count() == 1
    again = api_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_verify_email_unknown_token(api_client):
    response = api_client.post("/api/v1/auth/verify-email", {"token": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"


def test_verify_email_expired_token(api_client, mailoutbox):
    from datetime import timedelta

    from django.utils import timezone

    register(api_client, email="late@example.com")
    token = link_token(mailoutbox[0])
    OneTimeToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert response.json()["code"] == "VERIFICATION_TOKEN_INVALID"
    assert not User.objects.get_by_email("late@example.com").email_verified


def test_verify_link_redirects_only_to_trusted_callback(api_client, mailoutbox, settings):
    register(api_client, email="r@example.com")
    token = link_token(mailoutbox[0])
    trusted = "https://app.mana.how/welcome"
    response = api_client.get("/api/v1/auth/verify-email", {"token": token, "callbackURL": trusted})
    assert response.status_code == 302
    assert response["Location"] == trusted + "?status=verified"


@pytest.mark.parametrize(
    "callback",
    [
        "https://evil.example/phish",
        "//evil.example/",
        "https://app.mana.how.evil.example/",
        "javascript:alert(1)",
        "https://app.mana.how@evil.example/",
    ],
)
def test_verify_link_never_redirects_off_origin(api_client, mailoutbox, settings, callback):
    register(api_client, email="o@example.com")
    token = link_token(mailoutbox[0])
    response = api_client.get(
        "/api/v1/auth/verify-email", {"token": token, "callbackURL": callback}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(settings.DEFAULT_REDIRECT_URL)


def test_verify_link_with_bad_token_still_redirects_safely(api_client, settings):
    response = api_client.get(
        "/api/v1/auth/verify-email", {"token": "bad", "callbackURL": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == settings.DEFAULT_REDIRECT_URL + "?status=invalid"


def test_links_use_base_url_not_host_header(api_client, mailoutbox, settings):
    settings.BASE_URL = settings.PUBLIC_PAGES_URL = "https://auth.mana.how"
    settings.ALLOWED_HOSTS = ["*"]
    register(api_client, email="h@example.com", HTTP_HOST="evil.example")
    api_client.post(
        "/api/v1/auth/forgot-password",
        {"email": "h@example.com"},
        format="json",
        HTTP_HOST="evil.example",
        HTTP_X_FORWARDED_HOST="evil.example",
    )
    assert len(mailoutbox) == 2
    for mail in mailoutbox:
        assert "evil.example" not in mail.body
        assert "https://auth.mana.how/" in mail.body


def test_resend_is_enumeration_safe(api_client, user_factory, mailoutbox):
    user_factory(email="pending@example.com", verified=False)
    known = api_client.post(
        "/api/v1/auth/resend-verification", {"email": "pending@example.com"}, format="json"
    )
    unknown = api_client.post(
        "/api/v1/auth/resend-verification", {"email": "ghost@example.com"}, format="json"
    )
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [mail.to for mail in mailoutbox] == [["pending@example.com"]]


def test_resend_is_rate_limited_per_email(api_client, user_factory):
    user_factory(email="spam@example.com", verified=False)
    for _ in range(3):
        api_client.post(
            "/api/v1/auth/resend-verification", {"email": "spam@example.com"}, format="json"
        )
    response = api_client.post(
        "/api/v1/auth/resend-verification", {"email": "spam@example.com"}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) == response.json()["details"]["retryAfter"] > 0


def test_password_similarity_is_judged_on_the_request_not_the_account(api_client, user_factory):
    """An existing address must not be told apart by a password close to the sender's name."""
    user_factory(email="known@example.com", name="Someone Else")
    body = {"name": "Quixotic Zebulon", "password": "quixoticzebulon"}
    known = register(api_client, email="known@example.com", **body)
    unknown = register(api_client, email="unknown@example.com", **body)
    assert known.status_code == unknown.status_code == 400
    assert known.json() == unknown.json()


def test_the_signup_cap_answers_the_same_for_known_and_unknown(api_client, settings, user_factory):
    user_factory(email="known@example.com")
    settings.MAX_DAILY_SIGNUPS = 1
    known = register(api_client, email="known@example.com")
    unknown = register(api_client, email="unknown@example.com")
    assert known.status_code == unknown.status_code == 403
    assert known.json()["code"] == unknown.json()["code"] == "SIGNUP_LIMIT_REACHED"


# --- Known and new addresses do the same work (attacker's review, finding 5) -----------------


def _sign_up_work(monkeypatch, client, email: str) -> tuple[int, int, dict]:
    """``(password hashes, queued mail rows, answer)`` of one sign-up."""
    from accounts.hashers import ManaArgon2PasswordHasher
    from accounts.models import QueuedMail

    calls = []
    encode = ManaArgon2PasswordHasher.encode

    def counting(self, password, salt):
        calls.append(password)
        return encode(self, password, salt)

    monkeypatch.setattr(ManaArgon2PasswordHasher, "encode", counting)
    queued_before = QueuedMail.objects.count()
    response = register(client, email=email)
    assert response.status_code == 201
    monkeypatch.setattr(ManaArgon2PasswordHasher, "encode", encode)
    return len(calls), QueuedMail.objects.count() - queued_before, response.json()


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "never-verified"])
def test_a_known_and_a_new_address_cost_the_same_hashing_and_mail(
    api_client, user_factory, monkeypatch, verified
):
    """Not a timing test: the expensive steps are counted. A sign-up with an address that has
    an account hashes the password once and queues one mail, exactly as a new account does;
    which notice the owner gets is decided after the response."""
    user_factory(email="known@example.com", verified=verified)
    new = _sign_up_work(monkeypatch, api_client, "brand-new@example.com")
    known = _sign_up_work(monkeypatch, api_client, "known@example.com")
    assert new[0] == known[0] == 1, (new, known)
    assert new[1] == known[1] == 1, (new, known)
    assert {**new[2], "email": "-"} == {**known[2], "email": "-"}


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "never-verified"])
def test_a_known_address_runs_the_statements_of_a_new_account_and_leaves_nothing(
    api_client, user_factory, verified
):
    """The rest of a new account's work (its row, personal Space, event) is done for a known
    address too, in a savepoint rolled back: the two paths send (nearly) the same statements
    to the database, and the known one leaves no trace of the throwaway account."""
    from django.test.utils import CaptureQueriesContext

    from spaces.models import Space

    user_factory(email="known@example.com", verified=verified)
    users, spaces = User.objects.count(), Space.objects.count()
    with CaptureQueriesContext(connection) as new:
        assert register(api_client, email="fresh@example.com").status_code == 201
    with CaptureQueriesContext(connection) as known:
        assert register(api_client, email="known@example.com").status_code == 201
    inserts = [
        sum(1 for q in captured.captured_queries if q["sql"].startswith("INSERT"))
        for captured in (new, known)
    ]
    assert abs(len(known) - len(new)) <= 4, (len(new), len(known))
    assert abs(inserts[0] - inserts[1]) <= 1, inserts
    assert User.objects.count() == users + 1 and Space.objects.count() == spaces + 1
    assert not User.objects.filter(email__endswith="sign-up.invalid").exists()


# --- No mail bomb through sign-up notices (attacker's review, finding 6) ----------------------


@pytest.mark.parametrize("verified", [True, False], ids=["verified", "never-verified"])
def test_sign_up_notices_reach_an_owner_at_most_once_an_hour(
    user_factory, mailoutbox, settings, verified
):
    """Each sign-up with someone's address used to mail its owner: from many addresses, an
    unlimited stream. Now one notice an hour per address, counted in the shared state
    (PostgreSQL here: REDIS_URL unset), and every sign-up still answers the same 201."""
    from datetime import timedelta

    from freezegun import freeze_time
    from rest_framework.test import APIClient

    settings.REDIS_URL = ""
    settings.RATE_LIMIT_OVERRIDES = {"register-ip": 1000}
    owner = user_factory(email="bombed@example.com", verified=verified)
    other = user_factory(email="bystander@example.com", verified=verified)
    mailoutbox.clear()
    subject = "tried to sign up" if verified else "Finish"
    for index in range(5):
        client = APIClient(REMOTE_ADDR=f"203.0.113.{index + 1}")  # many sources
        response = register(client, email="bombed@example.com")
        assert response.status_code == 201
        assert response.json() == {"status": "verification_sent", "email": "bombed@example.com"}
    assert register(APIClient(), email="bystander@example.com").status_code == 201
    mailoutbox.deliver()
    to_owner = [mail for mail in mailoutbox if mail.to == [owner.email]]
    assert len(to_owner) == 1 and subject in to_owner[0].subject, [m.subject for m in to_owner]
    assert [mail.to for mail in mailoutbox].count([other.email]) == 1  # per address
    assert SecurityEvent.objects.filter(user=owner, type="REGISTER_EXISTING").count() == 5
    with freeze_time(timedelta(hours=1, minutes=1), tick=True):
        assert register(APIClient(), email="bombed@example.com").status_code == 201
        mailoutbox.deliver()
    assert len([mail for mail in mailoutbox if mail.to == [owner.email]]) == 2
