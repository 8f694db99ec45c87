"""What an import run did, table by table: read, imported, updated, already there, skipped
(with the reason), and notes on rows imported with a change (a renamed slug, a dropped scope).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 5


@dataclass
class TableReport:
    name: str
    present: bool = True
    read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def _example(self, reason: str, example: str | None) -> None:
        if example is not None:
            items = self.examples.setdefault(reason, [])
            if len(items) < MAX_EXAMPLES:
                items.append(example)

    def skip(self, reason: str, example: str | None = None) -> None:
        self.skipped[reason] += 1
        self._example(reason, example)

    def note(self, reason: str, example: str | None = None) -> None:
        self.notes[reason] += 1
        self._example(reason, example)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def changed(self) -> int:
        return self.imported + self.updated

    def summary(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped_total,
        }


@dataclass
class Report:
    dry_run: bool = False
    tables: dict[str, TableReport] = field(default_factory=dict)

    def table(self, name: str) -> TableReport:
        if name not in self.tables:
            self.tables[name] = TableReport(name=name)
        return self.tables[name]

    def absent(self, name: str) -> None:
        self.table(name).present = False

    @property
    def changed(self) -> int:
        return sum(table.changed for table in self.tables.values())

    def summary(self) -> dict[str, Any]:
        return {name: table.summary() for name, table in self.tables.items() if table.present}

    def lines(self) -> list[str]:
        """The report as text lines (no secret ever reaches a report: ids and reasons only)."""
        width = max([len(name) for name in self.tables] + [5])
        head = f"{'table':<{width}}  {'read':>7}  {'imported':>8}  {'updated':>7}  "
        head += f"{'already':>7}  {'skipped':>7}"
        out = [head, "-" * len(head)]
        for table in self.tables.values():
            if not table.present:
                out.append(f"{table.name:<{width}}  (no such table in the source)")
                continue
            out.append(
                f"{table.name:<{width}}  {table.read:>7}  {table.imported:>8}  "
                f"{table.updated:>7}  {table.unchanged:>7}  {table.skipped_total:>7}"
            )
        for table in self.tables.values():
            for label, counter in (("skipped", table.skipped), ("note", table.notes)):
                for reason, count in counter.most_common():
                    line = f"  {table.name}: {label} {count} x {reason}"
                    examples = table.examples.get(reason)
                    if examples:
                        line += f" (e.g. {', '.join(examples)})"
                    out.append(line)
        verb = "would change" if self.dry_run else "changed"
        if self.changed == 0:
            out.append("Nothing to do: every row was imported before (or is skipped as above).")
        else:
            out.append(f"This run {verb} {self.changed} row(s).")
        if self.dry_run:
            out.append("Dry run: nothing was written.")
        return out
