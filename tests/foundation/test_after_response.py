"""``mana_auth.after_response``: work deferred past the response (review 2, F12).

It promises: the work runs once the response has been sent (``request_finished``), in order;
a failing job is logged (logger ``mana_auth.after_response``) and changes nothing of the
answer, nor stops the jobs after it; outside a request it runs at once; work left over by a
request that never finished runs at the next ``request_started``. The services register their
work after commit (``transaction.on_commit(lambda: after_response(...))``), so a request whose
transaction rolls back defers nothing, while one that committed and then failed still runs it.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.test import Client

from mana_auth import after_response as module
from mana_auth.after_response import after_response
from tests.foundation import urls_after_response as routes

pytestmark = [
    pytest.mark.urls("tests.foundation.urls_after_response"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    routes.jobs.clear()
    routes.trail.clear()
    yield
    routes.jobs.clear()
    routes.trail.clear()
    module._state.__dict__.clear()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def live_server_url() -> Iterator[str]:
    """Django's WSGI application behind a real HTTP server (wsgiref) in another thread."""
    server: WSGIServer = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_deferred_work_runs_only_after_the_response_is_sent(live_server_url):
    """The job waits until the test has read the whole answer off the socket. Run before the
    response were sent (as an immediate call would be), it could never see that happen."""
    answered = threading.Event()
    done = threading.Event()
    seen: dict[str, object] = {}

    def job() -> None:
        seen["answered"] = answered.wait(timeout=3)
        seen["trail"] = list(routes.trail)
        done.set()

    routes.jobs.append(job)
    conn = http.client.HTTPConnection(live_server_url, timeout=10)
    try:
        conn.request("GET", "/test/deferring", headers={"Host": "testserver"})
        response = conn.getresponse()
        body = response.read(len(routes.BODY))
        status = response.status
    finally:
        answered.set()
        conn.close()

    assert status == 200 and body == routes.BODY
    assert done.wait(timeout=5)
    assert seen == {"answered": True, "trail": ["view returned"]}


def test_jobs_run_in_order_and_a_failing_one_is_logged_and_changes_nothing(caplog):
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise ValueError("deferred work broke")

    routes.jobs.extend([lambda: ran.append("first"), fails, lambda: ran.append("last")])

    with caplog.at_level(logging.ERROR, logger="mana_auth.after_response"):
        response = Client().get("/test/deferring")

    assert response.status_code == 200 and response.content == routes.BODY
    assert ran == ["first", "fails", "last"]
    [record] = [r for r in caplog.records if r.name == "mana_auth.after_response"]
    assert record.levelno == logging.ERROR
    assert record.exc_info and record.exc_info[0] is ValueError


def test_outside_a_request_the_work_runs_at_once():
    ran: list[str] = []
    after_response(lambda: ran.append("now"))
    assert ran == ["now"]


def test_the_work_of_a_request_that_never_finished_runs_at_the_next_request():
    ran: list[str] = []
    request_started.send(sender=None)
    after_response(lambda: ran.append("left over"))
    assert ran == []  # deferred: the first request is still being served
    # The first request never sends request_finished; the next one starts.
    request_started.send(sender=None)
    assert ran == ["left over"]
    after_response(lambda: ran.append("second request's"))
    assert ran == ["left over"]
    request_finished.send(sender=None)
    assert ran == ["left over", "second request's"]


def test_a_request_whose_transaction_rolls_back_defers_nothing():
    ran: list[str] = []
    routes.jobs.append(lambda: ran.append("ran"))
    response = Client(raise_request_exception=False).get("/test/rolled-back")
    assert response.status_code == 500
    assert routes.trail == ["view failed"]
    assert ran == []
    # Nor does a later request pick it up.
    routes.jobs.clear()
    assert Client().get("/test/deferring").status_code == 200
    assert ran == []


def test_committed_work_still_runs_when_the_request_fails_afterwards():
    ran: list[str] = []
    routes.jobs.append(lambda: ran.append("ran"))
    response = Client(raise_request_exception=False).get("/test/committed-then-failed")
    assert response.status_code == 500
    assert ran == ["ran"]
