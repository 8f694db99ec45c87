"""Passkey sign-in as the contract states it, a cooldown no stranger can impose on the owner,
and decoy options that look like real ones (issue 14 points 1 and 8, issue 15 point 10)."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from datetime import timedelta

import pytest
from freezegun import freeze_time
from rest_framework.test import APIClient

from accounts.emails import email_key
from accounts.models import Passkey, Session, User
from security import ratelimit
from security.models import SecurityEvent
from tests.passkeys.authenticator import SoftAuthenticator, b64, unb64
from tests.passkeys.conftest import BASE, next_minute, sign_in_options, sign_in_verify

pytestmark = pytest.mark.django_db


def refused(response) -> bool:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "PASSKEY_VERIFICATION_FAILED"
    return True


# --- The contract's body: {credential} --------------------------------------------------------


def test_verify_takes_the_contracts_body_the_credential_alone(passkey_user):
    """What @simplewebauthn/browser sends: the credential JSON and nothing else."""
    client, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    response = api.post(
        f"{BASE}authenticate/verify", {"credential": device.get(options)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(client.user.id)
    assert Session.objects.filter(user=client.user, auth_method="passkey").count() == 1


def test_an_email_ceremony_is_found_from_its_challenge_too(passkey_user):
    client, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api, client.user.email).json()
    response = sign_in_verify(api, None, device.get(options, user_handle=None))
    assert response.status_code == 200, response.content


def test_of_two_open_ceremonies_each_assertion_finds_its_own(passkey_user):
    _, device, _ = passkey_user()
    api = APIClient()
    first = sign_in_options(api).json()
    second = sign_in_options(api).json()
    assert sign_in_verify(api, None, device.get(second)).status_code == 200
    assert sign_in_verify(api, None, device.get(first)).status_code == 200


def test_a_ceremony_id_is_still_accepted_and_must_match(passkey_user):
    _, device, _ = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    assert options["ceremonyId"]
    assert sign_in_verify(api, options["ceremonyId"], device.get(options)).status_code == 200
    # Another ceremony's id with this ceremony's assertion: refused, and the challenge is spent.
    mine = sign_in_options(api).json()
    other = sign_in_options(api).json()
    credential = device.get(mine)
    assert refused(sign_in_verify(api, other["ceremonyId"], credential))
    assert refused(sign_in_verify(api, None, credential))
    assert sign_in_verify(api, "", device.get(other)).status_code == 200  # blank: not sent
    last = sign_in_options(api).json()
    response = api.post(
        f"{BASE}authenticate/verify",
        {"credential": device.get(last), "ceremonyId": None},
        format="json",
    )
    assert response.status_code == 200, response.content  # null: not sent


def test_an_assertion_over_a_challenge_never_handed_out_is_refused(passkey_user):
    client, device, passkey = passkey_user()
    api = APIClient()
    options = sign_in_options(api).json()
    forged = {**options, "challenge": b64(os.urandom(32))}
    assert refused(sign_in_verify(api, None, device.get(forged)))
    short = {**options, "challenge": b64(b"short")}
    assert refused(sign_in_verify(api, None, device.get(short)))
    failures = SecurityEvent.objects.filter(user=client.user, type="LOGIN_FAILURE")
    assert [event.metadata for event in failures] == [
        {"method": "passkey", "passkeyId": passkey["id"]}
    ] * 2
    # The real ceremony is still open.
    assert sign_in_verify(api, None, device.get(options)).status_code == 200


@pytest.mark.parametrize(
    "client_data",
    [
        b"not json",
        b"[1, 2]",
        b'{"type": "webauthn.get"}',
        b'{"challenge": 7}',
        b"[" * 2000 + b"]" * 2000,
        "\udcff".encode("utf-8", "surrogatepass"),
    ],
    ids=["not-json", "array", "no-challenge", "number", "deeply-nested", "not-utf8"],
)
def test_malformed_client_data_is_a_verification_failure(passkey_user, client_data):
    _, device, _ = passkey_user()
    api = APIClient()
    credential = device.get(sign_in_options(api).json())
    credential["response"]["clientDataJSON"] = b64(client_data)
    assert refused(sign_in_verify(api, None, credential))


def test_the_options_schema_marks_ceremony_id_optional_in_the_verify_body(api_client):
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    body = schema["components"]["schemas"]["PasskeyAuthenticateVerifyInputRequest"]
    assert body["required"] == ["credential"]
    assert "ceremonyId" in body["properties"]


# --- A stranger cannot freeze the owner's passkey ---------------------------------------------


def test_a_strangers_failures_throttle_him_but_not_the_owner(passkey_user, passkey_sign_in):
    """Credential ids are not secret (they are in every allowCredentials list): failures count
    per credential and client address, so the owner elsewhere keeps signing in."""
    client, device, passkey = passkey_user()
    attacker = APIClient(REMOTE_ADDR="203.0.113.66")
    owner = APIClient(REMOTE_ADDR="198.51.100.20")
    start = next_minute()
    with freeze_time(start):
        for _ in range(ratelimit.PASSKEY_FAILURES_CREDENTIAL.limit):
            assert refused(passkey_sign_in(device, client=attacker, tamper_signature=True))
        # The attacker is in the cooldown for this credential, even with a genuine assertion.
        blocked = passkey_sign_in(device, client=attacker)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "RATE_LIMITED"
        assert 290 <= blocked.json()["details"]["retryAfter"] <= 301
        # The owner, from another address, signs in as if nothing happened.
        signed_in = passkey_sign_in(device, client=owner)
        assert signed_in.status_code == 200, signed_in.content
    with freeze_time(start + timedelta(minutes=2)):
        assert passkey_sign_in(device, client=attacker).status_code == 429
        assert passkey_sign_in(device, client=owner).status_code == 200
    assert Session.objects.filter(user=client.user, auth_method="passkey").count() == 2
    failures = SecurityEvent.objects.filter(user=client.user, type="LOGIN_FAILURE")
    assert failures.count() == ratelimit.PASSKEY_FAILURES_CREDENTIAL.limit
    assert {event.ip_address for event in failures} == {"203.0.113.66"}
    assert Passkey.objects.get(id=passkey["id"]).last_used_at is not None


def test_the_cooldown_is_per_credential_from_one_address(passkey_user, passkey_sign_in):
    """One address in the cooldown for one credential may still use another credential."""
    _, device, _ = passkey_user()
    _, other_device, _ = passkey_user()
    api = APIClient(REMOTE_ADDR="203.0.113.67")
    with freeze_time(next_minute()):
        for _ in range(ratelimit.PASSKEY_FAILURES_CREDENTIAL.limit):
            assert refused(passkey_sign_in(device, client=api, uv=False))
        assert passkey_sign_in(device, client=api).status_code == 429
        assert passkey_sign_in(other_device, client=api).status_code == 200


# --- Decoys look like real lists ---------------------------------------------------------------

REAL_ACCOUNTS = 300
UNKNOWN_ADDRESSES = 600


def _shapes(responses: list[dict]) -> tuple[Counter, Counter, set]:
    counts: Counter = Counter()
    lengths: Counter = Counter()
    keys: set = set()
    for options in responses:
        allowed = options["allowCredentials"]
        counts[len(allowed)] += 1
        for entry in allowed:
            lengths[len(unb64(entry["id"]))] += 1
            keys.add(tuple(sorted(entry)))
    return counts, lengths, keys


def _distance(first: Counter, second: Counter) -> float:
    """Total variation distance of two empirical distributions (0: equal, 1: disjoint)."""
    one, two = sum(first.values()), sum(second.values())
    return sum(abs(first[k] / one - second[k] / two) for k in set(first) | set(second)) / 2


# Accounts as the authenticators people use make them: (passkeys, credential id length).
# Google Password Manager / Bitwarden 16 bytes, iCloud Keychain 20, Windows Hello / 1Password 32,
# security keys 64; most accounts have one passkey.
AUTHENTICATOR_POPULATION = (
    [(1, 16)] * 85
    + [(1, 20)] * 60
    + [(1, 32)] * 70
    + [(1, 64)] * 25
    + [(2, 16)] * 20
    + [(2, 32)] * 20
    + [(3, 20)] * 20
)


def _real_accounts(population: list[tuple[int, int]], prefix: str = "real") -> list[User]:
    users = User.objects.bulk_create(
        User(email=address, email_key=email_key(address), name="Real")
        for address in (f"{prefix}{index}@example.com" for index in range(len(population)))
    )
    Passkey.objects.bulk_create(
        Passkey(
            user=user,
            credential_id=(cid := os.urandom(length)),
            credential_id_b64=b64(cid),
            public_key=b"\x00",
            transports=["internal", "hybrid"] if number % 2 else ["usb"],
            name="Key",
        )
        for user, (count, length) in zip(users, population, strict=True)
        for number in range(count)
    )
    return users


def test_decoys_are_shaped_like_the_lists_authenticators_produce(settings):
    """Over many addresses, the lists for unknown addresses have the same keys, the same number
    of entries and the same id lengths as real accounts' lists (attacker's review, finding 3:
    the earlier decoys — always ``["hybrid", "internal"]``, at most two entries, four fixed
    lengths — were told apart at once by this comparison)."""
    settings.RATE_LIMITS_ENABLED = False
    users = _real_accounts(AUTHENTICATOR_POPULATION)
    assert len(users) == REAL_ACCOUNTS
    api = APIClient()
    real = [sign_in_options(api, user.email).json() for user in users]
    unknown = [
        sign_in_options(api, f"nobody{index}@example.org").json()
        for index in range(UNKNOWN_ADDRESSES)
    ]
    real_counts, real_lengths, real_keys = _shapes(real)
    fake_counts, fake_lengths, fake_keys = _shapes(unknown)
    assert real_keys == fake_keys == {("id", "type")}, "transports would tell them apart"
    assert set(fake_counts) <= set(real_counts)
    assert set(fake_lengths) <= set(real_lengths)
    assert fake_counts.most_common(1)[0][0] == 1, "most accounts have one passkey"
    assert _distance(real_counts, fake_counts) < 0.12, (real_counts, fake_counts)
    assert _distance(real_lengths, fake_lengths) < 0.12, (real_lengths, fake_lengths)
    # The ids are encoded alike: unpadded base64url, as py_webauthn renders real ones.
    for options in real + unknown:
        for entry in options["allowCredentials"]:
            assert "=" not in entry["id"] and b64(unb64(entry["id"])) == entry["id"]


def test_a_decoy_does_not_move_when_the_population_does(settings):
    """A real account's list stays the same from one request to the next, so a decoy must too:
    derived from the address alone, not from a model learnt from the stored passkeys (which moved
    as passkeys were added, and differed between workers until each re-learnt it). Asking for
    the same unknown address twice, hours apart, must not tell it from a real account."""
    settings.RATE_LIMITS_ENABLED = False
    api = APIClient()
    addresses = [f"steady{index}@example.org" for index in range(40)]
    before = [sign_in_options(api, address).json()["allowCredentials"] for address in addresses]
    # Meanwhile many accounts register passkeys of unusual shapes (four 48-byte ids each).
    _real_accounts([(4, 48)] * 100, prefix="later")
    with freeze_time(timedelta(hours=2), tick=True):  # past any per-worker memo
        after = [sign_in_options(api, address).json()["allowCredentials"] for address in addresses]
    assert after == before


def test_a_decoy_is_stable_for_its_address_and_differs_between_addresses(user_factory, settings):
    settings.RATE_LIMITS_ENABLED = False
    without_passkeys = user_factory()
    api = APIClient()
    first = sign_in_options(api, without_passkeys.email).json()["allowCredentials"]
    again = sign_in_options(api, without_passkeys.email.upper()).json()["allowCredentials"]
    assert first == again
    lists = {
        json.dumps(sign_in_options(api, f"x{index}@example.net").json()["allowCredentials"])
        for index in range(20)
    }
    assert len(lists) == 20


def test_decoy_ids_are_base64url_of_plausible_length(user_factory):
    api = APIClient()
    for index in range(10):
        for entry in sign_in_options(api, f"y{index}@example.net").json()["allowCredentials"]:
            raw = base64.urlsafe_b64decode(entry["id"] + "=" * (-len(entry["id"]) % 4))
            assert 16 <= len(raw) <= 1023
            assert entry == {"id": entry["id"], "type": "public-key"}


def test_an_authenticator_without_transports_still_signs_in_through_the_list(passkey_user):
    """Transports are hints; without them the browser simply tries every way."""
    client, device, _ = passkey_user()
    assert Passkey.objects.get(user=client.user).transports == ["internal"]
    api = APIClient()
    options = sign_in_options(api, client.user.email).json()
    assert options["allowCredentials"] == [{"id": device.credential_id_b64, "type": "public-key"}]
    assert sign_in_verify(api, None, device.get(options)).status_code == 200


def test_a_verify_without_a_ceremony_id_counts_its_failure_like_any_other(passkey_user):
    client, device, _ = passkey_user()
    api = APIClient()
    credential = device.get(sign_in_options(api).json(), tamper_signature=True)
    assert refused(sign_in_verify(api, None, credential))
    assert SecurityEvent.objects.filter(user=client.user, type="LOGIN_FAILURE").count() == 1


def test_the_discoverable_flow_has_nothing_to_hide(passkey_user):
    passkey_user()
    assert sign_in_options(APIClient()).json()["allowCredentials"] == []


def test_an_authenticator_answering_with_a_longer_id_is_just_an_unknown_credential(passkey_user):
    passkey_user()
    stranger = SoftAuthenticator(credential_id=os.urandom(200))
    stranger.user_handle = b"\x01" * 16
    api = APIClient()
    assert refused(sign_in_verify(api, None, stranger.get(sign_in_options(api).json())))
