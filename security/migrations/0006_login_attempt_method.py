"""Login attempts name their factor (issue 19, item 5; the predecessor's ``method`` column).

Rows written before recorded only failed passwords (the API's and the console's): they become
``password``, and the console's failures, recognisable by their reason, ``admin_console``.
"""

from django.conf import settings
from django.db import migrations, models

METHODS = ["password", "totp", "backup_code", "magic_link", "passkey", "admin_console"]


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0005_security_event_created_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="loginattempt",
            name="method",
            field=models.CharField(
                choices=[
                    ("password", "Password"),
                    ("totp", "Totp"),
                    ("backup_code", "Backup Code"),
                    ("magic_link", "Magic Link"),
                    ("passkey", "Passkey"),
                    ("admin_console", "Admin Console"),
                ],
                default="password",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.RunSQL(
            "UPDATE security_login_attempt SET method = 'admin_console' "
            "WHERE reason IN ('admin_password', 'admin_otp')",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="loginattempt",
            constraint=models.CheckConstraint(
                condition=models.Q(("method__in", METHODS)),
                name="security_login_attempt_method_valid",
            ),
        ),
    ]
