"""The Python driver's and the orchestrator's pure parts."""

from __future__ import annotations

import pytest

from bench import bench as bench_module
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


def test_worker_model_knobs_and_the_matrix():
    assert Config.from_env({}).worker_models() == [("sync", 1)]
    threaded = Config.from_env({"BENCH_WORKER_CLASS": "gthread", "BENCH_THREADS": "4"})
    assert threaded.worker_models() == [("gthread", 4)]
    assert Config.from_env({"BENCH_WORKER_CLASS": "gthread"}).threads == 2
    matrix = Config.from_env({"BENCH_MATRIX": "1"})
    assert matrix.worker_models() == [("sync", 1), ("gthread", 2), ("gthread", 4)]
    assert matrix.passes == 1  # one pass per worker model unless told otherwise
    assert Config.from_env({"BENCH_MATRIX": "1", "BENCH_PASSES": "2"}).passes == 2
    with pytest.raises(SystemExit):
        Config.from_env({"BENCH_WORKER_CLASS": "gevent"})


def test_the_server_runs_the_chosen_worker_model_and_the_bare_ceiling_its_own_settings():
    config = Config.from_env({"BENCH_WORKER_CLASS": "gthread", "BENCH_THREADS": "3"})
    env = bench_module.server_env(config, 9130, redis_ok=False)
    assert (env["GUNICORN_WORKER_CLASS"], env["GUNICORN_THREADS"]) == ("gthread", "3")
    assert bench_module.model_env(env, "sync", 1)["GUNICORN_WORKER_CLASS"] == "sync"
    bare = bench_module.bare_env(env, 9131)
    assert bare["DJANGO_SETTINGS_MODULE"] == "bench.bare"
    assert bare["GUNICORN_BIND"] == "127.0.0.1:9131"
    assert bare["GUNICORN_WORKERS"] == env["GUNICORN_WORKERS"]


def test_scale_sizes_are_read_sorted_and_labelled():
    assert bench_module.parse_sizes("1M,1k, 100k") == (1_000, 100_000, 1_000_000)
    assert bench_module.parse_sizes("") == ()
    assert bench_module.parse_sizes("50") == (50,)
    assert bench_module.parse_sizes("2.5k") == (2_500,)
    with pytest.raises(SystemExit):
        bench_module.parse_sizes("lots")
    assert [bench_module.size_label(n) for n in (1_000, 100_000, 1_000_000, 2_500, 50)] == [
        "1k",
        "100k",
        "1M",
        "2500",
        "50",
    ]
    config = Config.from_env({"BENCH_SCALE": "1k,100k"})
    assert config.scale == (1_000, 100_000)
    assert config.passes == 1


def test_refresh_token_sets_are_never_reused():
    bench = Bench(Config.from_env({"BENCH_DRIVER": "python"}))
    try:
        bench.seed = {"refresh_sets": [["a"], ["b"]]}
        assert [bench.next_refresh_set(), bench.next_refresh_set()] == [0, 1]
        with pytest.raises(RuntimeError):
            bench.next_refresh_set()
    finally:
        bench.close()


def test_the_bare_ceiling_is_a_constant_view_without_any_middleware():
    from django.test import RequestFactory

    from bench import bare

    assert bare.MIDDLEWARE == []
    assert bare.INSTALLED_APPS == []
    assert bare.application is None  # imported, not served: nothing configured
    response = bare.health(RequestFactory().get("/health"))
    assert response.status_code == 200
    assert response.content == b'{"status": "ok"}'
