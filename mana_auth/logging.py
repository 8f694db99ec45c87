"""Logging pieces: the request id on every line, JSON output, and secret redaction."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The user the request acts for, once authentication has named one (the access log's userId).
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)


def user_id_note(user_id: object) -> None:
    """Name the request's user for its log lines (authentication calls this)."""
    user_id_var.set(str(user_id))


_SECRET_KEYS = (
    "password",
    "newpassword",
    "currentpassword",
    "token",
    "accesstoken",
    "refreshtoken",
    "mfatoken",
    "secret",
    "authorization",
    "cookie",
    "key",
    "masterkey",
    "code",
)
# key=value, "key": "value" and "Bearer xyz" shapes; good enough to keep an accidental
# f-string from leaking a secret, not a licence to log request bodies.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(
        r"(?i)(\"?(?:" + "|".join(_SECRET_KEYS) + r")\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}&]+)"
    ),
    re.compile(r"(sk_live_)([A-Za-z0-9_-]+)"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Render the message once, scrub secrets out of it, and drop the raw args."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "requestId": getattr(record, "request_id", request_id_var.get()),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)
