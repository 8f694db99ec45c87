"""A user's credits as mana-credits holds them: the balance and the latest transactions, read
for the GDPR summary and export (the predecessor's summary aggregated them from mana-credits).

``GET {MANA_CREDITS_URL}/api/v1/internal/users/<userId>/credits?limit=<n>`` with
``X-Service-Key`` (the outbox's key and header; redirects not followed), answered with
``{"balance": <number>, "transactions": [{"id", "amount", "type"?, "description"?,
"createdAt"}, …]}`` (other keys ignored). The read never fails the document: while
``MANA_CREDITS_URL`` is unset the result says ``not_configured``; when mana-credits refuses the
connection, takes longer than ``MANA_CREDITS_TIMEOUT_MS`` (2 s), answers other than 2xx, or
answers something else than that shape, it says so (``unreachable``, ``timeout``, ``error``,
``invalid_response``) and the rest of the document answers as usual. "That shape" is strict:
timestamps must be real instants with an offset (``2026-02-30…`` or one without ``Z``/offset is
``invalid_response``), and whatever else goes wrong while reading the answer (a body nested too
deeply for the JSON parser, say) is ``invalid_response`` too, never an error of the document.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = logging.getLogger("mana_auth.credits")

CREDITS_PATH = "/api/v1/internal/users/{user_id}/credits"
SUMMARY_TRANSACTIONS = 10
EXPORT_TRANSACTIONS = 100
# mana-credits' answer is small; anything larger is not the expected shape.
MAX_RESPONSE_BYTES = 256 * 1024
DEFAULT_TIMEOUT_MS = 2000

NOT_CONFIGURED = "not_configured"
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
ERROR = "error"
INVALID_RESPONSE = "invalid_response"
REASONS = (NOT_CONFIGURED, UNREACHABLE, TIMEOUT, ERROR, INVALID_RESPONSE)


@dataclass(frozen=True)
class CreditTransaction:
    id: str
    amount: int | float
    type: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class CreditsReading:
    """``available`` with the balance and transactions (newest first), else the ``reason``."""

    available: bool
    reason: str | None = None
    balance: int | float | None = None
    transactions: list[CreditTransaction] | None = field(default=None)


class _InvalidResponse(ValueError):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _timeout_seconds() -> float:
    milliseconds = getattr(settings, "MANA_CREDITS_TIMEOUT_MS", None) or DEFAULT_TIMEOUT_MS
    return max(int(milliseconds), 1) / 1000


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _InvalidResponse("not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise _InvalidResponse("not a finite number")
    return value


def _text(value: Any, *, required: bool = False, limit: int = 500) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and not required:
        value = str(value)
    if not isinstance(value, str) or (required and not value):
        raise _InvalidResponse("not a string")
    return value[:limit]


def _transaction(raw: Any) -> CreditTransaction:
    if not isinstance(raw, dict):
        raise _InvalidResponse("transaction is not an object")
    identifier = raw.get("id")
    if isinstance(identifier, int) and not isinstance(identifier, bool):
        identifier = str(identifier)
    try:
        # None when it is no timestamp at all; ValueError when it is an impossible one.
        created_at = parse_datetime(_text(raw.get("createdAt"), required=True))
    except ValueError as exc:
        raise _InvalidResponse("createdAt is not a real instant") from exc
    if created_at is None:
        raise _InvalidResponse("createdAt is not a timestamp")
    if timezone.is_naive(created_at):
        # Which instant is meant is unknown, and naive and aware values cannot be ordered.
        raise _InvalidResponse("createdAt has no offset")
    return CreditTransaction(
        id=_text(identifier, required=True, limit=100),
        amount=_number(raw.get("amount")),
        type=_text(raw.get("type"), limit=64),
        description=_text(raw.get("description")),
        created_at=created_at,
    )


def _parse(body: bytes, limit: int) -> CreditsReading:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _InvalidResponse("not JSON") from exc
    if not isinstance(document, dict):
        raise _InvalidResponse("not an object")
    transactions = document.get("transactions", [])
    if not isinstance(transactions, list):
        raise _InvalidResponse("transactions is not a list")
    parsed = [_transaction(raw) for raw in transactions]
    parsed.sort(key=lambda t: t.created_at, reverse=True)
    return CreditsReading(
        available=True,
        balance=_number(document.get("balance")),
        transactions=parsed[:limit],
    )


def _unavailable(reason: str, detail: str) -> CreditsReading:
    logger.warning("credits: reading from mana-credits failed (%s): %s", reason, detail)
    return CreditsReading(available=False, reason=reason)


# At most this many reads run at once per process; more wait their turn within their deadline.
_READERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="credits")


def _fetch(request: urllib.request.Request, timeout: float, deadline: float) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(request, timeout=timeout) as response:
        status = response.status
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_RESPONSE_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError("no complete answer in time")
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return status, b"".join(chunks)


def credits_read(*, user_id: object, limit: int = SUMMARY_TRANSACTIONS) -> CreditsReading:
    """The user's balance and at most ``limit`` latest transactions; never raises for
    mana-credits' failures (see the module's docstring)."""
    if not settings.MANA_CREDITS_URL:
        return CreditsReading(available=False, reason=NOT_CONFIGURED)
    url = settings.MANA_CREDITS_URL.rstrip("/") + CREDITS_PATH.format(
        user_id=quote(str(user_id), safe="")
    )
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return _unavailable(UNREACHABLE, "MANA_CREDITS_URL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        f"{url}?limit={int(limit)}",
        method="GET",
        headers={
            "Accept": "application/json",
            "X-Service-Key": settings.MANA_SERVICE_KEY,
            "User-Agent": "mana-auth-gdpr",
        },
    )
    timeout = _timeout_seconds()
    try:
        # The whole exchange has one deadline: a socket timeout bounds each read only, so an
        # answer trickled a byte at a time would otherwise hold the request (and the worker).
        # The reading runs on a small pool; past the deadline the request answers "timeout"
        # and the reader stops at its next chunk.
        deadline = time.monotonic() + timeout
        future = _READERS.submit(_fetch, request, timeout, deadline)
        status, body = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return _unavailable(TIMEOUT, "no complete answer in time")
    except urllib.error.HTTPError as exc:
        return _unavailable(ERROR, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _unavailable(TIMEOUT, "no answer in time")
        return _unavailable(UNREACHABLE, type(exc.reason).__name__)
    except TimeoutError:
        return _unavailable(TIMEOUT, "no answer in time")
    except (http.client.HTTPException, OSError, ValueError) as exc:
        return _unavailable(UNREACHABLE, type(exc).__name__)
    if not 200 <= status < 300:
        return _unavailable(ERROR, f"HTTP {status}")
    if len(body) > MAX_RESPONSE_BYTES:
        return _unavailable(INVALID_RESPONSE, "answer too large")
    try:
        return _parse(body, limit)
    except _InvalidResponse as exc:
        return _unavailable(INVALID_RESPONSE, str(exc))
    except Exception as exc:  # noqa: BLE001 - any answer we cannot read is an invalid one
        # Only the type: the message could quote the answer.
        return _unavailable(INVALID_RESPONSE, f"unreadable answer ({type(exc).__name__})")
