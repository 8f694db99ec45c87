"""The database refuses UPDATE and DELETE on security events.

The one exception: account deletion anonymises a user's events inside a transaction that has
set ``mana.audit_anonymise = 'on'``; the trigger then allows an UPDATE that only clears the
user, IP and user agent, and leaves type, metadata and time as they were.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION security_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('mana.audit_anonymise', true), '') = 'on'
       AND NEW.user_id IS NULL
       AND NEW.ip_address IS NULL
       AND NEW.user_agent = ''
       AND NEW.type = OLD.type
       AND NEW.created_at = OLD.created_at
       AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'security_event is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER security_event_append_only
    BEFORE UPDATE OR DELETE ON security_event
    FOR EACH ROW EXECUTE FUNCTION security_event_append_only();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS security_event_append_only ON security_event;
DROP FUNCTION IF EXISTS security_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("security", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
