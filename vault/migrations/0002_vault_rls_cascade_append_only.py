"""Row-level security, the cascade from the user, and the append-only audit trail.

- Both tables ENABLE and FORCE row-level security (FORCE: the table owner is bound too), with
  one policy each: a row is visible and writable only while ``app.current_user_id`` names its
  user. Unset (or set to '' after an earlier transaction) means no rows at all.
  Superusers and BYPASSRLS roles are never bound: run the service as an ordinary role.
- The foreign keys to the user are ``ON DELETE CASCADE`` in the database. PostgreSQL performs
  referential actions exempt from row security, so deleting a user removes the vault and its
  audit rows without any scope being set.
- The audit table refuses UPDATE, and DELETE except from inside another trigger (the cascade
  from a user's deletion).
"""

from django.db import migrations

FORWARD = r"""
ALTER TABLE encryption_vaults
    ADD CONSTRAINT encryption_vaults_user_fk FOREIGN KEY (user_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE;
ALTER TABLE encryption_vault_audit
    ADD CONSTRAINT encryption_vault_audit_user_fk FOREIGN KEY (user_id)
    REFERENCES accounts_user (id) ON DELETE CASCADE;

ALTER TABLE encryption_vaults ENABLE ROW LEVEL SECURITY;
ALTER TABLE encryption_vaults FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vaults_owner ON encryption_vaults
    USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);

ALTER TABLE encryption_vault_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE encryption_vault_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vault_audit_owner ON encryption_vault_audit
    USING (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid);

CREATE OR REPLACE FUNCTION encryption_vault_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'encryption_vault_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER encryption_vault_audit_append_only
    BEFORE UPDATE OR DELETE ON encryption_vault_audit
    FOR EACH ROW EXECUTE FUNCTION encryption_vault_audit_append_only();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS encryption_vault_audit_append_only ON encryption_vault_audit;
DROP FUNCTION IF EXISTS encryption_vault_audit_append_only();
DROP POLICY IF EXISTS encryption_vault_audit_owner ON encryption_vault_audit;
ALTER TABLE encryption_vault_audit NO FORCE ROW LEVEL SECURITY;
ALTER TABLE encryption_vault_audit DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS encryption_vaults_owner ON encryption_vaults;
ALTER TABLE encryption_vaults NO FORCE ROW LEVEL SECURITY;
ALTER TABLE encryption_vaults DISABLE ROW LEVEL SECURITY;
ALTER TABLE encryption_vault_audit DROP CONSTRAINT IF EXISTS encryption_vault_audit_user_fk;
ALTER TABLE encryption_vaults DROP CONSTRAINT IF EXISTS encryption_vaults_user_fk;
"""


class Migration(migrations.Migration):
    dependencies = [("vault", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
