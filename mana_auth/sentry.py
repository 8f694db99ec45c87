"""Error tracking. Expected client errors (4xx) are not sent; server faults are.

Every event names its service ``server_name="mana-auth"``, as the predecessor tagged them: the
Mana services share one GlitchTip project, where the host name of a container says nothing.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from mana_auth.errors import is_expected_error


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    exc_info = hint.get("exc_info")
    if exc_info and is_expected_error(exc_info[1]):
        return None
    return event


SERVER_NAME = "mana-auth"


def init_sentry(*, dsn: str, environment: str, transport: Any = None) -> None:
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "server_name": SERVER_NAME,
        "integrations": [DjangoIntegration()],
        "before_send": before_send,
        "traces_sample_rate": 0.0,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
