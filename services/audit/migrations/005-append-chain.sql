-- One round trip per stored batch (docs/adr/0011-audit-search-table.md, "the write path"). Applied
-- by an administrator after 004 with psql variables :app_role and :app_password. Idempotent; adds a
-- function and changes no data.
--
-- audit_append_chain() is what the writer of a partition chain calls for each batch: it takes the
-- chain's lock, reads the chain's head in a snapshot taken after the lock, and inserts the batch
-- only if that head is the one the writer chained the batch to (the head it last committed, or
-- read). Otherwise it inserts nothing and answers the actual head, and the writer chains the batch
-- again. Invoker's rights: the caller's INSERT privilege, nothing more.
\set ON_ERROR_STOP on

CREATE OR REPLACE FUNCTION audit_append_chain(
  p_topic text, p_partition int, p_head_offset bigint, p_head_hash bytea,
  p_offset bigint[], p_status text[], p_id uuid[], p_request_id text[], p_type text[], p_event_time timestamptz[],
  p_identity_subject text[], p_connection text[], p_payload json[], p_raw bytea[], p_prev_hash bytea[], p_hash bytea[],
  p_ingested_at timestamptz[])
RETURNS TABLE (head_offset bigint, head_hash bytea, inserted bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_offset bigint;
  v_hash bytea;
  v_n bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext(p_topic), p_partition);
  -- A statement after the lock: in READ COMMITTED its snapshot sees the last writer's commit.
  SELECT e.kafka_offset, e.hash INTO v_offset, v_hash FROM audit_events e
   WHERE e.kafka_topic = p_topic AND e.kafka_partition = p_partition ORDER BY e.kafka_offset DESC LIMIT 1;
  IF v_offset IS DISTINCT FROM p_head_offset OR v_hash IS DISTINCT FROM p_head_hash THEN
    RETURN QUERY SELECT v_offset, v_hash, 0::bigint;
    RETURN;
  END IF;
  INSERT INTO audit_events (kafka_topic, kafka_partition, kafka_offset, status, id, request_id, type, event_time, identity_subject, connection,
                            payload, raw, prev_hash, hash, ingested_at)
  SELECT p_topic, p_partition, u.* FROM unnest(p_offset, p_status, p_id, p_request_id, p_type, p_event_time, p_identity_subject, p_connection,
                                                p_payload, p_raw, p_prev_hash, p_hash, p_ingested_at) AS u;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN QUERY SELECT v_offset, v_hash, v_n;
END $$;
REVOKE ALL ON FUNCTION audit_append_chain(text, int, bigint, bytea, bigint[], text[], uuid[], text[], text[], timestamptz[], text[], text[], json[], bytea[],
                                          bytea[], bytea[], timestamptz[]) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_append_chain(text, int, bigint, bytea, bigint[], text[], uuid[], text[], text[], timestamptz[], text[], text[], json[], bytea[], bytea[], bytea[], timestamptz[]) TO %I', :'app_role') \gexec
