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
    Endpoint("validate", "POST /api/v1/auth/validate", Target("http", 0.80, 1)),
    Endpoint("session", "GET /api/v1/auth/session", Target("http", 0.80, 1)),
    Endpoint("jwks", "GET /.well-known/jwks.json", Target("http", 0.95, 0)),
    Endpoint("refresh", "POST /api/v1/auth/refresh", Target("http", 0.50, 1)),
    Endpoint("access", "GET /api/v1/spaces/{id}/access", Target("http", 0.60, 1)),
    Endpoint("login", "POST /api/v1/auth/login", Target("hash", 0.90, 4, 1.5)),
    Endpoint("passkey", "POST /api/v1/auth/passkeys/authenticate/verify", Target("http", 0.40, 2)),
)
# The floors (issue 20): ratios against the ceiling measured in the same run. Not to be
# lowered; a row that cannot reach its floor shows in the README the profile of what bounds it.
# The second ceiling (a constant view on Django's bare minimum, no project middleware) is
# printed next to it for every HTTP row; the floor applies to the first (the "bare").
MEMORY_CEILING_MIB = 150
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
    # The second ceiling: a constant view on Django's bare minimum (bench/bare.py), HTTP rows.
    bare: Measurement | None = None
    # The row's irreducible work alone behind the same stack (bench/bound.py): its ratio to the
    # same ceiling is the most any implementation of the row could reach.
    bound: Measurement | None = None

    @property
    def ratio(self) -> float | None:
        return ratio(self.result, self.ceiling)

    @property
    def ratio_bound(self) -> float | None:
        """None when there is no bound, or its requests failed (no proof from errors)."""
        if self.bound is None or self.bound.errors:
            return None
        return ratio(self.bound, self.ceiling)

    @property
    def reach(self) -> float | None:
        """How much of its bound the row reaches."""
        value, bound = self.ratio, self.ratio_bound
        return value / bound if value is not None and bound else None

    @property
    def ratio_bare(self) -> float | None:
        return ratio(self.result, self.bare)


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
    kind = ceiling.name if ceiling.driver == "argon2-loop" else f"/health ({ceiling.driver})"
    return f"{_num(ceiling.rps)} {kind}"


def bare_text(bare: Measurement | None) -> str:
    if bare is None:
        return "—"
    if not bare.ok:
        return bare.note or "—"
    return _num(bare.rps)


TABLE_HEADER = (
    "| endpoint | req/s | p50 ms | p99 ms | ceiling req/s | ratio | bare Django req/s "
    "| ratio vs bare Django | floor | SQL/req (budget) | errors | meets |"
)
TABLE_COLUMNS = 12


def markdown_table(rows: Sequence[Row]) -> str:
    """One line per endpoint: its figures, both ceilings and both ratios, the floor (on the
    first ratio, the issue's), SQL, errors and whether it meets every target."""
    lines = [TABLE_HEADER, "|" + "---|" * TABLE_COLUMNS]
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
                bare_text(row.bare),
                _pct(row.ratio_bare),
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
                bare_text(row.bare),
                "—",
                target_text(row.endpoint.target),
                sql,
                "—",
                "—",
            ]
        lines.append("| " + " | ".join([f"`{row.endpoint.label}`", *cells]) + " |")
    return "\n".join(lines)


def _ratio_cell(row: Row | None) -> str:
    if row is None or not row.result.ok:
        return "—"
    text = _pct(row.ratio)
    if row.bare is not None:
        text += f" / {_pct(row.ratio_bare)}"
    return text


def ratios_table(passes: Sequence[Sequence[Row]]) -> str:
    """The ratio of every endpoint in every pass (vs /health / vs bare Django), its floor and
    whether every pass meets it."""
    if not passes:
        return ""
    header = "| endpoint | " + " | ".join(f"pass {i + 1}" for i in range(len(passes)))
    header += " | floor | meets in every pass |"
    lines = [header, "|" + "---|" * (len(passes) + 3)]
    for index, row in enumerate(passes[0]):
        others = [rows[index] if index < len(rows) else None for rows in passes]
        measured = [other for other in others if other is not None and other.result.ok]
        if not measured:
            meets = "—"
        else:
            meets = "yes" if all(not verdict(other) for other in measured) else "no"
            if len(measured) < len(others):
                meets += " (not every pass measured)"
        lines.append(
            f"| `{row.endpoint.label}` | "
            + " | ".join(_ratio_cell(other) for other in others)
            + f" | {target_text(row.endpoint.target)} | {meets} |"
        )
    return "\n".join(lines)


# A row measured above its own bound by more than this is noise or a wrong bound: no verdict.
BOUND_TOLERANCE = 1.05


def bound_valid(row: Row) -> bool:
    reach = row.reach
    return reach is not None and reach <= BOUND_TOLERANCE


def bounded(row: Row) -> bool:
    """The row's floor is above what its irreducible work alone reaches (bench/bound.py), and
    the bound held (no errors, the row did not beat it)."""
    floor, bound = row.endpoint.target.min_ratio, row.ratio_bound
    return floor is not None and bound is not None and bound < floor and bound_valid(row)


def bounds_table(passes: Sequence[Sequence[Row]]) -> str:
    """Per row and pass: its ratio, the ratio of its irreducible work alone (the bound), how
    much of the bound the row reaches, and whether the floor is above the bound."""
    rows_with_bounds = [row for row in passes[0] if row.bound is not None] if passes else []
    if not rows_with_bounds:
        return ""
    header = "| endpoint | floor | "
    header += " | ".join(f"pass {i + 1}: ratio / bound (of bound)" for i in range(len(passes)))
    header += " | the floor |"
    lines = [header, "|" + "---|" * (len(passes) + 3)]
    for index, row in enumerate(passes[0]):
        if row.bound is None:
            continue
        others = [rows[index] if index < len(rows) else None for rows in passes]
        cells = []
        for other in others:
            if other is None or other.ratio_bound is None:
                failed = other is not None and other.bound is not None and other.bound.errors
                cells.append(f"bound failed ({other.bound.errors} errors)" if failed else "—")
                continue
            cell = f"{_pct(other.ratio)} / {_pct(other.ratio_bound)} ({_pct(other.reach)})"
            cells.append(cell if bound_valid(other) else cell + " beat its bound")
        measured = [o for o in others if o is not None and o.ratio_bound is not None]
        if not measured:
            state = "—"
        elif not all(bound_valid(o) for o in measured):
            state = "no verdict: the row beat its bound (noise, or a wrong bound)"
        elif all(bounded(o) for o in measured):
            state = "above the bound in every pass: unreachable while the row keeps its work"
        elif any(bounded(o) for o in measured):
            state = "above the bound in some passes"
        else:
            state = "below the bound: reachable"
        lines.append(
            f"| `{row.endpoint.label}` | {target_text(row.endpoint.target)} | "
            + " | ".join(cells)
            + f" | {state} |"
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
    over: bool = False  # some worker above the ceiling after some pass

    @property
    def meets(self) -> bool:
        return not self.grew and not self.over

    def summary(self, ceiling_mib: int = MEMORY_CEILING_MIB) -> str:
        size = "no" if self.over else "yes"
        growth = "no" if self.grew else "yes"
        return (
            f"Memory: ≤{ceiling_mib} MiB per worker after every pass — meets: {size}; "
            f"no growth between passes — meets: {growth}"
        )


def memory_report(
    snapshots: Sequence[dict[int, int]],
    *,
    max_growth_kib: int = 4096,
    max_growth_ratio: float = 0.05,
    ceiling_kib: int = MEMORY_CEILING_MIB * 1024,
) -> MemoryVerdict:
    """Compare RSS per worker pid (KiB) after each pass with the ceiling (150 MiB) and between
    passes: growth beyond both thresholds (4 MiB and 5%) from one pass to any later one counts
    as growth. A restarted worker is named (its growth cannot be judged)."""
    lines: list[str] = []
    grew = over = False
    if not snapshots:
        return MemoryVerdict(["no memory figures"], False)
    first, last = snapshots[0], snapshots[-1]
    for pid in sorted(set().union(*snapshots)):
        series = [snap.get(pid) for snap in snapshots]
        text = ", ".join("—" if kib is None else f"{kib / 1024:.1f}" for kib in series)
        peak = max(kib for kib in series if kib is not None)
        above = peak > ceiling_kib
        over = over or above
        size = f"≤{ceiling_kib // 1024} MiB: {'no' if above else 'yes'}"
        if pid not in first or pid not in last:
            lines.append(f"worker {pid}: {text} MiB ({size}; worker replaced between passes)")
            continue
        known = [kib for kib in series if kib is not None]
        grows = any(
            later - earlier > max_growth_kib and later - earlier > max_growth_ratio * earlier
            for i, earlier in enumerate(known)
            for later in known[i + 1 :]
        )
        grew = grew or grows
        delta = last[pid] - first[pid]
        verdict_text = "grows" if grows else "stable"
        lines.append(f"worker {pid}: {text} MiB ({size}; {delta / 1024:+.1f} MiB, {verdict_text})")
    return MemoryVerdict(lines, grew, over)


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
                "bare": asdict(row.bare) if row.bare else None,
                "ratio_bare": row.ratio_bare,
                "bound": asdict(row.bound) if row.bound else None,
                "ratio_bound": row.ratio_bound,
                "queries": row.queries,
                "misses": verdict(row),
                **row.extra,
            }
        )
    return out


# --- Worker models side by side ---------------------------------------------------------------


def _model_cell(row: Row | None) -> str:
    if row is None:
        return "—"
    if not row.result.ok:
        return row.result.note or "—"
    result = row.result
    parts = [f"{_num(result.rps)} req/s", _pct(row.ratio)]
    if row.bare is not None:
        parts[-1] += f" / {_pct(row.ratio_bare)}"
    if result.p50_ms:
        parts.append(f"p99 {(result.p99_ms or 0.0) / result.p50_ms:.1f}xp50")
    parts.append("meets: " + ("yes" if not verdict(row) else "no"))
    return " · ".join(parts)


def matrix_table(models: Sequence[tuple[str, Sequence[Row]]]) -> str:
    """Every row under every worker model: req/s, ratio (vs /health / vs bare Django),
    p99 over p50 and whether it meets its floor."""
    if not models:
        return ""
    header = "| endpoint | floor | " + " | ".join(label for label, _ in models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 2)]
    keys = [row.endpoint.key for row in models[0][1]]
    for key in keys:
        endpoint = ENDPOINTS_BY_KEY[key]
        cells = []
        for _, rows in models:
            match = next((row for row in rows if row.endpoint.key == key), None)
            cells.append(_model_cell(match))
        lines.append(
            f"| `{endpoint.label}` | {target_text(endpoint.target)} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


# --- Cost as the data grows -------------------------------------------------------------------


@dataclass
class ScaleStep:
    """One size of the scale series: what seeding it cost, and the passes measured on it."""

    size: int
    label: str
    seed_seconds: float
    database_bytes: int
    rows: dict[str, int] = field(default_factory=dict)
    passes: list[list[Row]] = field(default_factory=list)
    memory: list[dict[int, int]] = field(default_factory=list)

    def best(self, key: str) -> Row | None:
        """The pass with the highest req/s of that row (noise only ever slows a pass)."""
        measured = [
            row for rows in self.passes for row in rows if row.endpoint.key == key and row.result.ok
        ]
        return max(measured, key=lambda row: row.result.rps or 0.0, default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "label": self.label,
            "seed_seconds": self.seed_seconds,
            "database_bytes": self.database_bytes,
            "rows": self.rows,
            "passes": [rows_json(rows) for rows in self.passes],
            "memory_kib": [{str(k): v for k, v in snap.items()} for snap in self.memory],
        }


def scale_loss(first: Row | None, last: Row | None) -> tuple[float | None, float | None]:
    """(loss of req/s, loss of the ratio to the ceiling) from the smallest to the largest size;
    positive is a loss. The ratio's loss discounts the machine's own drift between sizes."""
    if first is None or last is None or not first.result.rps or last.result.rps is None:
        return None, None
    rps_loss = 1.0 - last.result.rps / first.result.rps
    ratio_loss = None
    if first.ratio and last.ratio is not None:
        ratio_loss = 1.0 - last.ratio / first.ratio
    return rps_loss, ratio_loss


def scale_table(steps: Sequence[ScaleStep], *, max_loss: float = 0.10) -> str:
    """req/s (ratio) per size for every measured row, the loss from the smallest to the largest
    size and whether it stays within ``max_loss``. The verdict is on the ratio's loss when
    both sizes have a ceiling (the machine drifts between sizes), else on req/s."""
    if not steps:
        return ""
    keys = [row.endpoint.key for row in steps[0].passes[0]] if steps[0].passes else []
    header = (
        "| endpoint | "
        + " | ".join(f"{step.label} users" for step in steps)
        + f" | loss {steps[0].label}→{steps[-1].label} (req/s; ratio) | floor | meets |"
    )
    lines = [header, "|" + "---|" * (len(steps) + 4)]
    for key in keys:
        endpoint = ENDPOINTS_BY_KEY[key]
        cells = []
        for step in steps:
            row = step.best(key)
            if row is None:
                cells.append("—")
            else:
                cells.append(f"{_num(row.result.rps)} ({_pct(row.ratio)})")
        rps_loss, ratio_loss = scale_loss(steps[0].best(key), steps[-1].best(key))
        judged = ratio_loss if ratio_loss is not None else rps_loss
        meets = "—" if judged is None else ("yes" if judged <= max_loss else "no")
        loss = f"{_pct(rps_loss)}; {_pct(ratio_loss)}"
        lines.append(
            f"| `{endpoint.label}` | "
            + " | ".join(cells)
            + f" | {loss} | ≤{max_loss * 100:.0f}% | {meets} |"
        )
    return "\n".join(lines)


def scale_facts_table(steps: Sequence[ScaleStep]) -> str:
    """Seed time, database size and table sizes per size."""
    tables = sorted({name for step in steps for name in step.rows})
    header = "| size | seed time | database size | " + " | ".join(tables) + " |"
    lines = [header, "|" + "---|" * (len(tables) + 3)]
    for step in steps:
        counts = [_num(step.rows.get(name)) for name in tables]
        lines.append(
            f"| {step.label} users | {step.seed_seconds:,.1f} s | "
            f"{step.database_bytes / 1024 / 1024:,.0f} MiB | " + " | ".join(counts) + " |"
        )
    return "\n".join(lines)
