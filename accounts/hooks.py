"""What accounts offers the apps above it: hooks on the life of an account.

Accounts sits below the apps built on users (vault, spaces, personas) and imports none of them;
an app that must act when an account is created or changes registers a function here from its
``AppConfig.ready()`` (``register_rewrapper`` and the GDPR registry are the same pattern).
Hooks run in registration order, i.e. ``INSTALLED_APPS`` order. What a deletion must erase
beyond the database's cascades is registered with the GDPR registry (``mana_auth.gdpr``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.models import User
from mana_auth.clientip import RequestMeta

UserHook = Callable[..., None]  # fn(*, user)
ClaimHook = Callable[..., dict[str, Any]]  # fn(*, user, meta) -> what went, for the audit event

_created: list[UserHook] = []
_signed_up: list[UserHook] = []
_tier_changed: list[UserHook] = []
_address_claimed: list[ClaimHook] = []


def _add(hooks: list[UserHook], fn: UserHook) -> None:
    if fn not in hooks:
        hooks.append(fn)


def on_user_created(fn: UserHook) -> None:
    """``fn(user=…)`` inside the sign-up transaction, right after the account row: a failure
    aborts the sign-up (the personal Space)."""
    _add(_created, fn)


def on_user_signed_up(fn: UserHook) -> None:
    """``fn(user=…)`` at the end of the sign-up transaction, for side effects that must never
    abort it (they handle their own failures: the sync store's singletons)."""
    _add(_signed_up, fn)


def on_user_tier_changed(fn: UserHook) -> None:
    """``fn(user=…)`` inside the transaction that changed the account's access tier."""
    _add(_tier_changed, fn)


def on_address_claimed(fn: ClaimHook) -> None:
    """``fn(user=…, meta=…)`` inside the claim's transaction (``recovery.address_claim``): the
    mailbox owner takes over an account someone else signed up, so what that stranger made on
    it goes (the vault; Spaces, memberships, invitations). Returns counts for the
    ``ADDRESS_CLAIMED`` event; a failure aborts the claim."""
    if fn not in _address_claimed:
        _address_claimed.append(fn)


def user_created(*, user: User) -> None:
    for fn in _created:
        fn(user=user)


def user_signed_up(*, user: User) -> None:
    for fn in _signed_up:
        fn(user=user)


def user_tier_changed(*, user: User) -> None:
    for fn in _tier_changed:
        fn(user=user)


def address_claimed(*, user: User, meta: RequestMeta) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for fn in _address_claimed:
        summary.update(fn(user=user, meta=meta))
    return summary
