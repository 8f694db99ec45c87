"""The console's changelists refuse a filter on a secret column (attack2 F11).

Django lets a changelist filter on any local field named in the query string; on the password
hash that is an oracle (``?password__startswith=argon2$…`` answers one row or none). Every
console admin refuses such a lookup with 400, whatever the column and however it is reached.
"""

from __future__ import annotations

import pyotp
import pytest
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.test import Client

from accounts.mfa import totp_enroll_confirmed
from mana_auth.clientip import RequestMeta
from mana_auth.console_lookups import is_secret_field_name
from tests.accounts.signin.mfa_helpers import frozen_clock
from tests.admin.test_console import otp_login

pytestmark = pytest.mark.django_db

# Every column the console must never reveal, by model (tests/admin/test_console.py's list).
SECRET_COLUMNS = {
    "accounts.User": ["password"],
    "accounts.Session": ["cookie_hash"],
    "accounts.RefreshToken": ["token_hash"],
    "accounts.OneTimeToken": ["token_hash"],
    "accounts.ApiKey": ["key_hash"],
    "accounts.SigningKey": ["private_wrapped", "private_iv"],
    "accounts.Passkey": ["public_key"],
    "spaces.Invitation": ["token_hash"],
    "spaces.SpaceCredential": ["ciphertext", "iv"],
    "security.BackupCode": ["code_hash"],
    "security.SealedTotpDevice": ["seed_ciphertext", "seed_iv"],
    "vault.Vault": ["wrapped_mk", "wrap_iv", "recovery_wrapped_mk", "recovery_iv"],
}


@pytest.fixture
def console(user_factory) -> Client:
    with frozen_clock():
        staff = user_factory(
            email="ops@example.com", is_staff=True, is_superuser=True, role="admin"
        )
        secret = pyotp.parse_uri(totp_enroll_confirmed(user=staff, meta=RequestMeta()).otpauth_uri)
        client = Client()
        otp_login(client, staff, secret.secret)
        yield client


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/admin/accounts/user/", {"password__startswith": "argon2"}),
        ("/admin/accounts/user/", {"email": "ops@example.com", "password__startswith": "zzz"}),
        ("/admin/accounts/user/", {"password__gt": "m"}),
        ("/admin/accounts/user/", {"password": "x"}),
        ("/admin/accounts/user/", {"sessions__cookie_hash__startswith": "a"}),
        ("/admin/accounts/apikey/", {"key_hash__startswith": "a"}),
        ("/admin/accounts/apikey/", {"user__password__startswith": "argon2"}),
        ("/admin/accounts/signingkey/", {"private_wrapped__isnull": "0"}),
        ("/admin/security/sealedtotpdevice/", {"seed_ciphertext__isnull": "0"}),
        ("/admin/security/backupcodedevice/", {"codes__code_hash__startswith": "a"}),
        ("/admin/spaces/invitation/", {"token_hash__startswith": "a"}),
        ("/admin/spaces/spacecredential/", {"ciphertext__isnull": "0"}),
        ("/admin/vault/vault/", {"wrapped_mk__isnull": "0"}),
        ("/admin/vault/vault/", {"recovery_wrapped_mk__startswith": "A"}),
        ("/admin/security/securityevent/", {"user__password__startswith": "argon2"}),
    ],
)
def test_a_filter_on_a_secret_column_is_refused_with_400(console, url, params):
    response = console.get(url, params)
    assert response.status_code == 400, (url, params, response.status_code)


def test_the_ordinary_filters_still_answer(console):
    for url, params in [
        ("/admin/accounts/user/", {"email": "ops@example.com"}),
        ("/admin/accounts/user/", {"role__exact": "admin"}),
        ("/admin/accounts/apikey/", {"state": "active"}),
        ("/admin/vault/vault/", {"zero_knowledge__exact": "1"}),
    ]:
        assert console.get(url, params).status_code == 200, (url, params)


def test_every_secret_column_is_recognised_by_name():
    from django.apps import apps

    for label, columns in SECRET_COLUMNS.items():
        model = apps.get_model(label)
        for column in columns:
            model._meta.get_field(column)  # the column exists under this name
            assert is_secret_field_name(column), (label, column)


def test_every_registered_admin_refuses_every_secret_column_of_its_model():
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for model_field in model._meta.get_fields():
            if not is_secret_field_name(model_field.name):
                continue
            for lookup in (model_field.name, f"{model_field.name}__startswith"):
                assert not model_admin.lookup_allowed(lookup, "a", None), (model, lookup)
                checked += 1
        # Reaching the password hash through the account is refused too.
        for relation in ("user", "created_by", "persona__user"):
            try:
                model._meta.get_field(relation.split("__")[0])
            except FieldDoesNotExist:
                continue
            lookup = f"{relation}__password__startswith"
            assert not model_admin.lookup_allowed(lookup, "a", None), (model, lookup)
            checked += 1
    assert checked > 20
