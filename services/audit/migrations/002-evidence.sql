-- Audit evidence: signed checkpoints, retention purge that keeps the chain verifiable, and the
-- derived indexes the auditor search uses. Applied by an administrator after 001 (npm run
-- stack:up does it locally) with psql variables :app_role and :app_password. Idempotent: safe to
-- re-run. Backfill-safe: nothing here rewrites or updates a stored event; the search indexes are
-- expression indexes over the stored payload, built over existing rows by CREATE INDEX.
\set ON_ERROR_STOP on

-- Signed checkpoints (Ed25519) of the chain head: append-only, never purged.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- periodic: the head at a point in time; purge: also anchors the first record kept by a purge.
  kind         text NOT NULL CHECK (kind IN ('periodic', 'purge')),
  last_seq     bigint NOT NULL,
  last_hash    bytea NOT NULL,
  first_seq    bigint NOT NULL,
  first_prev   bytea NOT NULL,
  key_id       text NOT NULL,
  -- The exact text that was signed (the columns above repeat it for queries; verify reads body).
  body         text NOT NULL,
  signature    bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_checkpoints_last_idx ON audit_checkpoints (last_seq);

-- Settings only an administrator changes. min_retention_days is the floor the purge function
-- enforces whatever the service asks for (six years by default, HIPAA 164.316(b)(2)).
CREATE TABLE IF NOT EXISTS audit_settings (
  id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
  min_retention_days integer NOT NULL CHECK (min_retention_days >= 0)
);
INSERT INTO audit_settings (id, min_retention_days) VALUES (true, 2190) ON CONFLICT (id) DO NOTHING;

-- The append-only trigger, now with one exception: DELETE inside audit_purge(), which runs as its
-- owner (SECURITY DEFINER) and sets a transaction-local flag. The application role can set the
-- flag too, but it is not the owner; an administrator's plain DELETE does not set it.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE'
     AND current_setting('phigate.audit_purge', true) = 'on'
     AND current_user = (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE oid = 'audit_purge(bigint, timestamptz)'::regprocedure) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the audit store is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '42501';
END $$;

-- The trigger function above names audit_purge; create a placeholder first on a fresh database.
CREATE OR REPLACE FUNCTION audit_purge(p_keep_from bigint, p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_floor integer;
  v_prev bytea;
  v_young bigint;
  v_deleted bigint;
BEGIN
  SELECT min_retention_days INTO v_floor FROM audit_settings;
  IF p_before > now() - make_interval(days => coalesce(v_floor, 2190)) THEN
    RAISE EXCEPTION 'purge cutoff is younger than the minimum retention (% days)', v_floor USING ERRCODE = '42501';
  END IF;
  SELECT prev_hash INTO v_prev FROM audit_events WHERE seq = p_keep_from;
  IF v_prev IS NULL THEN
    RAISE EXCEPTION 'purge must keep an existing record' USING ERRCODE = '22023';
  END IF;
  SELECT count(*) INTO v_young FROM audit_events WHERE seq < p_keep_from AND ingested_at >= p_before;
  IF v_young > 0 THEN
    RAISE EXCEPTION 'purge would delete % records younger than the cutoff', v_young USING ERRCODE = '42501';
  END IF;
  -- The remaining chain stays verifiable only from a signed anchor: demand it before deleting.
  IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE kind = 'purge' AND first_seq = p_keep_from AND first_prev = v_prev) THEN
    RAISE EXCEPTION 'purge needs a signed purge anchor for record %', p_keep_from USING ERRCODE = '55000';
  END IF;
  PERFORM set_config('phigate.audit_purge', 'on', true);
  DELETE FROM audit_events WHERE seq < p_keep_from;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM audit_rejects WHERE ingested_at < p_before;
  PERFORM set_config('phigate.audit_purge', 'off', true);
  RETURN v_deleted;
END $$;

DROP TRIGGER IF EXISTS audit_checkpoints_no_update ON audit_checkpoints;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints;
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Search: immutable extractors over the stored payload (json), never raising on odd input, so an
-- expression index can never make an INSERT fail.
CREATE OR REPLACE FUNCTION audit_json_array(j json) RETURNS json LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN json_typeof(j) = 'array' THEN j ELSE '[]'::json END
$$;
CREATE OR REPLACE FUNCTION audit_session_id(p json) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN json_typeof(p) = 'object' THEN p ->> 'sessionId' END
$$;
CREATE OR REPLACE FUNCTION audit_decision(p json) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN json_typeof(p) = 'object' AND json_typeof(p -> 'policyDecided') = 'object' THEN p -> 'policyDecided' ->> 'action' END
$$;
-- Tables a query.received names (read or written), as name and schema.name, lower case.
CREATE OR REPLACE FUNCTION audit_tables(p json) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT v.x), '{}')
  FROM (
    SELECT lower(t ->> 'name') AS x, lower(coalesce(t ->> 'schema', '')) AS s
    FROM json_array_elements(audit_json_array(CASE WHEN json_typeof(p) = 'object' AND json_typeof(p -> 'queryReceived') = 'object'
           AND json_typeof(p -> 'queryReceived' -> 'analysis') = 'object' THEN p -> 'queryReceived' -> 'analysis' -> 'statements' END)) st,
         LATERAL (SELECT json_array_elements(audit_json_array(CASE WHEN json_typeof(st) = 'object' THEN st -> 'tablesRead' END))
                  UNION ALL
                  SELECT json_array_elements(audit_json_array(CASE WHEN json_typeof(st) = 'object' THEN st -> 'tablesWritten' END))) AS tt(t)
    WHERE json_typeof(t) = 'object'
  ) n, LATERAL (VALUES (n.x), (CASE WHEN n.s <> '' THEN n.s || '.' || n.x END)) v(x)
  WHERE v.x IS NOT NULL AND v.x <> ''
$$;
-- Columns a query.received reads, as table.column and schema.table.column, lower case.
CREATE OR REPLACE FUNCTION audit_columns(p json) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT v.x), '{}')
  FROM json_array_elements(audit_json_array(CASE WHEN json_typeof(p) = 'object' AND json_typeof(p -> 'queryReceived') = 'object'
         AND json_typeof(p -> 'queryReceived' -> 'analysis') = 'object' THEN p -> 'queryReceived' -> 'analysis' -> 'statements' END)) st,
       json_array_elements(audit_json_array(CASE WHEN json_typeof(st) = 'object' THEN st -> 'columnsRead' END)) c,
       LATERAL (SELECT lower(c -> 'table' ->> 'schema') AS s, lower(c -> 'table' ->> 'name') AS t, lower(c ->> 'column') AS col
                WHERE json_typeof(c) = 'object' AND json_typeof(c -> 'table') = 'object') cc,
       LATERAL (VALUES (cc.t || '.' || cc.col), (CASE WHEN coalesce(cc.s, '') <> '' THEN cc.s || '.' || cc.t || '.' || cc.col END)) v(x)
  WHERE v.x IS NOT NULL
$$;

CREATE INDEX IF NOT EXISTS audit_events_session_idx ON audit_events (audit_session_id(payload), seq);
CREATE INDEX IF NOT EXISTS audit_events_decision_idx ON audit_events (audit_decision(payload)) WHERE type = 'policy.decided';
CREATE INDEX IF NOT EXISTS audit_events_tables_idx ON audit_events USING gin (audit_tables(payload)) WHERE type = 'query.received';
CREATE INDEX IF NOT EXISTS audit_events_columns_idx ON audit_events USING gin (audit_columns(payload)) WHERE type = 'query.received';
CREATE INDEX IF NOT EXISTS audit_events_time_idx ON audit_events (event_time, seq);
CREATE INDEX IF NOT EXISTS audit_events_connection_idx ON audit_events (connection, event_time);
-- (audit_events_ingested_idx, on every row, was here; 003 replaces it with a partial index.)

-- The application role: checkpoints are INSERT and SELECT like events; settings are read-only;
-- purge only through the function, which enforces the floor and the anchor.
REVOKE ALL ON audit_checkpoints, audit_settings FROM PUBLIC;
SELECT format('REVOKE ALL ON audit_checkpoints, audit_settings FROM %I', :'app_role') \gexec
SELECT format('GRANT SELECT, INSERT ON audit_checkpoints TO %I', :'app_role') \gexec
SELECT format('GRANT SELECT ON audit_settings TO %I', :'app_role') \gexec
REVOKE ALL ON FUNCTION audit_purge(bigint, timestamptz) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_purge(bigint, timestamptz) TO %I', :'app_role') \gexec
