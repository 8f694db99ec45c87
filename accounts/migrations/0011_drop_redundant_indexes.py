"""Drop indexes no query uses from the tables every sign-in and refresh writes.

On PostgreSQL Django adds a second b-tree (``varchar_pattern_ops``, for ``LIKE 'prefix%'``)
beside every unique or indexed CharField. These columns hold SHA-256 digests (and passkey
credential ids) compared by equality only, which the primary key or unique index already
serves; each ``_like`` index was one more random leaf written per INSERT, and one more
full-page image in the WAL after each checkpoint. The session's own index on ``user_id`` is
covered by ``accounts_session_user_idx`` (``user_id, revoked_at``), which the foreign key's
cascades and every per-user query use. Dropped concurrently: sign-ins go on meanwhile.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def drop_index(table: str, name: str, columns: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns})",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0010_user_onboarding_completed_at"),
    ]

    operations = [
        drop_index(
            "accounts_refresh_token",
            "accounts_refresh_token_token_hash_9d6fa833_like",
            "token_hash varchar_pattern_ops",
        ),
        drop_index(
            "accounts_session",
            "accounts_session_cookie_hash_d74cf782_like",
            "cookie_hash varchar_pattern_ops",
        ),
        drop_index(
            "accounts_one_time_token",
            "accounts_one_time_token_token_hash_f024b000_like",
            "token_hash varchar_pattern_ops",
        ),
        drop_index(
            "accounts_passkey",
            "accounts_passkey_credential_id_b64_b88a31ec_like",
            "credential_id_b64 varchar_pattern_ops",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="session",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sessions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                drop_index("accounts_session", "accounts_session_user_id_d5aaed01", "user_id"),
            ],
        ),
    ]
