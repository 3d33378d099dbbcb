-- The append table's write path carries only the indexes 004 left on it (the primary key, the event
-- id, the chain index and the partial indexes of format 1 records). Applied by an administrator
-- after 007. Idempotent; changes no data.
--
-- A store whose migrations ran again in file order after 004 (the local stack applied every file on
-- every `up` until migrations were recorded) got 001's and 002's search indexes back on
-- audit_events: eight indexes, one of them an expression over the payload (audit_session_id(), a
-- JSON parse per inserted row), maintained on every append and read by nothing (search reads
-- audit_search). Found on the shared development store while measuring the writer (issue 17);
-- `npm run bench` copies the table with its indexes, so they weighed on both of its writers.
\set ON_ERROR_STOP on

DROP INDEX IF EXISTS audit_events_request_idx;
DROP INDEX IF EXISTS audit_events_identity_idx;
DROP INDEX IF EXISTS audit_events_session_idx;
DROP INDEX IF EXISTS audit_events_decision_idx;
DROP INDEX IF EXISTS audit_events_tables_idx;
DROP INDEX IF EXISTS audit_events_columns_idx;
DROP INDEX IF EXISTS audit_events_time_idx;
DROP INDEX IF EXISTS audit_events_connection_idx;
