"""Pricing each middleware (bench/middleware_cost.py) and EXPLAIN of the hot queries
(bench/queries.py), in-process."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import User
from bench import middleware_cost, queries


def test_every_middleware_gets_a_price_and_those_others_need_say_so(db):
    middleware = list(settings.MIDDLEWARE)
    figures = middleware_cost.measure(middleware, requests=5, repeats=1)
    assert set(figures["prefix"]) == {str(k) for k in range(len(middleware) + 1)}
    # Authentication needs sessions: the stack without sessions does not serve.
    sessions = middleware.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert str(sessions) not in figures["without"]
    assert len(figures["without"]) == len(middleware) - 1
    rows = middleware_cost.rows(middleware, figures)
    assert [row["middleware"] for row in rows] == middleware
    assert rows[sessions]["leave_out_us"] is None
    table = middleware_cost.markdown(middleware, figures, "test").splitlines()
    assert len(table) == 4 + len(middleware)
    assert "— (a later one needs it)" in table[4 + sessions]


def test_prices_are_differences_of_the_stacks():
    middleware = ["a", "b"]
    figures = {"prefix": {"0": 40.0, "1": 70.0, "2": 100.0}, "without": {"0": 72.0, "1": 69.0}}
    rows = middleware_cost.rows(middleware, figures)
    assert rows[0] == {
        "middleware": "a",
        "cumulative_us": 70.0,
        "marginal_us": 30.0,
        "leave_out_us": 28.0,
    }
    assert rows[1]["marginal_us"] == 30.0
    assert rows[1]["leave_out_us"] == 31.0
    text = middleware_cost.markdown(middleware, figures, "note")
    assert "no middleware: 40 µs, the whole stack: 100 µs (+60 µs, 60% of the request)" in text
    assert "| 1 | `a` | 70.0 | +30.0 | +28.0 | 50% |" in text


def test_explain_analyzes_each_statement_once_and_keeps_no_write(user_factory):
    user = user_factory(name="Before")
    update = f"UPDATE accounts_user SET name = 'After' WHERE id = '{user.id}'"
    text = queries.explain_text(
        {
            "session": ["BEGIN", "SELECT id FROM accounts_user", update, "COMMIT"],
            "again": ["SELECT id FROM accounts_user", "SELECT id FROM accounts_user"],
        }
    )
    assert "users, database" in text
    assert text.count("== session, statement") == 2
    assert text.count("== again, statement") == 1
    assert "Buffers" in text or "actual time" in text
    assert "BEGIN" not in text.split("==", 1)[1].split("\n")[0]
    user.refresh_from_db()
    assert user.name == "Before"


def test_a_failing_statement_is_reported_not_raised(db):
    text = queries.explain_text({"broken": ["SELECT * FROM no_such_table"]})
    assert "EXPLAIN failed" in text
    assert User.objects.count() == 0  # the connection is still usable


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    caplog.set_level("WARNING")
