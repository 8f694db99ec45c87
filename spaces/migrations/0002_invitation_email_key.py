"""Invitations are bound to the same comparison key as accounts (``accounts.emails.email_key``).

Adds ``spaces_invitation.email_key``, fills it for every existing invitation and indexes it in
place of the (space, email) index. The key function is frozen here as it was when this
migration was written (see accounts.0005_user_email_key).
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
    Invitation = apps.get_model("spaces", "Invitation")
    rows = Invitation.objects.order_by("id").values_list("id", "email").iterator(BATCH)
    sql = "UPDATE spaces_invitation SET email_key = %s WHERE id = %s"
    with schema_editor.connection.cursor() as cursor:
        batch = []
        for pk, email in rows:
            batch.append((email_key(email), pk))
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


class Migration(migrations.Migration):
    dependencies = [
        ("spaces", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="email_key",
            field=models.CharField(editable=False, max_length=762, null=True),
        ),
        migrations.RunPython(fill_email_keys, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="invitation",
            name="email_key",
            field=models.CharField(editable=False, max_length=762),
        ),
        migrations.RemoveIndex(
            model_name="invitation",
            name="spaces_invitation_email_idx",
        ),
        migrations.AddIndex(
            model_name="invitation",
            index=models.Index(fields=["email_key"], name="spaces_invitation_key_idx"),
        ),
    ]
