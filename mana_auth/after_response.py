"""Run work after the response has been sent, when a web request is being served.

A sign-up for a new address does work after its commit that one for a known address does not
(the sync store's singletons, the credits outbox): run inside the request, it made the answer
measurably slower for new addresses (an enumeration oracle). ``after_response(fn)`` defers
``fn`` to Django's ``request_finished`` (sent once the server has written the response);
outside a request (management commands, the mail thread, tests without a client) it runs at
once. Failures are logged, never raised: the response is gone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished, request_started

logger = logging.getLogger("mana_auth.after_response")
_state = threading.local()


def _run(work: list[Callable[[], None]]) -> None:
    for fn in work:
        try:
            fn()
        except Exception:
            logger.exception("work deferred past the response failed")


def _started(**_: Any) -> None:
    leftover = getattr(_state, "pending", None)
    _state.active, _state.pending = True, []
    if leftover:  # a request that never finished: do not lose its work
        _run(leftover)


def _finished(**_: Any) -> None:
    work = getattr(_state, "pending", None) or []
    _state.active, _state.pending = False, []
    _run(work)


def after_response(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the current response has been sent (at once outside a request)."""
    if getattr(_state, "active", False):
        _state.pending.append(fn)
    else:
        _run([fn])


request_started.connect(_started, dispatch_uid="mana_auth.after_response.started")
request_finished.connect(_finished, dispatch_uid="mana_auth.after_response.finished")
