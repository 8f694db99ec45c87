# Keys imported from the predecessor (Better Auth, ``mana_…``) have no public id: they are
# found by their hash. The prefix stays unique for this service's own keys only.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="hash_format",
            field=models.CharField(
                choices=[
                    ("sha256_hex", "SHA-256 (hex)"),
                    ("better_auth", "Better Auth (base64url SHA-256)"),
                ],
                default="sha256_hex",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="prefix",
            field=models.CharField(max_length=40),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("hash_format", "sha256_hex")),
                fields=("prefix",),
                name="accounts_api_key_prefix_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("hash_format", "better_auth")),
                fields=("key_hash",),
                name="accounts_api_key_better_auth_hash_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=models.Q(("hash_format__in", ["sha256_hex", "better_auth"])),
                name="accounts_api_key_hash_format_valid",
            ),
        ),
    ]
