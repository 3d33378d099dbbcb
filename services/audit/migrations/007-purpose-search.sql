-- Purpose of use (issue 21): the gateway records the purpose a client stated on every event of the
-- request and session (the envelope's `purpose`, docs/events.md). Its search row carries it, so the
-- auditor search filters on it (`purpose=`). Applied by an administrator after 006. Idempotent;
-- changes no stored record and no stored search row: rows derived before it have no purpose, as
-- their records had none (earlier producers did not send one), so verify derives them alike.
\set ON_ERROR_STOP on

BEGIN;
ALTER TABLE audit_search ADD COLUMN IF NOT EXISTS purpose text;

-- The envelope's purpose, or NULL when the record has none (the default "" is omitted in JSON).
CREATE OR REPLACE FUNCTION audit_purpose(p json) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN json_typeof(p) = 'object' AND json_typeof(p -> 'purpose') = 'string' THEN NULLIF(p ->> 'purpose', '') END
$$;

-- 006's derivation, and the purpose last (the table's column order).
CREATE OR REPLACE FUNCTION audit_search_of(e audit_events) RETURNS audit_search LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT e.seq, e.kafka_topic, e.kafka_partition, e.kafka_offset, e.request_id, e.type, e.event_time, e.identity_subject, e.connection,
         audit_session_id(e.payload),
         CASE WHEN e.type = 'policy.decided' THEN audit_decision(e.payload)
              WHEN e.type = 'query.served' THEN audit_decision(audit_served_part(e.payload, 'decision', 'policyDecided')) END,
         CASE WHEN e.type = 'query.received' THEN audit_tables(e.payload)
              WHEN e.type = 'query.served' THEN audit_tables(audit_served_part(e.payload, 'received', 'queryReceived')) END,
         CASE WHEN e.type = 'query.received' THEN audit_columns(e.payload)
              WHEN e.type = 'query.served' THEN audit_columns(audit_served_part(e.payload, 'received', 'queryReceived')) END,
         audit_purpose(e.payload)
$$;
COMMIT;

CREATE INDEX IF NOT EXISTS audit_search_purpose_idx ON audit_search (purpose, event_time) WHERE purpose IS NOT NULL;
