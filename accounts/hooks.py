"""What accounts offers the apps above it: hooks on the life of an account.

Accounts sits below the apps built on users (vault, spaces, personas) and imports none of them;
an app that must act when an account is created or changes registers a function here from its
``AppConfig.ready()`` (``register_rewrapper`` and the GDPR registry are the same pattern).
Hooks run in registration order, i.e. ``INSTALLED_APPS`` order. What a deletion must erase
beyond the database's cascades is registered with the GDPR registry (``mana_auth.gdpr``).
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import User

UserHook = Callable[..., None]  # fn(*, user)

_created: list[UserHook] = []
_signed_up: list[UserHook] = []
_tier_changed: list[UserHook] = []


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


def user_created(*, user: User) -> None:
    for fn in _created:
        fn(user=user)


def user_signed_up(*, user: User) -> None:
    for fn in _signed_up:
        fn(user=user)


def user_tier_changed(*, user: User) -> None:
    for fn in _tier_changed:
        fn(user=user)
