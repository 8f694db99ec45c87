-- The predecessor's database, for the importer tests.
--
-- Better Auth's tables are written as `@better-auth/cli migrate` creates them on PostgreSQL
-- for the plugins the predecessor ran (better-auth 1.7: packages/better-auth/src/db/
-- get-migration.ts maps string → text, boolean → boolean, date → timestamptz with
-- DEFAULT CURRENT_TIMESTAMP where the field has a default function, number → integer,
-- id → text primary key; references → "…" on delete cascade; index → <table>_<col>_idx):
-- core user/session/account/verification (packages/core/src/db/get-tables.ts), twoFactor
-- (plugins/two-factor/schema.ts, 1.7: + verified, failedVerificationCount, lockedUntil),
-- passkey (packages/passkey/src/schema.ts), organization/member/invitation
-- (plugins/organization/organization.ts), jwks (plugins/jwt/schema.ts) and apikey
-- (packages/api-key/src/schema.ts: referenceId + configId since the plugin's own package).
--
-- Like the predecessor (seeds: "Schemas (auth namespace …)", migration 006), everything lives
-- in the `auth` schema and the user's additional fields are PostgreSQL enums there; the
-- predecessor's own tables are snake_case (seeds: sql/002_encryption_vaults.sql,
-- sql/003_recovery_wrap.sql, the personas migration), the vault tables under FORCE ROW LEVEL
-- SECURITY with a policy on app.current_user_id.

CREATE SCHEMA auth;
SET search_path TO auth;

CREATE TYPE auth.user_role AS ENUM ('user', 'admin');
CREATE TYPE auth.access_tier AS ENUM ('guest', 'public', 'beta', 'alpha', 'founder');
CREATE TYPE auth.user_kind AS ENUM ('human', 'persona', 'system');

create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null, "twoFactorEnabled" boolean, "role" auth.user_role default 'user' not null, "accessTier" auth.access_tier default 'public' not null, "kind" auth.user_kind default 'human' not null);

create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade, "activeOrganizationId" text);

create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null);

create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);

create table "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" boolean, "failedVerificationCount" integer, "lockedUntil" timestamptz);

create table "passkey" ("id" text not null primary key, "name" text, "publicKey" text not null, "userId" text not null references "user" ("id") on delete cascade, "credentialID" text not null, "counter" integer not null, "deviceType" text not null, "backedUp" boolean not null, "transports" text, "createdAt" timestamptz, "aaguid" text);

create table "organization" ("id" text not null primary key, "name" text not null, "slug" text not null unique, "logo" text, "createdAt" timestamptz not null, "metadata" text);

create table "member" ("id" text not null primary key, "organizationId" text not null references "organization" ("id") on delete cascade, "userId" text not null references "user" ("id") on delete cascade, "role" text not null, "createdAt" timestamptz not null);

create table "invitation" ("id" text not null primary key, "organizationId" text not null references "organization" ("id") on delete cascade, "email" text not null, "role" text, "status" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "inviterId" text not null references "user" ("id") on delete cascade);

create table "jwks" ("id" text not null primary key, "publicKey" text not null, "privateKey" text not null, "createdAt" timestamptz not null, "expiresAt" timestamptz, "alg" text, "crv" text);

create table "apikey" ("id" text not null primary key, "configId" text not null, "name" text, "start" text, "referenceId" text not null, "prefix" text, "key" text not null, "refillInterval" integer, "refillAmount" integer, "lastRefillAt" timestamptz, "enabled" boolean, "rateLimitEnabled" boolean, "rateLimitTimeWindow" integer, "rateLimitMax" integer, "requestCount" integer, "remaining" integer, "lastRequest" timestamptz, "expiresAt" timestamptz, "createdAt" timestamptz not null, "updatedAt" timestamptz not null, "permissions" text, "metadata" text);

create index "session_userId_idx" on "session" ("userId");
create index "account_userId_idx" on "account" ("userId");
create index "verification_identifier_idx" on "verification" ("identifier");
create index "twoFactor_secret_idx" on "twoFactor" ("secret");
create index "twoFactor_userId_idx" on "twoFactor" ("userId");
create index "passkey_userId_idx" on "passkey" ("userId");
create index "passkey_credentialID_idx" on "passkey" ("credentialID");
create index "organization_slug_uidx" on "organization" ("slug");
create index "member_organizationId_idx" on "member" ("organizationId");
create index "member_userId_idx" on "member" ("userId");
create index "invitation_organizationId_idx" on "invitation" ("organizationId");
create index "invitation_email_idx" on "invitation" ("email");
create index "apikey_configId_idx" on "apikey" ("configId");
create index "apikey_referenceId_idx" on "apikey" ("referenceId");
create index "apikey_key_idx" on "apikey" ("key");

-- The predecessor's own tables.

CREATE TABLE auth.encryption_vaults (
    user_id text PRIMARY KEY REFERENCES auth."user" (id) ON DELETE CASCADE,
    wrapped_mk text,
    wrap_iv text,
    format_version smallint NOT NULL DEFAULT 1,
    kek_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz,
    recovery_wrapped_mk text,
    recovery_iv text,
    recovery_format_version smallint NOT NULL DEFAULT 1,
    recovery_set_at timestamptz,
    zero_knowledge boolean NOT NULL DEFAULT false,
    CONSTRAINT encryption_vaults_has_wrap CHECK (wrapped_mk IS NOT NULL OR recovery_wrapped_mk IS NOT NULL),
    CONSTRAINT encryption_vaults_wrap_iv_pair CHECK (
        ((wrapped_mk IS NULL) = (wrap_iv IS NULL))
        AND ((recovery_wrapped_mk IS NULL) = (recovery_iv IS NULL))
    ),
    CONSTRAINT encryption_vaults_zk_consistency CHECK (
        NOT zero_knowledge OR (wrapped_mk IS NULL AND recovery_wrapped_mk IS NOT NULL)
    )
);

CREATE TABLE auth.encryption_vault_audit (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES auth."user" (id) ON DELETE CASCADE,
    action text NOT NULL,
    ip_address text,
    user_agent text,
    status integer NOT NULL,
    context jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE auth.encryption_vaults ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.encryption_vaults FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vaults_user_scope ON auth.encryption_vaults
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));
ALTER TABLE auth.encryption_vault_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.encryption_vault_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY encryption_vault_audit_user_scope ON auth.encryption_vault_audit
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));

CREATE TABLE auth.personas (
    user_id text PRIMARY KEY REFERENCES auth."user" (id) ON DELETE CASCADE,
    archetype text NOT NULL,
    system_prompt text NOT NULL,
    module_mix jsonb NOT NULL DEFAULT '{}'::jsonb,
    tick_cadence text NOT NULL DEFAULT 'daily',
    last_active_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.persona_actions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    persona_id text NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    tick_id text NOT NULL,
    tool_name text NOT NULL,
    input_hash text NOT NULL,
    result text NOT NULL,
    latency_ms integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.persona_feedback (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    persona_id text NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    tick_id text NOT NULL,
    module text NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes text,
    created_at timestamptz NOT NULL DEFAULT now()
);
