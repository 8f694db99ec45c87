"""An address whose comparison key outgrows the lockout's column gets the console's one
failure answer, never a 500 (attack2 F12).

NFKC and case folding lengthen some characters ("ﬃ" → "ffi"): 84 times "ﬃ" then "@x.test" is
91 characters typed, 259 as a key, and the failure's lockout row (``email_key varchar(254)``)
could not be written: the console answered 500.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.emails import email_key
from security.models import LoginAttempt, LoginThrottle
from tests.accounts.signin.test_admin_login import enrol, frozen, page, post, staff  # noqa: F401

pytestmark = pytest.mark.django_db

LONG = "ﬃ" * 84 + "@x.test"
SHORTER = "ﬃ" * 82 + "@x.test"  # 253 as a key: fits, an ordinary unknown address


def test_the_long_address_does_outgrow_the_column():
    assert len(LONG) <= 254 < len(email_key(LONG))
    assert len(email_key(SHORTER)) <= 254


@pytest.mark.parametrize("with_code", [False, True])
def test_an_address_too_long_as_a_key_gets_the_one_failure_answer(staff, with_code):  # noqa: F811
    enrol(staff)
    otp = {"otp_token": "123456"} if with_code else {}
    long = post(Client(), LONG, "any-password-1", **otp)
    assert long.status_code == 200
    unknown = post(Client(), "nobody@example.com", "any-password-1", **otp)
    assert page(long, LONG) == page(unknown, "nobody@example.com")
    assert b"Please enter the correct email" in long.content
    assert not LoginThrottle.objects.filter(email_key__startswith="ffi").exists()
    assert not LoginAttempt.objects.filter(email_key__startswith="ffi").exists()


def test_a_long_address_that_fits_is_counted_like_any_unknown_address(staff):  # noqa: F811
    enrol(staff)
    response = post(Client(), SHORTER, "any-password-1", otp_token="123456")
    assert response.status_code == 200
    assert LoginThrottle.objects.get(scope=f"acct:{email_key(SHORTER)}").failures == 1
