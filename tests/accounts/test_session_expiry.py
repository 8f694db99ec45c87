"""Every way of holding a session — a bearer token, a refresh token, the SSO cookie (API and
pages) — meets the same idle limit (``SESSION_IDLE_TTL_DAYS`` since last use) and the same
absolute expiry (``SESSION_ABSOLUTE_TTL_DAYS`` since sign-in). Using the cookie counts as
use, as a refresh does for bearer tokens. The clock is frozen and moved by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.models import Session
from accounts.sessions import access_token_mint
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

IDLE = timedelta(days=settings.SESSION_IDLE_TTL_DAYS)
ABSOLUTE = timedelta(days=settings.SESSION_ABSOLUTE_TTL_DAYS)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def signed_in(user_factory):
    """A browser signed in at a known instant: the client (with the SSO cookie), the body of
    the sign-in, the session and the instant."""
    user = user_factory()
    start = timezone.now().replace(microsecond=0)
    browser = APIClient()
    with freeze_time(start):
        response = browser.post(
            "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        )
    assert response.status_code == 200
    return browser, response.json(), Session.objects.get(user=user), start


def _bearer(session: Session) -> APIClient:
    """A client holding an access token minted now (as a refresh just before would)."""
    client = APIClient()
    token = access_token_mint(user=session.user, session=session)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "SESSION_REVOKED"


def test_an_idle_cookie_session_is_refused_like_an_idle_bearer_one(signed_in):
    browser, body, session, start = signed_in
    with freeze_time(start + IDLE + MINUTE):
        _refused(browser.get("/api/v1/auth/session"))
        _refused(browser.post("/api/v1/auth/session-to-token"))
        _refused(_bearer(session).get("/api/v1/auth/session"))
        _refused(
            APIClient().post(
                "/api/v1/auth/refresh", {"refreshToken": body["refreshToken"]}, format="json"
            )
        )
        valid = APIClient().post(
            "/api/v1/auth/validate", {"token": _bearer_token(session)}, format="json"
        )
        assert valid.json()["valid"] is False
    # The refusals did not bring it back: its last use is still the sign-in.
    assert Session.objects.get(pk=session.pk).last_used_at == start


def _bearer_token(session: Session) -> str:
    return access_token_mint(user=session.user, session=session)


def test_the_hosted_pages_treat_an_idle_cookie_as_signed_out(signed_in):
    browser, _, _, start = signed_in
    page = APIClient()
    page.cookies[settings.SSO_COOKIE_NAME] = browser.cookies[settings.SSO_COOKIE_NAME].value
    with freeze_time(start + IDLE - MINUTE):
        assert "Sign out" in page.get("/").content.decode()
    with freeze_time(start + IDLE - MINUTE + IDLE + MINUTE):
        assert "Sign out" not in page.get("/").content.decode()


def test_using_the_cookie_keeps_the_session_alive_as_a_refresh_does(signed_in):
    browser, _, session, start = signed_in
    seen = start + IDLE - MINUTE
    with freeze_time(seen):
        assert browser.get("/api/v1/auth/session").status_code == 200
    assert Session.objects.get(pk=session.pk).last_used_at == seen
    with freeze_time(start + IDLE + timedelta(days=1)):  # idle by the sign-in, not by the use
        assert browser.get("/api/v1/auth/session").status_code == 200
        assert _bearer(session).get("/api/v1/auth/session").status_code == 200
    with freeze_time(start + IDLE + timedelta(days=1) + IDLE + MINUTE):
        _refused(browser.get("/api/v1/auth/session"))


def test_cookie_use_writes_last_seen_at_most_every_few_minutes(signed_in):
    browser, _, session, start = signed_in
    with freeze_time(start + MINUTE):
        assert browser.get("/api/v1/auth/session").status_code == 200
    assert Session.objects.get(pk=session.pk).last_used_at == start
    with freeze_time(start + timedelta(minutes=6)):
        assert browser.get("/api/v1/auth/session").status_code == 200
    assert Session.objects.get(pk=session.pk).last_used_at == start + timedelta(minutes=6)


def test_the_absolute_expiry_holds_for_a_session_in_constant_use(signed_in):
    browser, body, session, start = signed_in
    refresh = body["refreshToken"]
    day = start
    while day + timedelta(days=7) < start + ABSOLUTE:
        day += timedelta(days=7)
        with freeze_time(day):
            assert browser.get("/api/v1/auth/session").status_code == 200
    with freeze_time(start + ABSOLUTE - MINUTE):
        pair = APIClient().post("/api/v1/auth/refresh", {"refreshToken": refresh}, format="json")
        assert pair.status_code == 200
        refresh = pair.json()["refreshToken"]
    with freeze_time(start + ABSOLUTE + MINUTE):
        _refused(browser.get("/api/v1/auth/session"))
        _refused(browser.post("/api/v1/auth/session-to-token"))
        _refused(_bearer(session).get("/api/v1/auth/session"))


def test_idle_sessions_are_not_listed_as_live(signed_in):
    _, _, session, start = signed_in
    with freeze_time(start + IDLE + MINUTE):
        other = APIClient()
        fresh = other.post(
            "/api/v1/auth/login",
            {"email": session.user.email, "password": PASSWORD},
            format="json",
        )
        other.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh.json()['accessToken']}")
        listed = other.get("/api/v1/auth/sessions").json()
    ids = [item["id"] for item in (listed["items"] if isinstance(listed, dict) else listed)]
    assert str(session.pk) not in ids and len(ids) == 1


def test_validates_cache_holds_live_until_not_the_absolute_expiry(signed_in, settings):
    """With Redis, ``validate`` caches when the session stops being live — its idle limit here,
    weeks before its absolute expiry — so a cached "live" cannot outlast the idle limit."""
    from accounts import selectors
    from security import shared_state
    from tests.conftest import store_select

    _, _, session, start = signed_in
    store_select(settings, "redis")
    almost = start + IDLE - MINUTE
    with freeze_time(almost):
        token = _bearer_token(session)
        body = {"token": token}
        assert APIClient().post("/api/v1/auth/validate", body, format="json").json()["valid"]
        cached = shared_state.get(selectors.session_cache_keys({"sid": str(session.id)})[0])
    assert cached == [str(session.user_id), (start + IDLE).timestamp()]
    with freeze_time(start + IDLE + MINUTE):  # the token itself is 2 minutes old: still valid
        after = APIClient().post("/api/v1/auth/validate", body, format="json").json()
    assert after == {"valid": False, "code": "SESSION_REVOKED"}
    store_select(settings, "postgres")
