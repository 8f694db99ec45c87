"""The operators' console requires a confirmed TOTP device (django-otp's admin site)."""

from __future__ import annotations

import pyotp
import pytest
from django.test import Client

from accounts.mfa import totp_enroll_confirmed
from mana_auth.clientip import RequestMeta
from security.models import SecurityEvent
from security.otp.models import SealedTotpDevice
from tests.accounts.signin.mfa_helpers import STEP, code_at, frozen_clock
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def frozen():
    with frozen_clock() as clock:
        yield clock


@pytest.fixture
def staff(user_factory):
    return user_factory(email="ops@example.com", is_staff=True, is_superuser=True, role="admin")


def enrol(user) -> tuple[str, SealedTotpDevice]:
    enrolment = totp_enroll_confirmed(user=user, meta=RequestMeta())
    secret = pyotp.parse_uri(enrolment.otpauth_uri).secret
    return secret, SealedTotpDevice.objects.get(user=user)


def admin_login(client: Client, user, **otp):
    return client.post(
        LOGIN, {"username": user.email, "password": PASSWORD, "next": "/admin/", **otp}
    )


def test_the_admin_site_is_django_otps(settings):
    from django.contrib import admin
    from django_otp.admin import OTPAdminSite

    assert isinstance(admin.site, OTPAdminSite)
    assert settings.ADMIN_TOTP_ENFORCED is True


def test_staff_without_an_otp_device_cannot_enter_the_admin(staff):
    client = Client()
    assert client.get("/admin/").status_code == 302
    response = admin_login(client, staff)
    assert response.status_code == 200  # the form again, not a redirect into the console
    assert b"errornote" in response.content or b"errorlist" in response.content
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    # Even a session that got past the password alone is not let in.
    client.force_login(staff)
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 302


def test_staff_with_a_confirmed_device_and_a_right_code_can_enter(staff):
    secret, device = enrol(staff)
    client = Client()
    response = admin_login(
        client, staff, otp_device=device.persistent_id, otp_token=code_at(secret)
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_or_replayed_code_keeps_staff_out(staff, frozen):
    secret, device = enrol(staff)
    code = code_at(secret)
    wrong = str((int(code) + 1) % 1_000_000).zfill(6)
    client = Client()
    response = admin_login(client, staff, otp_device=device.persistent_id, otp_token=wrong)
    assert response.status_code == 200 and client.get("/admin/").status_code == 302
    frozen.tick(STEP * 2)
    code = code_at(secret)
    assert (
        admin_login(Client(), staff, otp_device=device.persistent_id, otp_token=code).status_code
        == 302
    )
    replay = Client()
    assert (
        admin_login(replay, staff, otp_device=device.persistent_id, otp_token=code).status_code
        == 200
    )
    assert replay.get("/admin/").status_code == 302


def test_an_unconfirmed_device_does_not_open_the_admin(staff, auth_client):
    client = auth_client(staff)
    secret = client.post("/api/v1/me/mfa/totp/setup", {}, format="json").json()["secret"]
    device = SealedTotpDevice.objects.get(user=staff)
    browser = Client()
    response = admin_login(
        browser, staff, otp_device=device.persistent_id, otp_token=code_at(secret)
    )
    assert response.status_code == 200 and browser.get("/admin/").status_code == 302


def test_another_users_device_does_not_open_the_admin(staff, user_factory):
    other = user_factory(email="other@example.com")
    secret, device = enrol(other)
    client = Client()
    response = admin_login(
        client, staff, otp_device=device.persistent_id, otp_token=code_at(secret)
    )
    assert response.status_code == 200 and client.get("/admin/").status_code == 302


def test_the_admin_login_is_rate_limited_per_ip(staff):
    client = Client()
    for _ in range(10):
        assert client.post(LOGIN, {"username": staff.email, "password": "x"}).status_code == 200
    limited = client.post(LOGIN, {"username": staff.email, "password": "x"})
    assert limited.status_code == 429 and limited["Retry-After"]


def test_without_enforcement_the_password_alone_is_enough(staff, settings):
    settings.ADMIN_TOTP_ENFORCED = False
    client = Client()
    response = admin_login(client, staff)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_device_pages_never_show_secrets(staff):
    secret, device = enrol(staff)
    client = Client()
    admin_login(client, staff, otp_device=device.persistent_id, otp_token=code_at(secret))
    listing = client.get("/admin/security/sealedtotpdevice/")
    detail = client.get(f"/admin/security/sealedtotpdevice/{device.pk}/change/")
    assert listing.status_code == detail.status_code == 200
    for page in (listing, detail):
        text = page.content.decode()
        assert secret not in text and bytes(device.seed_ciphertext).hex() not in text
        assert "seed" not in text.lower()
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/security/sealedtotpdevice/add/").status_code == 403


def test_removing_a_device_in_the_admin_goes_through_the_service(staff, user_factory, mailoutbox):
    secret, device = enrol(staff)
    owner = user_factory(email="lost-phone@example.com")
    _, lost = enrol(owner)
    mailoutbox.clear()
    client = Client()
    admin_login(client, staff, otp_device=device.persistent_id, otp_token=code_at(secret))
    response = client.post(f"/admin/security/sealedtotpdevice/{lost.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SealedTotpDevice.objects.filter(user=owner).exists()
    event = SecurityEvent.objects.get(user=owner, type="MFA_DISABLED")
    assert event.metadata["actorId"] == str(staff.pk)
    assert [mail.to for mail in mailoutbox] == [[owner.email]]
