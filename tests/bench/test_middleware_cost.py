"""Pricing each middleware (bench/middleware_cost.py) and EXPLAIN of the hot queries
(bench/queries.py), in-process."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from bench import middleware_cost, queries
from security.models import SecurityEvent


def test_every_middleware_gets_a_price_and_those_others_need_say_so(db):
    middleware = list(settings.MIDDLEWARE)
    figures = middleware_cost.measure(middleware, requests=5, repeats=1)
    assert set(figures["prefix"]) == {str(k) for k in range(len(middleware) + 1)}
    assert all(value > 0 for value in figures["prefix"].values())
    rows = middleware_cost.rows(middleware, figures)
    assert [row["middleware"] for row in rows] == middleware
    table = middleware_cost.markdown(middleware, figures, "test").splitlines()
    assert len(table) == 4 + len(middleware)
    needed = [i for i, row in enumerate(rows) if row["leave_out_us"] is None]
    assert len(figures["without"]) == len(middleware) - len(needed)
    sessions = "django.contrib.sessions.middleware.SessionMiddleware"
    if {sessions, "django.contrib.auth.middleware.AuthenticationMiddleware"} <= set(middleware):
        # Authentication needs sessions: the stack without sessions does not serve.
        assert needed == [middleware.index(sessions)]
        assert "— (a later one needs it)" in table[4 + needed[0]]


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


def test_explain_plans_each_statement_before_it_runs_and_keeps_no_write_of_its_own(user_factory):
    user = user_factory(name="Before")
    explainer = queries.Explainer()
    explainer.key = "write"
    with connection.execute_wrapper(explainer):
        User.objects.filter(pk=user.pk).update(name="After")
        list(User.objects.filter(pk=user.pk))
        list(User.objects.filter(pk=user.pk))  # the same statement again: explained once
        SecurityEvent.objects.create(type="LOGIN_SUCCESS", user=user)
    explainer.key = None
    plans = explainer.plans["write"]
    assert len(plans) == 3
    update_sql, update_plan = plans[0]
    assert update_sql.startswith("UPDATE") and user.id.hex in update_sql  # parameters shown
    assert "Update on accounts_user" in update_plan and "Buffers" in update_plan
    assert "rows=1 loops=1" in update_plan  # the row was there to update: planned before
    insert_plan = plans[2][1]
    assert "Insert on" in insert_plan and "EXPLAIN failed" not in insert_plan
    user.refresh_from_db()
    assert user.name == "After"  # the real statement ran once
    assert SecurityEvent.objects.filter(user=user, type="LOGIN_SUCCESS").count() == 1
    text = explainer.text()
    assert text.count("== write, statement") == 3


def test_a_failing_explain_is_reported_and_the_transaction_goes_on(db):
    with connection.cursor() as cursor:
        plan = queries.Explainer.plan(
            {"connection": connection, "cursor": cursor}, "SELECT * FROM no_such_table", None
        )
    assert plan.startswith("EXPLAIN failed")
    assert User.objects.count() == 0  # the connection is still usable


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    caplog.set_level("WARNING")
