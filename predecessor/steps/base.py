"""What every import step shares: the options, the batches of source rows (one transaction
each), the record of what was imported, and the look-up of imported users and Spaces."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from predecessor.formats import SourceSecrets
from predecessor.models import ImportedRecord
from predecessor.report import Report, TableReport
from predecessor.source import Source
from spaces.models import Space, SpaceRole

# Ids that are not UUIDs (Better Auth's default: 32 random characters) become UUIDv5 under
# this namespace, ``uuid5(NAMESPACE, "<table>:<id>")``: the same id on every run, and other
# services can derive the mapping too (it is also in ImportedRecord).
NAMESPACE = uuid.UUID("8f0c6d1e-7b1a-5c7e-9a43-2f6d0b5e1c11")
ROLE_RANK = (SpaceRole.OWNER, SpaceRole.ADMIN, SpaceRole.MEMBER)

Progress = Callable[[str, int, int], None]


class ImportRefused(Exception):
    """Bad input found before anything was written; the message tells the operator why."""


@dataclass(frozen=True)
class ImportOptions:
    secrets: SourceSecrets = field(default_factory=SourceSecrets)
    keks: tuple[bytes, ...] = field(default=(), repr=False)
    batch_size: int = 500
    dry_run: bool = False
    progress: Progress | None = None


def target_uuid(table: str, source_id: str) -> uuid.UUID:
    """The id a predecessor row gets here: its own when it is a UUID, else a UUIDv5."""
    try:
        return uuid.UUID(str(source_id))
    except ValueError:
        return uuid.uuid5(NAMESPACE, f"{table}:{source_id}")


def constraint_name(exc: IntegrityError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        name = getattr(getattr(cause, "diag", None), "constraint_name", None)
        if name:
            return str(name)
        cause = cause.__cause__ or cause.__context__
    return ""


class StepBase:
    def __init__(self, *, source: Source, options: ImportOptions, report: Report) -> None:
        self.source = source
        self.options = options
        self.report = report
        self.now = timezone.now()

    def batches(self, key: str) -> Iterable[tuple[TableReport, list[dict[str, Any]]]]:
        """The source rows of ``key`` a batch at a time, each batch in its own transaction."""
        table = self.report.table(key)
        if not self.source.has(key):
            self.report.absent(key)
            return
        total = self.source.count(key)
        done = 0
        for batch in self.source.rows(key, self.options.batch_size):
            with transaction.atomic():
                yield table, batch
            done += len(batch)
            if self.options.progress is not None:
                self.options.progress(key, done, total)

    @staticmethod
    def mapped(key: str, source_ids: Iterable[str]) -> dict[str, str]:
        ids = [str(s) for s in source_ids]
        rows = ImportedRecord.objects.filter(source_table=key, source_id__in=ids)
        return dict(rows.values_list("source_id", "target_id"))

    @staticmethod
    def record(key: str, source_id: str, target_id: object) -> None:
        ImportedRecord.objects.create(
            source_table=key, source_id=str(source_id), target_id=str(target_id)
        )

    def users_for(self, source_ids: Iterable[str]) -> dict[str, User]:
        """Imported users that still exist here, by their predecessor id."""
        targets = self.mapped("user", {s for s in source_ids if s})
        found = {str(u.pk): u for u in User.objects.filter(pk__in=list(targets.values()))}
        return {src: found[t] for src, t in targets.items() if t in found}

    def spaces_for(self, source_ids: Iterable[str]) -> dict[str, Space]:
        targets = self.mapped("organization", {s for s in source_ids if s})
        found = {str(s.pk): s for s in Space.objects.filter(pk__in=list(targets.values()))}
        return {src: found[t] for src, t in targets.items() if t in found}

    def _insert(
        self, table: TableReport, key: str, source_id: str, obj: Any, conflict: str
    ) -> None:
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
                self.record(key, source_id, obj.pk)
        except IntegrityError:
            table.skip(conflict, source_id)
            return
        table.imported += 1
