"""The service's WSGI application, plus an ``X-Test-Worker`` header naming the process that
answered. Test-only: ``tests/foundation/test_two_workers.py`` serves it with gunicorn to see
which of two workers handled each request."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from mana_auth.wsgi import application as service


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Test-Worker", str(os.getpid()))], exc_info)

    return service(environ, start)
