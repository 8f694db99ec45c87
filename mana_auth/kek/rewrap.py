"""Everything wrapped by the KEK registers here, so ``manage.py rewrap_vaults`` can move it all
to the active KEK after a rotation.

An app registers once, in its ``AppConfig.ready()``::

    from mana_auth.kek.rewrap import register_rewrapper
    register_rewrapper("totp_secrets", totp_secrets_rewrap)

A rewrapper is ``fn(batch_size) -> (rewrapped, total)``: it re-wraps every row of its kind not
yet under the active KEK (``mana_auth.kek.keyring.reseal`` does one value), commits batch by
batch so an interrupted run keeps its progress, and leaves rows already under the active KEK
alone, so it can simply be run again.
"""

from __future__ import annotations

from collections.abc import Callable

Rewrapper = Callable[[int], tuple[int, int]]

_registry: dict[str, Rewrapper] = {}


def register_rewrapper(name: str, fn: Rewrapper) -> None:
    """Register ``fn`` under ``name``; registering the same function again is a no-op."""
    existing = _registry.get(name)
    if existing is not None and existing is not fn:
        raise ValueError(f"a different rewrapper is already registered as {name!r}")
    _registry[name] = fn


def unregister_rewrapper(name: str) -> None:
    _registry.pop(name, None)


def rewrappers() -> dict[str, Rewrapper]:
    """The registered rewrappers, in registration order."""
    return dict(_registry)
