"""What the importer has brought over: one row per predecessor row, so a second run skips it
and an interrupted run resumes where it stopped."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ImportedRecord(models.Model):
    """A predecessor row (``source_table`` + its id) and what it became here.

    Kept after the target is gone (an account deleted after the switch): a later run must not
    bring a deleted account back. ``target_id`` is the new primary key as text; for users it
    is the mapping other services need when the predecessor's ids were not UUIDs.
    """

    id = models.BigAutoField(primary_key=True)
    source_table = models.CharField(max_length=64)
    source_id = models.CharField(max_length=255)
    target_id = models.CharField(max_length=64)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "predecessor_imported_record"
        constraints = [
            models.UniqueConstraint(
                fields=["source_table", "source_id"], name="predecessor_record_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_table}:{self.source_id} → {self.target_id}"
