// The Snowflake door's query monitoring: `GET /monitoring/queries/<id>`, which the drivers' async
// APIs poll (Python `get_query_status` / `get_results_from_sfqid`, Node `getQueryStatus`, gosnowflake
// `GetQueryStatus` and fetch-by-id, JDBC `getQueryStatus`). The caller sees only its own statements;
// any other id has no entry, as an unknown one (Snowflake's empty `queries`).
import { type MonitoringStatus, monitoringData } from '@phigate/snowflake-wire';
import type { Results } from './results.js';
import type { QueryRecord, QueryStatus, SfSession } from './store.js';

/** A held statement waits on an approver: QUEUED, which every driver counts as still running. */
const STATUS: Record<QueryStatus, MonitoringStatus> = {
  running: 'RUNNING',
  held: 'QUEUED',
  done: 'SUCCESS',
  failed: 'FAILED_WITH_ERROR',
  aborted: 'ABORTED',
};

/** The `data` of a monitoring answer for `queryId`, as the session's caller may see it. */
export async function queryStatus(results: Pick<Results, 'current'>, s: SfSession, queryId: string): Promise<ReturnType<typeof monitoringData>> {
  const q = await results.current(s, queryId);
  return monitoringData(q && entry(q), Date.now());
}

function entry(q: QueryRecord) {
  return { id: q.queryId, status: STATUS[q.status], startTime: q.startTime, endTime: q.endTime, sessionId: q.sessionId, error: q.error };
}
