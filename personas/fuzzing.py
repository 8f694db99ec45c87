"""The accounts a schemathesis run signs in as (``manage.py fuzz_seed``; never production).

The fuzzer needs real identities to get past authentication and real objects for the paths it
tries. This creates the accounts, their sessions and the Spaces they share, through the same
services sign-up and the API use; ``scripts/schemathesis_hooks.py`` reads the result and builds
everything else (passkeys, API keys, credentials, invitations, personas) through the HTTP API.

Operations that destroy what they act on (deleting an account, a member, a user's data) get
accounts from a pool, one per successful call, so the durable ones stay usable for the rest
of the run.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.registration import user_register
from accounts.signin.session import session_start
from mana_auth.clientip import RequestMeta
from spaces.models import Membership, SpaceRole
from spaces.services.spaces import space_create
from vault import services as vault_services

# Accounts with one role each in the run (see scripts/schemathesis_hooks.py for their use).
SIGNED_IN = ("user", "admin", "other", "mfa", "passkey", "cookie", "zk", "keys")
SIGNED_OUT = ("target", "signin", "magic", "reset", "bystander")
# One account (or Space) per successful call of an operation that consumes it; the hooks make
# every other positive case a real one, so a run of a few minutes uses a few dozen.
POOLS = {"doomed": 60, "unverified": 30, "members": 24, "targets": 24}
LEAVE_SPACES = 24


class FuzzSeedRefused(Exception):
    """Seeding fuzz accounts is refused in production."""


def _account(*, run: str, label: str, password: str, verified: bool = True, **fields: Any) -> User:
    user, _ = user_register(
        email=f"fuzz-{run}-{label}@example.com",
        password=password,
        name=f"Fuzz {label}",
        meta=RequestMeta(ip="127.0.0.1"),
        send_verification=False,
    )
    if verified:
        fields["email_verified_at"] = timezone.now()
    User.objects.filter(pk=user.pk).update(**fields)
    user.refresh_from_db()
    return user


def _identity(user: User, *, signed_in: bool) -> dict[str, Any]:
    identity: dict[str, Any] = {"id": str(user.pk), "email": user.email}
    if signed_in:
        sign_in = session_start(user=user, meta=RequestMeta(ip="127.0.0.1"), method="password")
        identity.update(
            token=sign_in.tokens.access_token,
            cookie=sign_in.cookie_value,
            sessionId=str(sign_in.session.pk),
        )
    return identity


@transaction.atomic
def fuzz_targets_seed() -> dict[str, Any]:
    """Create a fresh set of fuzzing accounts (a new run id each time) and describe them."""
    if settings.IS_PRODUCTION:
        raise FuzzSeedRefused("fuzz accounts are never created in production")
    run = secrets.token_hex(4)
    password = secrets.token_urlsafe(18)
    meta = RequestMeta(ip="127.0.0.1")
    accounts: dict[str, User] = {
        label: _account(run=run, label=label, password=password, **extra)
        for label, extra in (
            *((label, {}) for label in SIGNED_IN + SIGNED_OUT if label != "admin"),
            ("admin", {"role": "admin"}),
        )
    }
    pools: dict[str, list[User]] = {
        pool: [
            _account(
                run=run, label=f"{pool}{index}", password=password, verified=pool != "unverified"
            )
            for index in range(size)
        ]
        for pool, size in POOLS.items()
    }
    user, other = accounts["user"], accounts["other"]
    vault_services.vault_init(user=user, meta=meta)
    space = space_create(user=user, name="Fuzz team", type="team", meta=meta)
    for member in [accounts["target"], *pools["members"]]:
        Membership.objects.create(space=space, user=member, role=SpaceRole.MEMBER)
    leave_spaces = []
    for _ in range(LEAVE_SPACES):  # Spaces of another owner the user may leave, one per leave
        shared = space_create(user=other, name="Fuzz club", type="club", meta=meta)
        Membership.objects.create(space=shared, user=user, role=SpaceRole.MEMBER)
        leave_spaces.append(str(shared.pk))
    return {
        "run": run,
        "password": password,
        "accounts": {
            label: _identity(account, signed_in=label in SIGNED_IN)
            for label, account in accounts.items()
        },
        "pools": {
            "doomed": [_identity(account, signed_in=False) for account in pools["doomed"]],
            "unverified": [account.email for account in pools["unverified"]],
            "members": [str(account.pk) for account in pools["members"]],
            "targets": [str(account.pk) for account in pools["targets"]],
            "leaveSpaces": leave_spaces,
        },
        "space": str(space.pk),
        "member": str(accounts["target"].pk),
    }
