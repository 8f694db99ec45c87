"""The bench's own pure helpers: percentiles, wrk parsing, targets, tables, memory."""

from __future__ import annotations

import pytest

from bench import report
from bench.report import ENDPOINTS_BY_KEY, Measurement, Row


def measured(rps: float, p50: float = 10.0, p99: float = 12.0, errors: int = 0) -> Measurement:
    return Measurement(name="x", driver="wrk", rps=rps, p50_ms=p50, p99_ms=p99, errors=errors)


def row(key: str, rps: float, ceiling: float, queries: int | None = 0, **kwargs) -> Row:
    return Row(
        endpoint=ENDPOINTS_BY_KEY[key],
        result=measured(rps, **kwargs),
        ceiling=measured(ceiling),
        queries=queries,
    )


def test_percentile_interpolates_between_closest_ranks():
    values = list(range(1, 101))
    assert report.percentile(values, 50) == pytest.approx(50.5)
    assert report.percentile(values, 99) == pytest.approx(99.01)
    assert report.percentile(values, 100) == 100
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([], 50) is None
    assert report.percentile([3, 1, 2], 50) == 2  # order does not matter


def test_wrk_json_line_is_found_among_wrks_own_output():
    stdout = (
        "Running 5s test @ http://127.0.0.1:8000/health\n  2 threads and 16 connections\n"
        'BENCH_JSON {"requests":1000,"duration_us":5000000,"bytes":1,"errors_connect":0,'
        '"errors_read":1,"errors_write":0,"errors_status":2,"errors_timeout":3,'
        '"p50_us":4000,"p90_us":5000,"p99_us":9000,"max_us":20000,"mean_us":4200.5}\n'
    )
    result = report.measurement_from_wrk("health", report.parse_wrk(stdout))
    assert result.rps == pytest.approx(200.0)
    assert (result.p50_ms, result.p99_ms) == (4.0, 9.0)
    assert result.errors == 6
    assert result.requests == 1000


def test_wrk_output_without_the_json_line_is_an_error():
    with pytest.raises(ValueError):
        report.parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused\n")


def test_driver_error_becomes_a_row_without_figures():
    result = report.measurement_from_driver("verify", {"error": "passkey registration: 404"})
    assert not result.ok
    assert result.note == "error: passkey registration: 404"


def test_ratio_is_endpoint_over_its_ceiling():
    assert row("validate", 700, 1000).ratio == pytest.approx(0.7)
    assert report.ratio(measured(10), None) is None
    assert report.ratio(Measurement(name="x", driver="wrk"), measured(10)) is None


def test_verdict_names_every_missed_target():
    assert report.verdict(row("validate", 700, 1000, queries=1)) == []
    assert report.verdict(row("validate", 690, 1000, queries=2)) == ["ratio", "sql"]
    assert report.verdict(row("jwks", 950, 1000, queries=0, errors=3)) == ["errors"]
    # Login: the tail at saturation must stay within 1.5 x the median.
    assert report.verdict(row("login", 95, 100, queries=8, p50=100.0, p99=150.0)) == []
    assert report.verdict(row("login", 95, 100, queries=8, p50=100.0, p99=151.0)) == ["p99"]
    # Space access has an SQL budget but no ratio target.
    assert report.verdict(row("access", 1, 1000, queries=2)) == []


def test_hash_ceiling_is_the_sum_of_the_parallel_loops():
    loop = {"procs": 2, "rate": 95.0, "p50_ms": 21.0, "p99_ms": 25.0, "verifies": 950}
    ceiling = report.hash_ceiling({**loop, "seconds": 5.0})
    assert ceiling.rps == 95.0
    assert ceiling.name == "argon2 loop x2"


def test_table_has_one_line_per_endpoint_and_the_same_columns_on_each():
    rows = [
        row("validate", 700, 1000, queries=1),
        Row(
            endpoint=ENDPOINTS_BY_KEY["passkey"],
            result=Measurement(name="p", driver="", note="n/a (endpoint missing)"),
            ceiling=None,
            queries_note="n/a",
        ),
    ]
    table = report.markdown_table(rows).splitlines()
    assert len(table) == 4
    assert len({line.count("|") for line in table}) == 1
    assert "70%" in table[2] and "| yes |" in table[2]
    assert "n/a (endpoint missing)" in table[3]
    assert "n/a (≤8)" in table[3]


def test_ratios_table_lists_every_pass():
    passes = [[row("validate", 700, 1000)], [row("validate", 650, 1000)]]
    table = report.ratios_table(passes)
    assert "| 70% | 65% | ≥70% |" in table


def test_memory_report_flags_growth_beyond_both_thresholds():
    stable = report.memory_report([{10: 100_000, 11: 100_000}, {10: 103_000, 11: 100_500}])
    assert not stable.grew
    grown = report.memory_report([{10: 100_000}, {10: 120_000}])
    assert grown.grew
    assert "grows" in grown.lines[0]
    replaced = report.memory_report([{10: 100_000}, {12: 100_000}])
    assert not replaced.grew
    assert all("replaced" in line for line in replaced.lines)


def test_proc_parsers_read_rss_and_parent_pid():
    assert report.parse_rss_kib("Name:\tgunicorn\nVmRSS:\t  131072 kB\n") == 131072
    assert report.parse_rss_kib("Name:\tkthreadd\n") is None
    stat = "4242 (gunicorn: worker [mana) x]) S 4200 4242 4242 0 -1"
    assert report.parse_ppid(stat) == 4200


def test_rounds_merge_into_one_measurement():
    rounds = [measured(100, p50=10.0, p99=20.0), measured(300, p50=20.0, p99=30.0, errors=1)]
    for run in rounds:
        run.requests, run.duration_s = int(run.rps * 3), 3.0
    merged = report.merge_runs("validate", rounds)
    assert merged.rps == pytest.approx(200.0)
    assert merged.p50_ms == pytest.approx(17.5)  # weighted by requests: (300*10 + 900*20)/1200
    assert merged.p99_ms == 30.0  # the worst round
    assert merged.errors == 1
    failed = report.merge_runs("validate", [rounds[0], Measurement("x", "wrk", note="error: y")])
    assert not failed.ok
    assert failed.note == "error: y"
