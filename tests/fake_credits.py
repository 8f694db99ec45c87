"""A stand-in for mana-credits: a real threaded HTTP server on 127.0.0.1 (ports 9110-9119).

``GET /api/v1/internal/users/<id>/credits`` answers according to ``mode``: ``up`` (200 with
``credits_body``, as JSON, or as it is when it is ``bytes``), ``error`` (500), ``garbage``
(200, not JSON), ``slow`` (``delay`` seconds, then 200), ``trickle`` (the body a byte
every ``delay`` seconds). ``POST /api/v1/internal/events``
answers the next of ``post_statuses`` (then 200). Every request is kept in ``received``
(path, headers, JSON body).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PORTS = range(9110, 9120)

CREDITS_BODY: dict[str, Any] = {
    "balance": 1250,
    "currency": "credits",
    "transactions": [
        {
            "id": "tx_older",
            "amount": 1500,
            "type": "grant",
            "description": "Welcome credits",
            "createdAt": "2026-11-01T09:00:00Z",
        },
        {
            "id": "tx_newer",
            "amount": -250,
            "type": "usage",
            "description": "Chat",
            "createdAt": "2026-11-20T18:30:00Z",
            "internalNote": "ignored",
        },
    ],
}


@dataclass
class FakeCredits:
    url: str = ""
    mode: str = "up"
    delay: float = 2.0
    credits_body: Any = field(default_factory=lambda: json.loads(json.dumps(CREDITS_BODY)))
    post_statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    # Called in the server's thread while a GET is being answered (before the answer).
    on_read: Callable[[], None] | None = None

    def events(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.received if r["method"] == "POST"]

    def reads(self) -> list[dict[str, Any]]:
        return [r for r in self.received if r["method"] == "GET"]


def _bind(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    for port in PORTS:
        try:
            return ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            continue
    raise RuntimeError("no free port in 9110-9119")


def closed_port_url() -> str:
    """A URL in the range where nothing listens (connection refused)."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return f"http://127.0.0.1:{port}"
    raise RuntimeError("no free port in 9110-9119")


@contextmanager
def fake_credits_server() -> Iterator[FakeCredits]:
    state = FakeCredits()

    class Handler(BaseHTTPRequestHandler):
        def _record(self, body: Any) -> None:
            state.received.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )

        def _send(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._record(None)
            if state.on_read is not None:
                state.on_read()
            if state.mode == "error":
                self._send(500, b'{"error": "boom"}')
            elif state.mode == "garbage":
                self._send(200, b"{not json at all")
            elif state.mode == "trickle":
                # Headers at once, then the body a byte at a time: each read is quick, the
                # whole answer is not.
                body = json.dumps(state.credits_body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for index in range(len(body)):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(state.delay)
                except OSError:
                    return
            else:
                if state.mode == "slow":
                    time.sleep(state.delay)
                body = state.credits_body
                self._send(200, body if isinstance(body, bytes) else json.dumps(body).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self._record(json.loads(self.rfile.read(length) or b"{}"))
            self._send(state.post_statuses.pop(0) if state.post_statuses else 200)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = _bind(Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
