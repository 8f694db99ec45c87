"""Index security events by time alone: the console lists them newest first and its
dashboard reads the latest ten. Built concurrently: every sign-in writes to this table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("security", "0004_shared_state"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="securityevent",
            index=models.Index(fields=["-created_at"], name="security_event_created_idx"),
        ),
    ]
