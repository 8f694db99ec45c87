"""Credits in the GDPR summary and export: read from mana-credits (a real HTTP server on
127.0.0.1 stands in for it), and never the reason the document fails."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import connection, connections, transaction

from accounts import credits
from security.models import SecurityEvent
from tests.fake_credits import closed_port_url

pytestmark = pytest.mark.django_db
SUMMARY = "/api/v1/me/data"
EXPORT = "/api/v1/me/data/export"

AVAILABLE = {
    "available": True,
    "reason": None,
    "balance": 1250,
    # newest first; keys other than the documented ones are not passed on
    "recentTransactions": [
        {
            "transactionId": "tx_newer",
            "amount": -250,
            "type": "usage",
            "description": "Chat",
            "createdAt": "2026-11-20T18:30:00Z",
        },
        {
            "transactionId": "tx_older",
            "amount": 1500,
            "type": "grant",
            "description": "Welcome credits",
            "createdAt": "2026-11-01T09:00:00Z",
        },
    ],
}


def _unavailable(reason: str) -> dict[str, object]:
    return {"available": False, "reason": reason, "balance": None, "recentTransactions": None}


def test_summary_shows_the_balance_and_recent_transactions(auth_client, fake_credits, settings):
    client = auth_client()
    response = client.get(SUMMARY)
    assert response.status_code == 200, response.content
    assert response.json()["credits"] == AVAILABLE
    (read,) = fake_credits.reads()
    assert read["path"] == f"/api/v1/internal/users/{client.user.pk}/credits?limit=10"
    assert read["headers"]["X-Service-Key"] == settings.MANA_SERVICE_KEY
    assert "Authorization" not in read["headers"]
    assert settings.MANA_SERVICE_KEY not in response.content.decode()


def test_export_includes_the_credits(auth_client, fake_credits):
    client = auth_client()
    response = client.get(EXPORT)
    assert response.status_code == 200, response.content
    section = response.json()["credits"]
    assert {key: section[key] for key in AVAILABLE} == AVAILABLE
    assert "credits service" in section["note"]
    (read,) = fake_credits.reads()
    assert read["path"].endswith("/credits?limit=100")


def test_operators_see_the_credits_in_a_users_summary(auth_client, user_factory, fake_credits):
    operator = auth_client(user_factory(role="admin"))
    target = user_factory()
    response = operator.get(f"/api/v1/admin/users/{target.pk}/data")
    assert response.status_code == 200, response.content
    assert response.json()["credits"]["balance"] == 1250
    assert fake_credits.reads()[0]["path"].startswith(f"/api/v1/internal/users/{target.pk}/")


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "error"), ("garbage", "invalid_response"), ("slow", "timeout")],
)
def test_a_failing_credits_service_marks_only_its_section_unavailable(
    auth_client, fake_credits, settings, caplog, mode, reason
):
    fake_credits.mode = mode
    fake_credits.delay = 1.5
    settings.MANA_CREDITS_TIMEOUT_MS = 300
    client = auth_client()
    with caplog.at_level(logging.WARNING, logger="mana_auth.credits"):
        started = time.monotonic()
        summary = client.get(SUMMARY)
        elapsed = time.monotonic() - started
        export = client.get(EXPORT)
    assert summary.status_code == 200, summary.content
    body = summary.json()
    assert body["credits"] == _unavailable(reason)
    assert body["profile"]["userId"] == str(client.user.pk)  # the rest still answers
    assert export.status_code == 200, export.content
    assert {k: export.json()["credits"][k] for k in _unavailable(reason)} == _unavailable(reason)
    assert elapsed < 1.4  # the short timeout, not the slow answer
    assert f"({reason})" in caplog.text
    assert settings.MANA_SERVICE_KEY not in caplog.text


def test_an_answer_trickled_byte_by_byte_is_cut_at_the_deadline(
    auth_client, fake_credits, settings
):
    """Each read is quick (a byte every 50 ms, well inside the socket timeout) but the whole
    answer would take seconds: the summary answers at the deadline, credits "timeout"."""
    fake_credits.mode = "trickle"
    fake_credits.delay = 0.05
    settings.MANA_CREDITS_TIMEOUT_MS = 400
    client = auth_client()
    started = time.monotonic()
    summary = client.get(SUMMARY)
    elapsed = time.monotonic() - started
    assert summary.status_code == 200, summary.content
    assert summary.json()["credits"] == _unavailable("timeout")
    assert elapsed < 1.5  # the body alone would take over 10 s


def test_an_unreachable_credits_service_marks_only_its_section_unavailable(auth_client, settings):
    settings.MANA_CREDITS_URL = closed_port_url()
    client = auth_client()
    response = client.get(SUMMARY)
    assert response.status_code == 200, response.content
    assert response.json()["credits"] == _unavailable("unreachable")
    assert response.json()["sessions"]["activeCount"] == 1
    export = client.get(EXPORT)
    assert export.status_code == 200
    assert export.json()["credits"]["available"] is False


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"transactions": []},
        {"balance": "12", "transactions": []},
        {"balance": True, "transactions": []},
        {"balance": 5, "transactions": {"id": "x"}},
        {"balance": 5, "transactions": ["x"]},
        {"balance": 5, "transactions": [{"id": "t", "amount": 1, "createdAt": "yesterday"}]},
        {"balance": 5, "transactions": [{"id": "t", "amount": "1", "createdAt": "2026-01-01"}]},
        {"balance": 5, "transactions": [{"amount": 1, "createdAt": "2026-11-01T09:00:00Z"}]},
    ],
)
def test_an_answer_of_the_wrong_shape_is_not_passed_on(auth_client, fake_credits, body):
    fake_credits.credits_body = body
    response = auth_client().get(SUMMARY)
    assert response.status_code == 200, response.content
    assert response.json()["credits"] == _unavailable("invalid_response")


def _transactions(*stamps: str) -> dict:
    return {
        "balance": 5,
        "transactions": [
            {"id": f"t{n}", "amount": 1, "createdAt": stamp} for n, stamp in enumerate(stamps)
        ],
    }


MALFORMED = {
    # well-formed but impossible instants: django's parse_datetime raises, not returns None
    "month-13": _transactions("2026-13-45T00:00:00Z"),
    "february-30": _transactions("2026-02-30T10:00:00Z"),
    "hour-25": _transactions("2026-11-01T25:00:00Z"),
    # no offset: which instant is unknown, and mixed with aware ones the order is undefined
    "naive": _transactions("2026-11-01T09:00:00"),
    "naive-and-aware": _transactions("2026-11-01T09:00:00", "2026-11-02T09:00:00Z"),
    # too deep for the JSON parser (RecursionError, not ValueError)
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "deeply-nested-in-object": b'{"balance": 5, "transactions": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}",
    # wrong types where a string or number is expected
    "created-at-number": _transactions(1764576000),
    "created-at-object": {
        "balance": 5,
        "transactions": [{"id": "t", "amount": 1, "createdAt": {}}],
    },
    "id-list": {
        "balance": 5,
        "transactions": [{"id": ["t"], "amount": 1, "createdAt": "2026-11-01T09:00:00Z"}],
    },
    "amount-null": {
        "balance": 5,
        "transactions": [{"id": "t", "amount": None, "createdAt": "2026-11-01T09:00:00Z"}],
    },
    "balance-object": {"balance": {"value": 5}, "transactions": []},
    "balance-huge": b'{"balance": 1e999, "transactions": []}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("where", ["summary", "export", "admin"])
def test_a_malformed_answer_is_an_unavailable_section_never_a_500(
    auth_client, user_factory, fake_credits, caplog, body, where
):
    fake_credits.credits_body = body
    subject = user_factory(email="subject@example.com")
    if where == "admin":
        operator = user_factory(email="operator@example.com", role="admin")
        response = auth_client(operator).get(f"/api/v1/admin/users/{subject.id}/data")
    else:
        response = auth_client(subject).get(SUMMARY if where == "summary" else EXPORT)
    assert response.status_code == 200, response.content[:300]
    section = response.json()["credits"]
    assert section["available"] is False
    assert section["reason"] == "invalid_response"
    assert section["balance"] is None
    assert section["recentTransactions"] is None
    assert fake_credits.reads(), "mana-credits was asked"
    assert "(invalid_response)" in caplog.text


def test_without_a_credits_url_the_section_says_not_configured(auth_client, settings):
    settings.MANA_CREDITS_URL = ""
    client = auth_client()
    response = client.get(SUMMARY)
    assert response.status_code == 200
    assert response.json()["credits"] == _unavailable("not_configured")
    assert client.get(EXPORT).json()["credits"]["reason"] == "not_configured"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:9110", "http://[::1"])
def test_a_misconfigured_credits_url_never_fails_the_summary(auth_client, settings, url):
    settings.MANA_CREDITS_URL = url
    response = auth_client().get(SUMMARY)
    assert response.status_code == 200, response.content
    assert response.json()["credits"] == _unavailable("unreachable")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [SUMMARY, EXPORT])
def test_no_transaction_is_open_while_mana_credits_answers(
    auth_client, fake_credits, monkeypatch, path
):
    """A slow mana-credits must not keep a connection "idle in transaction": the export reads
    the credits before its transaction opens. Seen from PostgreSQL (pg_stat_activity, asked by
    the fake server while it holds its answer back) and from the reader's caller."""
    client = auth_client()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()
    seen: list[tuple] = []

    def look() -> None:  # in the fake server's thread: its own connection
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "SELECT state, xact_start IS NOT NULL FROM pg_stat_activity WHERE pid = %s",
                    [pid],
                )
                seen.append(cursor.fetchone())
        finally:
            connections["default"].close()

    fake_credits.on_read = look
    fake_credits.mode, fake_credits.delay = "slow", 0.3
    in_atomic: list[bool] = []
    read = credits.credits_read

    def reader(**kwargs):
        in_atomic.append(transaction.get_connection().in_atomic_block)
        return read(**kwargs)

    monkeypatch.setattr(credits, "credits_read", reader)

    response = client.get(path)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["credits"]["available"] is True
    assert in_atomic == [False]
    assert seen == [("idle", False)]
    if path == EXPORT:
        assert SecurityEvent.objects.filter(user=client.user, type="DATA_EXPORTED").count() == 1
