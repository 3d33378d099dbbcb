-- Schema version 2 of the event contract (docs/events.md): a read that ran without waiting is one
-- query.served record holding its statement (received), its decision, execution, masking and
-- completion. Its search row carries the tables and columns of its statement and its decision,
-- as a query.received row and a policy.decided row do. Applied by an administrator after 005.
-- Idempotent; changes no stored record (search rows of earlier types derive as before).
\set ON_ERROR_STOP on

-- A part of a query.served payload in the shape the 002 extractors read ({"queryReceived": …}).
CREATE OR REPLACE FUNCTION audit_served_part(p json, part text, as_field text) RETURNS json LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN json_typeof(p) = 'object' AND json_typeof(p -> 'queryServed') = 'object' AND json_typeof(p -> 'queryServed' -> part) = 'object'
              THEN json_build_object(as_field, p -> 'queryServed' -> part) END
$$;

CREATE OR REPLACE FUNCTION audit_search_of(e audit_events) RETURNS audit_search LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT e.seq, e.kafka_topic, e.kafka_partition, e.kafka_offset, e.request_id, e.type, e.event_time, e.identity_subject, e.connection,
         audit_session_id(e.payload),
         CASE WHEN e.type = 'policy.decided' THEN audit_decision(e.payload)
              WHEN e.type = 'query.served' THEN audit_decision(audit_served_part(e.payload, 'decision', 'policyDecided')) END,
         CASE WHEN e.type = 'query.received' THEN audit_tables(e.payload)
              WHEN e.type = 'query.served' THEN audit_tables(audit_served_part(e.payload, 'received', 'queryReceived')) END,
         CASE WHEN e.type = 'query.received' THEN audit_columns(e.payload)
              WHEN e.type = 'query.served' THEN audit_columns(audit_served_part(e.payload, 'received', 'queryReceived')) END
$$;

-- The search filters read the statement rows and the decision rows of both versions.
CREATE INDEX IF NOT EXISTS audit_search_statement_tables_idx ON audit_search USING gin (tables) WHERE type IN ('query.received', 'query.served');
CREATE INDEX IF NOT EXISTS audit_search_statement_columns_idx ON audit_search USING gin (columns) WHERE type IN ('query.received', 'query.served');
CREATE INDEX IF NOT EXISTS audit_search_decisions_idx ON audit_search (decision) WHERE type IN ('policy.decided', 'query.served');
DROP INDEX IF EXISTS audit_search_tables_idx;
DROP INDEX IF EXISTS audit_search_columns_idx;
DROP INDEX IF EXISTS audit_search_decision_idx;
