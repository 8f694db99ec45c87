"""Drop the ``varchar_pattern_ops`` twins of indexes on digests and address keys, which only
equality ever reads (the primary key or the plain index serves it): the login attempt every
sign-in writes, and the shared counters and entries every rate limit and ceremony writes when
there is no Redis. ``security_login_throttle``'s ``scope`` keeps its own: the console's
dashboard counts locked accounts by prefix (``acct:``). Dropped concurrently."""

from django.db import migrations


def drop_index(table: str, name: str, columns: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns})",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("security", "0006_login_attempt_method"),
    ]

    operations = [
        drop_index(
            "security_login_attempt",
            "security_login_attempt_email_key_a513fa0a_like",
            "email_key varchar_pattern_ops",
        ),
        drop_index(
            "security_shared_counter",
            "security_shared_counter_key_8f5e8f28_like",
            "key varchar_pattern_ops",
        ),
        drop_index(
            "security_shared_entry",
            "security_shared_entry_key_ba846dac_like",
            "key varchar_pattern_ops",
        ),
    ]
