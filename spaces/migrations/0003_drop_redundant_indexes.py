"""Drop the ``varchar_pattern_ops`` twin of the invitation token's unique index: a SHA-256
digest, read by equality only (the unique index serves it). Dropped concurrently."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("spaces", "0002_invitation_email_key"),
    ]

    operations = [
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS spaces_invitation_token_hash_d34c98bd_like",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS spaces_invitation_token_hash_d34c98bd_like "
            "ON spaces_invitation (token_hash varchar_pattern_ops)",
        ),
    ]
