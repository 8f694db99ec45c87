"""One comparison key per address, computed in Python, under a real UNIQUE constraint.

Until now lookups lower-cased in Python and the unique index lower-cased in PostgreSQL; the two
disagree (``İ``: Python gives ``i̇``, PostgreSQL ``i``), which made a look-alike either a 409
(enumeration) or a second account. This adds ``accounts_user.email_key``, fills it for every
existing row, and replaces the functional index on ``lower(email)`` with a UNIQUE constraint
on the key. When two existing accounts have the same key the migration stops and names them:
an operator decides which one keeps the address (nothing is merged or renamed silently).

The key function is frozen here as it was when this migration was written, so that the
migration means the same thing whenever it runs (``accounts.emails.email_key`` is the live one).
"""

import unicodedata

import idna
from django.db import migrations, models

BATCH = 1000


def _domain_ascii(domain):
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return domain.lower()


def _fold(text):
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def email_key(raw):
    value = unicodedata.normalize("NFKC", (raw or "").strip())
    local, sep, domain = value.rpartition("@")
    if not sep:
        return _fold(value)
    return f"{_fold(local)}@{_domain_ascii(domain)}"


def fill_email_keys(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    rows = User.objects.order_by("id").values_list("id", "email").iterator(BATCH)
    sql = "UPDATE accounts_user SET email_key = %s WHERE id = %s"
    with schema_editor.connection.cursor() as cursor:
        batch = []
        for pk, email in rows:
            batch.append((email_key(email), pk))
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
    # Collisions are found by the database, in constant memory, before the constraint exists.
    shared = (
        User.objects.values("email_key")
        .annotate(accounts=models.Count("id"))
        .filter(accounts__gt=1)
        .values_list("email_key", flat=True)
    )
    collisions = {}
    for user in User.objects.filter(email_key__in=shared).order_by("email_key", "created_at"):
        collisions.setdefault(user.email_key, []).append(user)
    if collisions:
        lines = [
            f"  {key!r}: " + ", ".join(f"{u.id} <{u.email}>" for u in users)
            for key, users in sorted(collisions.items())
        ]
        raise RuntimeError(
            "accounts.0005_user_email_key: these accounts are one address under the new "
            "comparison key (NFKC + case folding). Give all but one of each group another "
            "address (or delete it) and run migrate again:\n" + "\n".join(lines)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_api_key_legacy_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=762, null=True),
        ),
        migrations.RunPython(fill_email_keys, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=models.CharField(editable=False, max_length=762),
        ),
        migrations.RemoveConstraint(
            model_name="user",
            name="accounts_user_email_ci_unique",
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("email_key",), name="accounts_user_email_key_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(("email_key", ""), _negated=True),
                name="accounts_user_email_key_set",
            ),
        ),
    ]
