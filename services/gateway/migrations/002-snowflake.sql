-- Snowflake connections in the registry (issue 8): the type may be 'snowflake', and type-specific,
-- non-secret settings (account, warehouse, protocol, authMethod) live in `options`. The credential
-- (a password or a PKCS#8 private key) stays sealed in `credential`. Idempotent.
\set ON_ERROR_STOP on

ALTER TABLE connections ADD COLUMN IF NOT EXISTS options jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE connections DROP CONSTRAINT IF EXISTS connections_type_check;
ALTER TABLE connections ADD CONSTRAINT connections_type_check CHECK (type IN ('postgresql', 'snowflake'));
ALTER TABLE connections DROP CONSTRAINT IF EXISTS connections_options_check;
ALTER TABLE connections ADD CONSTRAINT connections_options_check
  CHECK (jsonb_typeof(options) = 'object' AND NOT options ? 'password' AND NOT options ? 'privateKey');
