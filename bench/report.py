"""Pure helpers of the bench: measurements, percentiles, targets, ratios and the tables.

No Django, no I/O: the orchestrator (``bench.bench``) and the tests import this.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

WRK_MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Target:
    """What one endpoint must reach, from the issue."""

    ceiling: str  # "http" (the constant view) or "hash" (argon2 verify loops, one per worker)
    min_ratio: float | None  # None: reported, no target
    max_queries: int | None  # SQL statements per request once warm
    max_p99_over_p50: float | None = None


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    target: Target


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("validate", "POST /api/v1/auth/validate", Target("http", 0.70, 1)),
    Endpoint("session", "GET /api/v1/auth/session", Target("http", 0.70, 1)),
    Endpoint("jwks", "GET /.well-known/jwks.json", Target("http", 0.90, 0)),
    Endpoint("refresh", "POST /api/v1/auth/refresh", Target("http", 0.40, 4)),
    Endpoint("access", "GET /api/v1/spaces/{id}/access", Target("http", None, 2)),
    Endpoint("login", "POST /api/v1/auth/login", Target("hash", 0.90, 9, 1.5)),
    Endpoint("passkey", "POST /api/v1/auth/passkeys/authenticate/verify", Target("http", 0.50, 8)),
)
ENDPOINTS_BY_KEY = {endpoint.key: endpoint for endpoint in ENDPOINTS}


@dataclass
class Measurement:
    """One bounded load run (an endpoint or a ceiling)."""

    name: str
    driver: str  # "wrk", "python" or "argon2-loop"
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    errors: int = 0
    duration_s: float = 0.0
    note: str = ""  # why there is no figure ("n/a (endpoint missing)", "skipped ...")

    @property
    def ok(self) -> bool:
        return self.rps is not None


@dataclass
class Row:
    endpoint: Endpoint
    result: Measurement
    ceiling: Measurement | None
    queries: int | None = None
    queries_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return ratio(self.result, self.ceiling)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def parse_wrk(stdout: str) -> dict[str, Any]:
    """The JSON line our Lua ``done()`` prints (``BENCH_JSON {...}``)."""
    for line in stdout.splitlines():
        if line.startswith(WRK_MARKER):
            return json.loads(line[len(WRK_MARKER) :])
    raise ValueError("wrk printed no BENCH_JSON line")


def measurement_from_wrk(name: str, data: dict[str, Any]) -> Measurement:
    duration_s = data["duration_us"] / 1e6
    errors = sum(
        int(data.get(key, 0))
        for key in ("errors_connect", "errors_read", "errors_write", "errors_status")
    ) + int(data.get("errors_timeout", 0))
    requests = int(data["requests"])
    return Measurement(
        name=name,
        driver="wrk",
        rps=requests / duration_s if duration_s > 0 else 0.0,
        p50_ms=data["p50_us"] / 1000.0,
        p99_ms=data["p99_us"] / 1000.0,
        requests=requests,
        errors=errors,
        duration_s=duration_s,
    )


def measurement_from_driver(name: str, data: dict[str, Any]) -> Measurement:
    """The Python driver's JSON (``bench.pydriver``)."""
    if data.get("error"):
        return Measurement(name=name, driver="python", note=f"error: {data['error']}")
    return Measurement(
        name=name,
        driver="python",
        rps=data["rps"],
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        requests=data["requests"],
        errors=data["errors"],
        duration_s=data["duration_s"],
        note=data.get("note", ""),
    )


def hash_ceiling(loop: dict[str, Any]) -> Measurement:
    """argon2 verify loops, one thread each, as many at once as there are workers."""
    return Measurement(
        name=f"argon2 loop x{loop['procs']}",
        driver="argon2-loop",
        rps=loop["rate"],
        p50_ms=loop["p50_ms"],
        p99_ms=loop["p99_ms"],
        requests=loop["verifies"],
        duration_s=loop["seconds"],
    )


def merge_runs(name: str, runs: Sequence[Measurement]) -> Measurement:
    """Rounds of one measurement as one: req/s over all of them, p50 the request-weighted mean
    of the rounds' p50, p99 the worst round's. A failed round fails the whole."""
    failed = next((run for run in runs if not run.ok), None)
    if failed is not None or not runs:
        note = failed.note if failed else "no runs"
        return Measurement(name=name, driver=failed.driver if failed else "", note=note)
    requests = sum(run.requests for run in runs)
    duration = sum(run.duration_s for run in runs)
    weights = [run.requests or 1 for run in runs]
    p50 = sum(w * (run.p50_ms or 0.0) for w, run in zip(weights, runs, strict=True)) / sum(weights)
    notes = [run.note for run in runs if run.note]
    return Measurement(
        name=runs[0].name if len({run.name for run in runs}) == 1 else name,
        driver=runs[0].driver,
        rps=requests / duration if duration > 0 else 0.0,
        p50_ms=p50,
        p99_ms=max(run.p99_ms or 0.0 for run in runs),
        requests=requests,
        errors=sum(run.errors for run in runs),
        duration_s=duration,
        note="; ".join(dict.fromkeys(notes)),
    )


def ratio(result: Measurement, ceiling: Measurement | None) -> float | None:
    if ceiling is None or not result.ok or not ceiling.ok or not ceiling.rps:
        return None
    return result.rps / ceiling.rps  # type: ignore[operator]


def verdict(row: Row) -> list[str]:
    """The targets this row misses (empty: it meets every target it has)."""
    misses: list[str] = []
    target = row.endpoint.target
    if not row.result.ok:
        return misses
    value = row.ratio
    if target.min_ratio is not None and (value is None or value < target.min_ratio):
        misses.append("ratio")
    if target.max_p99_over_p50 is not None:
        p50, p99 = row.result.p50_ms, row.result.p99_ms
        if not p50 or p99 is None or p99 > target.max_p99_over_p50 * p50:
            misses.append("p99")
    if (
        target.max_queries is not None
        and row.queries is not None
        and row.queries > target.max_queries
    ):
        misses.append("sql")
    if row.result.errors:
        misses.append("errors")
    return misses


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def target_text(target: Target) -> str:
    parts = []
    if target.min_ratio is not None:
        parts.append(f"≥{target.min_ratio * 100:.0f}%")
    if target.max_p99_over_p50 is not None:
        parts.append(f"p99≤{target.max_p99_over_p50:g}xp50")
    return ", ".join(parts) or "—"


def ceiling_text(ceiling: Measurement | None) -> str:
    if ceiling is None:
        return "—"
    if not ceiling.ok:
        return ceiling.note or "—"
    kind = ceiling.name if ceiling.driver == "argon2-loop" else f"bare ({ceiling.driver})"
    return f"{_num(ceiling.rps)} {kind}"


def markdown_table(rows: Sequence[Row]) -> str:
    header = (
        "| endpoint | req/s | p50 ms | p99 ms | ceiling req/s | ratio | target "
        "| SQL/req (budget) | errors | meets |"
    )
    lines = [header, "|" + "---|" * 10]
    for row in rows:
        result = row.result
        budget = row.endpoint.target.max_queries
        sql = "—" if row.queries is None else str(row.queries)
        if row.queries is None and row.queries_note:
            sql = row.queries_note
        sql += f" (≤{budget})" if budget is not None else ""
        if result.ok:
            misses = verdict(row)
            meets = "yes" if not misses else "no: " + ", ".join(misses)
            cells = [
                _num(result.rps),
                _num(result.p50_ms, 1),
                _num(result.p99_ms, 1),
                ceiling_text(row.ceiling),
                _pct(row.ratio),
                target_text(row.endpoint.target),
                sql,
                str(result.errors),
                meets + (f" ({result.note})" if result.note else ""),
            ]
        else:
            cells = [
                result.note or "n/a",
                "—",
                "—",
                ceiling_text(row.ceiling),
                "—",
                target_text(row.endpoint.target),
                sql,
                "—",
                "—",
            ]
        lines.append("| " + " | ".join([f"`{row.endpoint.label}`", *cells]) + " |")
    return "\n".join(lines)


def ratios_table(passes: Sequence[Sequence[Row]]) -> str:
    """The ratio of every endpoint in every pass, next to its target."""
    if not passes:
        return ""
    header = "| endpoint | " + " | ".join(f"pass {i + 1}" for i in range(len(passes)))
    header += " | target |"
    lines = [header, "|" + "---|" * (len(passes) + 2)]
    for index, row in enumerate(passes[0]):
        cells = []
        for rows in passes:
            other = rows[index] if index < len(rows) else None
            cells.append(_pct(other.ratio) if other and other.result.ok else "—")
        lines.append(
            f"| `{row.endpoint.label}` | "
            + " | ".join(cells)
            + f" | {target_text(row.endpoint.target)} |"
        )
    return "\n".join(lines)


# --- Memory -----------------------------------------------------------------------------------


def parse_rss_kib(status_text: str) -> int | None:
    """``VmRSS`` from the text of ``/proc/<pid>/status`` (kB)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def parse_ppid(stat_text: str) -> int:
    """The parent pid from ``/proc/<pid>/stat`` (the command may contain spaces and parens)."""
    return int(stat_text[stat_text.rindex(")") + 2 :].split()[1])


@dataclass(frozen=True)
class MemoryVerdict:
    lines: list[str]
    grew: bool


def memory_report(
    snapshots: Sequence[dict[int, int]], *, max_growth_kib: int = 4096, max_growth_ratio=0.05
) -> MemoryVerdict:
    """Compare RSS per worker pid (KiB) after each pass: growth beyond both thresholds (4 MiB
    and 5%) from the first to the last pass counts as growth. A restarted worker is named."""
    lines: list[str] = []
    grew = False
    if not snapshots:
        return MemoryVerdict(["no memory figures"], False)
    first, last = snapshots[0], snapshots[-1]
    for pid in sorted(set(first) | set(last)):
        series = [snap.get(pid) for snap in snapshots]
        text = ", ".join("—" if kib is None else f"{kib / 1024:.1f}" for kib in series)
        if pid not in first or pid not in last:
            lines.append(f"worker {pid}: {text} MiB (worker replaced between passes)")
            continue
        delta = last[pid] - first[pid]
        grows = delta > max_growth_kib and delta > max_growth_ratio * first[pid]
        grew = grew or grows
        verdict_text = "grows" if grows else "stable"
        lines.append(f"worker {pid}: {text} MiB ({delta / 1024:+.1f} MiB, {verdict_text})")
    return MemoryVerdict(lines, grew)


def rows_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append(
            {
                "endpoint": row.endpoint.key,
                "label": row.endpoint.label,
                "result": asdict(row.result),
                "ceiling": asdict(row.ceiling) if row.ceiling else None,
                "ratio": row.ratio,
                "queries": row.queries,
                "misses": verdict(row),
                **row.extra,
            }
        )
    return out
