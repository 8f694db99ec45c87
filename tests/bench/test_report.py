"""The bench's own pure helpers: percentiles, wrk parsing, targets, tables, memory."""

from __future__ import annotations

import pytest

from bench import report
from bench.report import ENDPOINTS_BY_KEY, Measurement, Row


def measured(rps: float, p50: float = 10.0, p99: float = 12.0, errors: int = 0) -> Measurement:
    return Measurement(name="x", driver="wrk", rps=rps, p50_ms=p50, p99_ms=p99, errors=errors)


def row(
    key: str,
    rps: float,
    ceiling: float,
    queries: int | None = 0,
    bare: float | None = None,
    **kwargs,
) -> Row:
    return Row(
        endpoint=ENDPOINTS_BY_KEY[key],
        result=measured(rps, **kwargs),
        ceiling=measured(ceiling),
        queries=queries,
        bare=None if bare is None else measured(bare),
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


def test_the_floors_are_the_issues():
    floors = {key: endpoint.target.min_ratio for key, endpoint in ENDPOINTS_BY_KEY.items()}
    assert floors == {
        "validate": 0.80,
        "session": 0.80,
        "jwks": 0.95,
        "refresh": 0.50,
        "access": 0.60,
        "login": 0.90,
        "passkey": 0.40,
    }
    assert ENDPOINTS_BY_KEY["login"].target.ceiling == "hash"
    assert ENDPOINTS_BY_KEY["login"].target.max_p99_over_p50 == 1.5
    assert report.MEMORY_CEILING_MIB == 150


def test_the_sql_budgets_are_the_query_budget_tests():
    """The bench judges each row by the statements the test suite holds it to (with Redis, as
    ``make bench`` runs when Redis answers): one table, not two that drift."""
    from tests.accounts.test_query_budgets import BUDGETS

    budgets = {key: endpoint.target.max_queries for key, endpoint in ENDPOINTS_BY_KEY.items()}
    assert budgets == {
        "validate": 1,
        "session": 1,
        "jwks": 0,
        "refresh": 1,
        "access": 1,
        "login": BUDGETS["redis"]["login"],
        "passkey": BUDGETS["redis"]["passkey_verify"],
    }


def test_verdict_names_every_missed_target():
    assert report.verdict(row("validate", 800, 1000, queries=1)) == []
    assert report.verdict(row("validate", 790, 1000, queries=2)) == ["ratio", "sql"]
    assert report.verdict(row("session", 799, 1000, queries=1)) == ["ratio"]
    assert report.verdict(row("jwks", 950, 1000, queries=0, errors=3)) == ["errors"]
    assert report.verdict(row("jwks", 949, 1000, queries=0)) == ["ratio"]
    assert report.verdict(row("refresh", 499, 1000, queries=1)) == ["ratio"]
    assert report.verdict(row("refresh", 500, 1000, queries=1)) == []
    assert report.verdict(row("refresh", 500, 1000, queries=2)) == ["sql"]
    assert report.verdict(row("passkey", 399, 1000, queries=2)) == ["ratio"]
    assert report.verdict(row("passkey", 400, 1000, queries=3)) == ["sql"]
    # Login: the tail at saturation must stay within 1.5 x the median.
    assert report.verdict(row("login", 95, 100, queries=4, p50=100.0, p99=150.0)) == []
    assert report.verdict(row("login", 95, 100, queries=4, p50=100.0, p99=151.0)) == ["p99"]
    assert report.verdict(row("login", 89, 100, queries=4, p50=100.0, p99=110.0)) == ["ratio"]
    assert report.verdict(row("login", 95, 100, queries=5, p50=100.0, p99=110.0)) == ["sql"]
    # Space access: 60% of bare and its SQL budget (one statement; none on a cache hit).
    assert report.verdict(row("access", 600, 1000, queries=1)) == []
    assert report.verdict(row("access", 599, 1000, queries=2)) == ["ratio", "sql"]


def test_the_floor_applies_to_the_ratio_against_health_not_bare_django():
    """Bare Django is the second ceiling: printed, not judged (the issue's floors were set
    against /health behind the middleware)."""
    judged = row("validate", 800, 1000, queries=1, bare=1600)
    assert judged.ratio == pytest.approx(0.8)
    assert judged.ratio_bare == pytest.approx(0.5)
    assert report.verdict(judged) == []


def test_hash_ceiling_is_the_sum_of_the_parallel_loops():
    loop = {"procs": 2, "rate": 95.0, "p50_ms": 21.0, "p99_ms": 25.0, "verifies": 950}
    ceiling = report.hash_ceiling({**loop, "seconds": 5.0})
    assert ceiling.rps == 95.0
    assert ceiling.name == "argon2 loop x2"


def test_table_has_one_line_per_endpoint_and_the_same_columns_on_each():
    rows = [
        row("validate", 800, 1000, queries=1, bare=1600),
        row("session", 700, 1000, queries=1, bare=1400),
        Row(
            endpoint=ENDPOINTS_BY_KEY["passkey"],
            result=Measurement(name="p", driver="", note="n/a (endpoint missing)"),
            ceiling=None,
            queries_note="n/a",
        ),
    ]
    table = report.markdown_table(rows).splitlines()
    assert len(table) == 5
    assert len({line.count("|") for line in table}) == 1
    assert table[0].count("|") == report.TABLE_COLUMNS + 1
    assert "| ratio | bare Django req/s | ratio vs bare Django | floor |" in table[0]
    # ratio, bare Django req/s, ratio vs bare Django, floor, SQL, errors, meets
    assert "| 80% | 1,600 | 50% | ≥80% | 1 (≤1) | 0 | yes |" in table[2]
    assert "| 70% | 1,400 | 50% | ≥80% | 1 (≤1) | 0 | no: ratio |" in table[3]
    assert "n/a (endpoint missing)" in table[4]
    assert "n/a (≤2)" in table[4]


def test_ratios_table_lists_every_pass_both_ratios_and_whether_every_pass_meets():
    passes = [
        [row("validate", 850, 1000, bare=1700)],
        [row("validate", 790, 1000, bare=1580)],
    ]
    table = report.ratios_table(passes)
    assert "| 85% / 50% | 79% / 50% | ≥80% | no |" in table
    passes[1] = [row("validate", 810, 1000, bare=1620)]
    assert "| ≥80% | yes |" in report.ratios_table(passes)


def test_memory_report_flags_growth_beyond_both_thresholds():
    stable = report.memory_report([{10: 100_000, 11: 100_000}, {10: 103_000, 11: 100_500}])
    assert not stable.grew
    assert stable.meets
    assert "meets: yes; no growth between passes — meets: yes" in stable.summary()
    grown = report.memory_report([{10: 100_000}, {10: 120_000}])
    assert grown.grew
    assert "grows" in grown.lines[0]
    assert "no growth between passes — meets: no" in grown.summary()
    # Growth between any two passes counts, not only first to last.
    bumped = report.memory_report([{10: 100_000}, {10: 120_000}, {10: 101_000}])
    assert bumped.grew


def test_memory_report_holds_every_worker_to_the_150_mib_ceiling():
    at = report.memory_report([{10: 150 * 1024}, {10: 150 * 1024}])
    assert not at.over and at.meets
    assert "≤150 MiB: yes" in at.lines[0]
    above = report.memory_report([{10: 140 * 1024, 11: 100_000}, {10: 151 * 1024, 11: 100_000}])
    assert above.over and not above.meets
    assert "≤150 MiB: no" in above.lines[0]
    assert "≤150 MiB per worker after every pass — meets: no" in above.summary()
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


def test_matrix_table_puts_every_worker_model_side_by_side():
    sync = [
        row("validate", 800, 1000, bare=1600, p99=12.0),
        row("login", 80, 100, p50=100.0, p99=200.0),
    ]
    threaded = [row("validate", 900, 1000, bare=1500), row("login", 95, 100, p50=100.0, p99=120.0)]
    table = report.matrix_table([("sync", sync), ("gthread x2", threaded)]).splitlines()
    assert table[0] == "| endpoint | floor | sync | gthread x2 |"
    assert "800 req/s · 80% / 50% · p99 1.2xp50 · meets: yes" in table[2]
    assert "900 req/s · 90% / 60%" in table[2]
    assert "80 req/s · 80% · p99 2.0xp50 · meets: no" in table[3]
    assert "95 req/s · 95% · p99 1.2xp50 · meets: yes" in table[3]


def scale_step(size: int, label: str, rates: dict[str, tuple[float, float]]) -> report.ScaleStep:
    step = report.ScaleStep(size=size, label=label, seed_seconds=12.5, database_bytes=64 << 20)
    step.rows = {"accounts_user": size}
    step.passes = [[row(key, rps, ceiling) for key, (rps, ceiling) in rates.items()]]
    return step


def test_scale_table_judges_the_loss_from_the_smallest_to_the_largest_size():
    small = scale_step(1000, "1k", {"validate": (800, 1000), "session": (800, 1000)})
    large = scale_step(1000000, "1M", {"validate": (760, 1000), "session": (640, 1000)})
    table = report.scale_table([small, large], max_loss=0.10).splitlines()
    assert "| 1k users | 1M users | loss 1k→1M (req/s; ratio) | floor | meets |" in table[0]
    assert "| 800 (80%) | 760 (76%) | 5%; 5% | ≤10% | yes |" in table[2]
    assert "| 800 (80%) | 640 (64%) | 20%; 20% | ≤10% | no |" in table[3]
    # The machine slowed down as a whole: the ratio's loss, not req/s, is judged.
    drift = scale_step(1000000, "1M", {"validate": (600, 760), "session": (800, 1000)})
    table = report.scale_table([small, drift]).splitlines()
    assert "| 800 (80%) | 600 (79%) | 25%; 1% | ≤10% | yes |" in table[2]


def test_scale_facts_show_seed_time_database_size_and_rows():
    table = report.scale_facts_table([scale_step(1000, "1k", {"validate": (1, 1)})])
    assert "| 1k users | 12.5 s | 64 MiB | 1,000 |" in table


def with_bound(key: str, rps: float, ceiling: float, bound: float | None) -> Row:
    result = row(key, rps, ceiling)
    result.bound = None if bound is None else measured(bound)
    return result


def test_a_floor_above_the_rows_irreducible_work_is_bounded():
    # validate's floor is 80%: its bound (one shared-state round trip) reaching 64% proves it.
    bounded = with_bound("validate", 1500, 2500, 1600)
    assert bounded.ratio_bound == pytest.approx(0.64)
    assert report.bounded(bounded)
    # A bound at or above the floor proves nothing: the row could get there.
    assert not report.bounded(with_bound("access", 1000, 2500, 1500))
    assert not report.bounded(with_bound("access", 1000, 2500, None))


def test_bounds_table_shows_ratio_bound_and_reach_in_every_pass():
    passes = [
        [with_bound("validate", 1500, 2500, 1600), with_bound("access", 1000, 2500, 1600)],
        [with_bound("validate", 1400, 2500, 1500), with_bound("access", 1100, 2500, 1400)],
    ]
    table = report.bounds_table(passes).splitlines()
    assert table[0].count("pass ") == 2
    validate, access = table[2], table[3]
    assert "60% / 64% (94%)" in validate and "56% / 60% (93%)" in validate
    assert "unreachable while the row keeps its work" in validate
    # access: its bound (64%, then 56%) is above its 60% floor in one pass only.
    assert "above the bound in some passes" in access
    # A bound with errors proves nothing; a row above its bound means noise or a wrong bound.
    failed = with_bound("validate", 1500, 2500, 1600)
    failed.bound.errors = 3
    assert failed.ratio_bound is None and not report.bounded(failed)
    assert "bound failed (3 errors)" in report.bounds_table([[failed]])
    beaten = with_bound("validate", 1800, 2500, 1600)
    assert not report.bounded(beaten)
    assert "no verdict" in report.bounds_table([[beaten]])
    # Without any bound the table is empty (the scale series measures none).
    assert report.bounds_table([[row("jwks", 100, 100)]]) == ""
