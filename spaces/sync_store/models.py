"""The sync store's change log (``sync_changes``), as far as this service writes to it.

The table belongs to the Mana sync service; this service only inserts server-side singleton
bootstrap rows. The router sends the model to the ``sync`` database alias when
``SYNC_DATABASE_URL`` configures one, and to the main database otherwise.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SyncChange(models.Model):
    id = models.BigAutoField(primary_key=True)
    app_id = models.CharField(max_length=64)
    table_name = models.CharField(max_length=128)
    record_id = models.CharField(max_length=128)
    user_id = models.CharField(max_length=64)
    # NULL, as the sync service writes it, for rows that belong to no Space.
    space_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    op = models.CharField(max_length=16)
    data = models.JSONField(default=dict)
    field_meta = models.JSONField(default=dict)
    client_id = models.CharField(max_length=128)
    schema_version = models.IntegerField(default=1)
    actor = models.JSONField(null=True, blank=True)
    origin = models.CharField(max_length=32, default="user")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sync_changes"
        indexes = [
            models.Index(
                fields=["table_name", "user_id", "record_id"], name="sync_changes_user_rec_idx"
            ),
            models.Index(fields=["table_name", "space_id"], name="sync_changes_space_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.app_id}/{self.table_name}/{self.record_id} ({self.op})"
