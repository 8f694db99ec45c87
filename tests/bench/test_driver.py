"""The Python driver's and the orchestrator's pure parts."""

from __future__ import annotations

import pytest

from bench import pydriver
from bench.bench import Bench, Config, droppable_database
from bench.seed import ROUTES


def tally(latencies, statuses, failures=0, stopped_after=None, error=""):
    return {
        "latencies": latencies,
        "statuses": statuses,
        "failures": failures,
        "first_error": error,
        "stopped_after": stopped_after,
        "bodies": [],
    }


def test_each_thread_gets_every_nth_item_or_all_when_too_few():
    items = list(range(10))
    assert pydriver.share(items, 1, 4) == [1, 5, 9]
    assert pydriver.share([1, 2], 3, 4) == [1, 2]


def test_combine_rates_the_measured_window_and_counts_non_2xx_as_errors():
    parts = [
        tally([0.010] * 300, {"200": 299, "401": 1}),
        tally([0.020] * 200, {"200": 200}, failures=2, error="ConnectionResetError: x"),
    ]
    result = pydriver.combine(parts, {"duration": 5})
    assert result["requests"] == 500
    assert result["rps"] == pytest.approx(100.0)
    assert result["p50_ms"] == pytest.approx(10.0)
    assert result["p99_ms"] == pytest.approx(20.0)
    assert result["errors"] == 3
    assert "ConnectionResetError" in result["note"]


def test_combine_shortens_the_window_when_every_thread_ran_out_early():
    parts = [
        tally([0.01] * 100, {"200": 100}, stopped_after=2.0),
        tally([0.01] * 100, {"200": 100}, stopped_after=2.5),
    ]
    result = pydriver.combine(parts, {"duration": 5})
    assert result["duration_s"] == 2.5
    assert result["rps"] == pytest.approx(80.0)
    assert "ran out" in result["note"]


def test_combine_without_any_response_is_an_error():
    assert pydriver.combine([tally([], {}, error="refused")], {"duration": 5}) == {
        "error": "refused"
    }


def test_prefetched_bodies_are_interleaved_across_threads(tmp_path):
    out = tmp_path / "bodies.txt"
    parts = [
        {**tally([], {}), "bodies": ["a1", "a2", "a3"]},
        {**tally([], {}), "bodies": ["b1"]},
    ]
    result = pydriver.prefetched(parts, {"out": str(out)})
    assert result["count"] == 4
    assert out.read_text().splitlines() == ["a1", "b1", "a2", "a3"]


def test_config_defaults_and_knobs():
    config = Config.from_env({})
    assert (config.duration, config.rounds, config.warmup, config.passes) == (6, 2, 1, 2)
    assert config.connections == 16
    assert config.database_url.endswith("/mana_auth_bench")
    assert config.redis_url == "redis://127.0.0.1:6379/10"
    tuned = Config.from_env(
        {"BENCH_DURATION": "8", "BENCH_ONLY": "login, passkey", "BENCH_REDIS_URL": ""}
    )
    assert tuned.duration == 8
    assert tuned.only == ("login", "passkey")
    assert tuned.redis_url == ""


def test_only_databases_named_for_benchmarks_are_dropped():
    assert droppable_database("postgres://postgres@127.0.0.1:5432/mana_auth_bench") == (
        "mana_auth_bench"
    )
    with pytest.raises(SystemExit):
        droppable_database("postgres://postgres@127.0.0.1:5432/mana_auth")


def test_endpoints_that_are_not_there_get_no_load_and_say_so():
    bench = Bench(Config.from_env({"BENCH_DRIVER": "python"}))
    try:
        bench.seed = {"routes": dict.fromkeys(ROUTES, False), "access_tokens": ["t"]}
        bench.smoke()  # no route: no request is made
    finally:
        bench.close()
    keys = {"validate", "session", "jwks", "refresh", "login", "access", "passkey"}
    assert bench.unavailable == dict.fromkeys(keys, "n/a (endpoint missing)")


def test_passkeys_are_measured_with_several_workers_and_no_redis():
    """Ceremony state lives in PostgreSQL without Redis: every worker sees it."""
    bench = Bench(Config.from_env({"BENCH_DRIVER": "python", "BENCH_WORKERS": "2"}))
    try:
        routes = dict.fromkeys(ROUTES, False) | {"passkey": True, "passkey_register": True}
        bench.seed = {"routes": routes, "access_tokens": ["t"]}
        bench.env = {}  # no REDIS_URL
        bench.smoke()
    finally:
        bench.close()
    assert "passkey" not in bench.unavailable
