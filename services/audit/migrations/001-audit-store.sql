-- Audit store: append-only, hash-chained. Applied by an administrator (npm run stack:up does it
-- locally) with psql variables :app_role and :app_password. The service's own role may only
-- INSERT and SELECT; triggers refuse UPDATE, DELETE and TRUNCATE even for table owners.
\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS audit_events (
  seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id             uuid NOT NULL UNIQUE,
  request_id     text NOT NULL,
  type           text NOT NULL,
  event_time     timestamptz NOT NULL,
  identity_subject text,
  connection     text,
  kafka_partition int NOT NULL,
  kafka_offset   bigint NOT NULL,
  -- json (not jsonb) keeps the exact text received, which is what the hash chain covers.
  payload        json NOT NULL,
  -- sha256(prev_hash || canonical payload text): each record commits to the one before it.
  prev_hash      bytea NOT NULL,
  hash           bytea NOT NULL,
  ingested_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_events_request_idx ON audit_events (request_id, seq);
CREATE INDEX IF NOT EXISTS audit_events_identity_idx ON audit_events (identity_subject, event_time);

-- Messages that could not be decoded are kept, never dropped: evidence of what arrived.
CREATE TABLE IF NOT EXISTS audit_rejects (
  seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kafka_partition int NOT NULL,
  kafka_offset   bigint NOT NULL,
  raw            bytea NOT NULL,
  reason         text NOT NULL,
  ingested_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_partition, kafka_offset)
);

CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit store is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '42501';
END $$;

DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events;
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_rejects_no_update ON audit_rejects;
CREATE TRIGGER audit_rejects_no_update BEFORE UPDATE OR DELETE ON audit_rejects
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_rejects_no_truncate ON audit_rejects;
CREATE TRIGGER audit_rejects_no_truncate BEFORE TRUNCATE ON audit_rejects
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The application role: LOGIN, no ownership, INSERT and SELECT only.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'app_role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_role', :'app_password') \gexec
REVOKE ALL ON audit_events, audit_rejects FROM PUBLIC;
SELECT format('REVOKE ALL ON audit_events, audit_rejects FROM %I', :'app_role') \gexec
SELECT format('GRANT SELECT, INSERT ON audit_events, audit_rejects TO %I', :'app_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
