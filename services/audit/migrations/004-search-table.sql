-- The auditor search moves off the append table (docs/adr/0011-audit-search-table.md). Applied by
-- an administrator after 003 with psql variables :app_role and :app_password. Idempotent.
--
-- Measured before this migration (a copy of the store's table, 200k rows, batches of 500): the
-- seven search indexes on audit_events halved the insert rate (median 8.5k rows/s with them, 17.4k
-- with only the primary key, the id and the chain index). audit_events now keeps only those; the
-- search columns and their indexes live in audit_search, one row per record, derived from the
-- record by audit_search_of() and filled behind the writers (per chain, in offset order) by the
-- service's search indexer. Verify compares every search row with the record it was derived from.
--
-- Backfill: this migration derives the search rows of every record stored so far (a chain's rows
-- committed before it are a prefix of that chain, so the indexer goes on from each chain's last
-- indexed offset). Nothing here rewrites a stored event.
\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS audit_search (
  seq              bigint PRIMARY KEY,
  kafka_topic      text,
  kafka_partition  int NOT NULL,
  kafka_offset     bigint NOT NULL,
  request_id       text,
  type             text,
  event_time       timestamptz,
  identity_subject text,
  connection       text,
  session_id       text,
  decision         text,
  tables           text[],
  columns          text[]
);

-- What a record's search row must hold: its position, the columns verify already derives from the
-- hashed bytes, and what the search functions of 002 extract from the hashed payload. The one
-- derivation: the indexer inserts it, verify compares the stored row with it.
CREATE OR REPLACE FUNCTION audit_search_of(e audit_events) RETURNS audit_search LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT e.seq, e.kafka_topic, e.kafka_partition, e.kafka_offset, e.request_id, e.type, e.event_time, e.identity_subject, e.connection,
         audit_session_id(e.payload),
         CASE WHEN e.type = 'policy.decided' THEN audit_decision(e.payload) END,
         CASE WHEN e.type = 'query.received' THEN audit_tables(e.payload) END,
         CASE WHEN e.type = 'query.received' THEN audit_columns(e.payload) END
$$;

-- Backfill before the indexes (one sort per index instead of one insert per row and index).
-- Only records without a row: a re-run derives nothing twice.
INSERT INTO audit_search SELECT d.* FROM audit_events e, LATERAL audit_search_of(e) d
 WHERE NOT EXISTS (SELECT 1 FROM audit_search s WHERE s.seq = e.seq) ON CONFLICT (seq) DO NOTHING;

-- The indexer's position in each chain (and the format 1 chain's, by seq).
CREATE UNIQUE INDEX IF NOT EXISTS audit_search_chain_idx ON audit_search (kafka_topic, kafka_partition, kafka_offset) WHERE kafka_topic IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_search_legacy_idx ON audit_search (seq) WHERE kafka_topic IS NULL;
-- The auditor search, as 001 and 002 had them on audit_events.
CREATE INDEX IF NOT EXISTS audit_search_request_idx ON audit_search (request_id, seq);
CREATE INDEX IF NOT EXISTS audit_search_identity_idx ON audit_search (identity_subject, event_time);
CREATE INDEX IF NOT EXISTS audit_search_connection_idx ON audit_search (connection, event_time);
CREATE INDEX IF NOT EXISTS audit_search_time_idx ON audit_search (event_time, seq);
CREATE INDEX IF NOT EXISTS audit_search_session_idx ON audit_search (session_id, seq);
CREATE INDEX IF NOT EXISTS audit_search_decision_idx ON audit_search (decision) WHERE type = 'policy.decided';
CREATE INDEX IF NOT EXISTS audit_search_tables_idx ON audit_search USING gin (tables) WHERE type = 'query.received';
CREATE INDEX IF NOT EXISTS audit_search_columns_idx ON audit_search USING gin (columns) WHERE type = 'query.received';
ANALYZE audit_search;

-- The append table keeps its primary key, the event id, the chain index and the partial indexes
-- only format 1 records enter.
CREATE INDEX IF NOT EXISTS audit_events_legacy_seq_idx ON audit_events (seq) WHERE kafka_topic IS NULL;
DROP INDEX IF EXISTS audit_events_request_idx;
DROP INDEX IF EXISTS audit_events_identity_idx;
DROP INDEX IF EXISTS audit_events_session_idx;
DROP INDEX IF EXISTS audit_events_decision_idx;
DROP INDEX IF EXISTS audit_events_tables_idx;
DROP INDEX IF EXISTS audit_events_columns_idx;
DROP INDEX IF EXISTS audit_events_time_idx;
DROP INDEX IF EXISTS audit_events_connection_idx;

-- Derived, yet what an auditor reads: as append-only as the records (the purge functions below
-- delete with the records they purge).
DROP TRIGGER IF EXISTS audit_search_no_update ON audit_search;
CREATE TRIGGER audit_search_no_update BEFORE UPDATE OR DELETE ON audit_search
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP TRIGGER IF EXISTS audit_search_no_truncate ON audit_search;
CREATE TRIGGER audit_search_no_truncate BEFORE TRUNCATE ON audit_search
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The purges of 003, now also deleting the purged records' search rows.
CREATE OR REPLACE FUNCTION audit_purge(p_keep_from bigint, p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_prev bytea;
  v_young bigint;
  v_deleted bigint;
BEGIN
  PERFORM audit_purge_floor(p_before);
  SELECT prev_hash INTO v_prev FROM audit_events WHERE seq = p_keep_from AND kafka_topic IS NULL;
  IF v_prev IS NULL THEN
    RAISE EXCEPTION 'purge must keep an existing record' USING ERRCODE = '22023';
  END IF;
  SELECT count(*) INTO v_young FROM audit_events WHERE seq < p_keep_from AND kafka_topic IS NULL AND ingested_at >= p_before;
  IF v_young > 0 THEN
    RAISE EXCEPTION 'purge would delete % records younger than the cutoff', v_young USING ERRCODE = '42501';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE kind = 'purge' AND first_seq = p_keep_from AND first_prev = v_prev) THEN
    RAISE EXCEPTION 'purge needs a signed purge anchor for record %', p_keep_from USING ERRCODE = '55000';
  END IF;
  PERFORM set_config('phigate.audit_purge', 'on', true);
  DELETE FROM audit_events WHERE seq < p_keep_from AND kafka_topic IS NULL;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM audit_search WHERE seq < p_keep_from AND kafka_topic IS NULL;
  DELETE FROM audit_rejects WHERE ingested_at < p_before;
  PERFORM set_config('phigate.audit_purge', 'off', true);
  RETURN v_deleted;
END $$;
REVOKE ALL ON FUNCTION audit_purge(bigint, timestamptz) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_purge(bigint, timestamptz) TO %I', :'app_role') \gexec

CREATE OR REPLACE FUNCTION audit_purge_chain(p_topic text, p_partition int, p_keep_from bigint, p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_prev bytea;
  v_young bigint;
  v_deleted bigint;
BEGIN
  PERFORM audit_purge_floor(p_before);
  SELECT prev_hash INTO v_prev FROM audit_events WHERE kafka_topic = p_topic AND kafka_partition = p_partition AND kafka_offset = p_keep_from;
  IF v_prev IS NULL THEN
    RAISE EXCEPTION 'purge must keep an existing record' USING ERRCODE = '22023';
  END IF;
  SELECT count(*) INTO v_young FROM audit_events
   WHERE kafka_topic = p_topic AND kafka_partition = p_partition AND kafka_offset < p_keep_from AND ingested_at >= p_before;
  IF v_young > 0 THEN
    RAISE EXCEPTION 'purge would delete % records younger than the cutoff', v_young USING ERRCODE = '42501';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE kind = 'purge' AND body LIKE 'phigate-audit-checkpoint/2' || E'\n%'
                   AND position(format(E'\nchain %s %s first %s %s ', p_topic, p_partition, p_keep_from, encode(v_prev, 'hex')) IN body) > 0) THEN
    RAISE EXCEPTION 'purge needs a signed purge anchor for offset % of %/%', p_keep_from, p_topic, p_partition USING ERRCODE = '55000';
  END IF;
  PERFORM set_config('phigate.audit_purge', 'on', true);
  DELETE FROM audit_events WHERE kafka_topic = p_topic AND kafka_partition = p_partition AND kafka_offset < p_keep_from;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM audit_search WHERE kafka_topic = p_topic AND kafka_partition = p_partition AND kafka_offset < p_keep_from;
  PERFORM set_config('phigate.audit_purge', 'off', true);
  RETURN v_deleted;
END $$;
REVOKE ALL ON FUNCTION audit_purge_chain(text, int, bigint, timestamptz) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_purge_chain(text, int, bigint, timestamptz) TO %I', :'app_role') \gexec

-- The application role fills and reads the search table.
REVOKE ALL ON audit_search FROM PUBLIC;
SELECT format('REVOKE ALL ON audit_search FROM %I', :'app_role') \gexec
SELECT format('GRANT SELECT, INSERT ON audit_search TO %I', :'app_role') \gexec
