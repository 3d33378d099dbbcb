-- One hash chain per Kafka topic partition (docs/adr/0010-audit-partition-chains.md). Applied by an
-- administrator after 002 with psql variables :app_role and :app_password. Idempotent. Backfill-
-- safe: every statement here is a catalog change or builds a partial index that stored rows (all
-- legacy, kafka_topic NULL) do not enter; no stored event is rewritten.
--
-- A record of format 2 is one consumed Kafka message: exactly one record per (topic, partition,
-- offset), chained to the record at the previous offset of the same partition. Its hash covers a
-- header (status, topic, partition, offset, ingested_at) and the message's exact bytes; every
-- other column is derived from those bytes and compared by verify. Records stored before this
-- migration (kafka_topic NULL) stay in their one global chain, ordered by seq (format 1).
\set ON_ERROR_STOP on

ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS kafka_topic text;
-- event: a storable event, searchable (payload holds the exact bytes as json text);
-- quarantined: not storable as an event (raw holds the exact bytes); duplicate: an event id already
-- stored at an earlier offset (raw holds the exact bytes of the copy).
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS status text CHECK (status IN ('event', 'quarantined', 'duplicate'));
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS raw bytea;
-- Quarantined and duplicate records derive no search columns (and no id: id stays unique among events).
ALTER TABLE audit_events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN request_id DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN type DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN event_time DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN payload DROP NOT NULL;

-- The chain order and its single writer's idempotency: one record per offset, and the head of a
-- partition's chain is the last entry of this index. The only index format 2 adds.
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_chain_idx ON audit_events (kafka_topic, kafka_partition, kafka_offset)
  WHERE kafka_topic IS NOT NULL;

-- The write path: the purge reads ingested_at of format 1 records only, so its index need not grow
-- with every append any more.
CREATE INDEX IF NOT EXISTS audit_events_ingested_legacy_idx ON audit_events (ingested_at, seq) WHERE kafka_topic IS NULL;
DROP INDEX IF EXISTS audit_events_ingested_idx;

-- Statistics for the new columns: without them the planner takes every stored row for a format 2
-- record and scans the whole table to verify the format 1 chain.
ANALYZE audit_events;

-- Checkpoints of format 2 sign a vector of chain heads in their body; the per-record columns
-- describe format 1 checkpoints only.
ALTER TABLE audit_checkpoints ALTER COLUMN last_seq DROP NOT NULL;
ALTER TABLE audit_checkpoints ALTER COLUMN last_hash DROP NOT NULL;
ALTER TABLE audit_checkpoints ALTER COLUMN first_seq DROP NOT NULL;
ALTER TABLE audit_checkpoints ALTER COLUMN first_prev DROP NOT NULL;

-- The store's own retention floor, checked by every purge function whatever the service asks for.
CREATE OR REPLACE FUNCTION audit_purge_floor(p_before timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_floor integer;
BEGIN
  SELECT min_retention_days INTO v_floor FROM audit_settings;
  IF p_before > now() - make_interval(days => coalesce(v_floor, 2190)) THEN
    RAISE EXCEPTION 'purge cutoff is younger than the minimum retention (% days)', v_floor USING ERRCODE = '42501';
  END IF;
END $$;
REVOKE ALL ON FUNCTION audit_purge_floor(timestamptz) FROM PUBLIC;

-- The retention purge of the format 1 chain deletes format 1 records only (partition chains have
-- audit_purge_chain below).
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
  DELETE FROM audit_rejects WHERE ingested_at < p_before;
  PERFORM set_config('phigate.audit_purge', 'off', true);
  RETURN v_deleted;
END $$;
REVOKE ALL ON FUNCTION audit_purge(bigint, timestamptz) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_purge(bigint, timestamptz) TO %I', :'app_role') \gexec

-- The retention purge of a partition chain: deletes the records before offset p_keep_from of one
-- chain, only behind a signed purge anchor (a format 2 checkpoint of kind purge whose line for this
-- chain names that first kept record and the hash it links to), never younger than the floor.
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
  PERFORM set_config('phigate.audit_purge', 'off', true);
  RETURN v_deleted;
END $$;
REVOKE ALL ON FUNCTION audit_purge_chain(text, int, bigint, timestamptz) FROM PUBLIC;
SELECT format('GRANT EXECUTE ON FUNCTION audit_purge_chain(text, int, bigint, timestamptz) TO %I', :'app_role') \gexec
