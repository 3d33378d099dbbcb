// One phigate audit event → one OCSF 1.4.0 record (https://schema.ocsf.io/1.4.0), the form the
// SIEM topic carries. Pure: the relay passes the event in its proto3 JSON form (redacted first)
// and what it remembers of the request's statement; the mapping table is in docs/siem.md.

/** The OCSF version the records follow. */
export const OCSF_VERSION = '1.4.0';

/** An audit event in its proto3 JSON form (docs/events.md); only the fields the mapping reads are typed. */
export interface AuditEventJson {
  id: string;
  type: string;
  time?: string;
  requestId: string;
  sessionId?: string;
  frontDoor?: string;
  identity?: { subject?: string; clientId?: string; groups?: string[]; issuer?: string };
  connection?: string;
  role?: string;
  trace?: { traceparent?: string; tracestate?: string };
  producer?: string;
  schemaVersion?: number;
  client?: { ip?: string; port?: number };
  replica?: string;
  /** The purpose of use the client stated (absent: none). */
  purpose?: string;
  [detail: string]: unknown;
}

/** A statement's OCSF Datastore Activity, remembered by the relay from the request's `query.received`. */
export interface StatementActivity {
  activityId: number;
  /** The statement kinds, upper case (`SELECT`, `DROP`), for `activity_name` when the activity is Other. */
  kinds: string[];
}

/** What the mapping needs besides the event. */
export interface OcsfContext {
  /** phigate's version, for `metadata.product.version`. */
  productVersion: string;
  /** The activity of the request's statement, when the relay saw its `query.received`. */
  statement?: StatementActivity | undefined;
}

/** An OCSF record: a JSON object. */
export type OcsfRecord = Record<string, unknown>;

const CLASS = {
  datastore: { class_uid: 6005, class_name: 'Datastore Activity', category_uid: 6, category_name: 'Application Activity' },
  authentication: { class_uid: 3002, class_name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management' },
  api: { class_uid: 6003, class_name: 'API Activity', category_uid: 6, category_name: 'Application Activity' },
  finding: { class_uid: 2004, class_name: 'Detection Finding', category_uid: 2, category_name: 'Findings' },
  dataSecurity: { class_uid: 2006, class_name: 'Data Security Finding', category_uid: 2, category_name: 'Findings' },
} as const;

/** Datastore Activity's activity_id enum (OCSF 1.4.0). */
const DATASTORE_ACTIVITY = { 0: 'Unknown', 1: 'Read', 2: 'Update', 4: 'Query', 5: 'Write', 6: 'Create', 7: 'Delete', 8: 'List', 99: 'Other' } as const;
type DatastoreActivityId = keyof typeof DATASTORE_ACTIVITY;

/** Statement kinds (the analyser's, lower case) by the Datastore Activity they are. */
const KIND_ACTIVITY: Record<string, DatastoreActivityId> = {
  select: 4,
  explain: 4,
  show: 8,
  describe: 8,
  insert: 6,
  create: 6,
  update: 2,
  merge: 2,
  alter: 2,
  rename: 2,
  comment: 2,
  grant: 2,
  revoke: 2,
  refresh: 2,
  delete: 7,
  truncate: 7,
  drop: 7,
};
/** Of several statements in one request, the one that changes most names the activity. */
const WEIGHT: Record<DatastoreActivityId, number> = { 7: 6, 2: 5, 6: 4, 5: 3, 4: 2, 1: 1, 8: 1, 99: 0, 0: -1 };

interface AnalysedStatement {
  kind?: string;
  tablesRead?: TableJson[];
  tablesWritten?: TableJson[];
}
interface TableJson {
  database?: string;
  schema?: string;
  name?: string;
}

/**
 * The Datastore Activity of a statement from its analysis: SELECT is Query, INSERT and CREATE
 * Create, UPDATE/MERGE/ALTER/GRANT Update, DELETE/TRUNCATE/DROP Delete, SHOW/DESCRIBE List, COPY
 * Read or Write by direction, anything else (SET, a transaction, an unparsed statement) Other.
 */
export function statementActivity(analysis: { statements?: AnalysedStatement[] } | undefined): StatementActivity {
  const statements = analysis?.statements ?? [];
  let activityId: DatastoreActivityId = statements.length ? 99 : 0;
  for (const s of statements) {
    const kind = (s.kind ?? '').toLowerCase();
    const a: DatastoreActivityId = kind === 'copy' ? (s.tablesWritten?.length ? 5 : 1) : (KIND_ACTIVITY[kind] ?? 99);
    if (WEIGHT[a] > WEIGHT[activityId]) activityId = a;
  }
  return { activityId, kinds: [...new Set(statements.map((s) => (s.kind ?? 'unknown').toUpperCase()))] };
}

const STATUS = { unknown: 0, success: 1, failure: 2, other: 99 } as const;
const STATUS_NAME = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' } as const;
const SEVERITY = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High' } as const;
type Severity = keyof typeof SEVERITY;

interface Outcome {
  status_id: (typeof STATUS)[keyof typeof STATUS];
  status?: string;
  status_code?: string;
  status_detail?: string;
}

const statusOf = (o: Outcome | undefined): OcsfRecord =>
  o
    ? {
        status_id: o.status_id,
        status: o.status ?? STATUS_NAME[o.status_id],
        ...(o.status_code ? { status_code: o.status_code } : {}),
        ...(o.status_detail ? { status_detail: o.status_detail } : {}),
      }
    : {};

const ENVELOPE = new Set([
  'id',
  'type',
  'time',
  'requestId',
  'sessionId',
  'frontDoor',
  'identity',
  'connection',
  'role',
  'trace',
  'ocsf',
  'producer',
  'schemaVersion',
  'client',
  'replica',
]);

/** The detail object of an event: its one field besides the envelope's (`queryReceived`, `checkpointSigned`). */
function detailOf(e: AuditEventJson): { key: string; value: Record<string, unknown> } {
  const key = Object.keys(e).find((k) => !ENVELOPE.has(k) && e[k] !== null && typeof e[k] === 'object') ?? 'detail';
  return { key, value: (e[key] as Record<string, unknown> | undefined) ?? {} };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** Who acted: the token's subject, its client and groups, and the session they came through. */
function actorOf(e: AuditEventJson): OcsfRecord {
  const id = e.identity;
  if (!id?.subject) return { app_name: `phigate-${e.producer || 'gateway'}` };
  return {
    user: userOf(e),
    ...(e.sessionId ? { session: { uid: e.sessionId, ...(id.issuer ? { issuer: id.issuer } : {}) } } : {}),
    ...(id.clientId ? { app_uid: id.clientId } : {}),
    ...(id.issuer ? { idp: { name: id.issuer } } : {}),
  };
}

function userOf(e: AuditEventJson): OcsfRecord {
  const id = e.identity ?? {};
  return {
    uid: id.subject || 'unknown',
    name: id.subject || 'unknown',
    ...(id.groups?.length ? { groups: id.groups.map((name) => ({ name })) } : {}),
  };
}

/**
 * The client: its address and port. Events recorded before the envelope carried them (or by the
 * audit service itself) name the door instead, so the required attribute is never empty.
 */
function srcEndpointOf(e: AuditEventJson): OcsfRecord {
  const ip = e.client?.ip;
  if (!ip) return { name: e.frontDoor ? `${e.frontDoor} client (address not recorded)` : `phigate-${e.producer || 'audit'}` };
  return { name: ip, ip, ...(e.client?.port ? { port: e.client.port } : {}) };
}

/** phigate itself: the door the client reached, on the replica that served it. */
function dstEndpointOf(e: AuditEventJson): OcsfRecord {
  return { name: `phigate-${e.producer || 'gateway'}`, ...(e.frontDoor ? { svc_name: e.frontDoor } : {}), ...(e.replica ? { uid: e.replica } : {}) };
}

/** The host profile's device: the replica that recorded the event. */
function deviceOf(e: AuditEventJson): OcsfRecord {
  return { type_id: 1, type: 'Server', name: e.replica || `phigate-${e.producer || 'gateway'}` };
}

const databaseOf = (e: AuditEventJson): OcsfRecord => ({ name: e.connection || 'unknown', type_id: 1, type: 'Relational' });

const tableOf = (t: TableJson): OcsfRecord => ({ name: [t.database, t.schema, t.name].filter(Boolean).join('.') || 'unknown' });

/** Everything of the envelope and the detail OCSF has no attribute for, under phigate's own names. */
function unmappedOf(e: AuditEventJson, detail: { key: string; value: Record<string, unknown> }, drop: string[] = []): OcsfRecord {
  const value = Object.fromEntries(Object.entries(detail.value).filter(([k]) => !drop.includes(k)));
  return {
    type: e.type,
    ...(e.frontDoor ? { front_door: e.frontDoor } : {}),
    ...(e.role ? { role: e.role } : {}),
    ...(e.trace?.traceparent ? { traceparent: e.trace.traceparent } : {}),
    ...(e.schemaVersion ? { schema_version: e.schemaVersion } : {}),
    ...(e.purpose ? { purpose: e.purpose } : {}),
    ...(Object.keys(value).length ? { [detail.key]: value } : {}),
  };
}

function base(
  e: AuditEventJson,
  cls: (typeof CLASS)[keyof typeof CLASS],
  activityId: number,
  activityName: string,
  severityId: Severity,
  ctx: OcsfContext,
  profiles: string[],
): OcsfRecord {
  const time = e.time ? Date.parse(e.time) : Number.NaN;
  const observables = observablesOf(e);
  return {
    ...cls,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: cls.class_uid * 100 + activityId,
    type_name: `${cls.class_name}: ${activityName}`,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    time: Number.isFinite(time) ? time : 0,
    // Times are UTC.
    timezone_offset: 0,
    ...(observables.length ? { observables } : {}),
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'phigate', vendor_name: 'phigate', ...(ctx.productVersion ? { version: ctx.productVersion } : {}) },
      uid: e.id,
      correlation_uid: e.requestId,
      event_code: e.type,
      log_name: 'phigate.audit.v1',
      ...(e.producer ? { log_provider: e.producer } : {}),
      ...(e.time ? { original_time: e.time } : {}),
      profiles,
    },
  };
}

/** The values a SIEM pivots on: who, and from where. */
function observablesOf(e: AuditEventJson): OcsfRecord[] {
  return [
    ...(e.identity?.subject ? [{ name: 'actor.user.uid', type_id: 4, type: 'User Name', value: e.identity.subject }] : []),
    ...(e.client?.ip ? [{ name: 'src_endpoint.ip', type_id: 2, type: 'IP Address', value: e.client.ip }] : []),
  ];
}

/** One line a person reads in a SIEM list: who, what, where, and how it ended. */
function messageOf(e: AuditEventJson, r: OcsfRecord): string {
  const who = e.identity?.subject || `phigate-${e.producer || 'audit'}`;
  const where = e.connection ? ` on ${e.connection}` : '';
  const from = e.client?.ip ? ` from ${e.client.ip}` : '';
  const status = typeof r.status === 'string' ? `: ${r.status}${r.status_detail ? ` (${String(r.status_detail)})` : ''}` : '';
  return `${who} ${e.type}${where}${from}${status}`;
}

const objOf = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** What a statement event says of the statement, its decision and its end (a query.served record says all three). */
function stepsOf(e: AuditEventJson, d: { value: Record<string, unknown> }) {
  const served = e.type === 'query.served' ? d.value : undefined;
  return {
    received: served ? objOf(served.received) : e.type === 'query.received' ? d.value : undefined,
    decided: served ? objOf(served.decision) : e.type === 'policy.decided' ? d.value : undefined,
    completed: served ? (objOf(served.completed) ?? {}) : e.type === 'query.completed' ? d.value : undefined,
  };
}

/**
 * A statement event (query.*, policy.decided, masking.applied): 6005 Datastore Activity. A
 * query.served record is one such record with the statement, the decision and the outcome.
 */
function datastore(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  let d = detailOf(e);
  const { received, decided, completed } = stepsOf(e, d);
  const analysis = received ? (received.analysis as { statements?: AnalysedStatement[] } | undefined) : undefined;
  const activity = analysis ? statementActivity(analysis) : ctx.statement;
  const activityId = (activity?.activityId ?? 0) as DatastoreActivityId;
  const activityName = activityId === 99 ? (activity?.kinds.join(', ') ?? 'Other') : DATASTORE_ACTIVITY[activityId];
  let severity: Severity = 1;
  let outcome: Outcome | undefined;
  const security: OcsfRecord = {};
  const profiles = ['host'];
  const extra: OcsfRecord = {};
  const drop: string[] = [];
  if (received) {
    const first = analysis?.statements?.flatMap((s) => [...(s.tablesWritten ?? []), ...(s.tablesRead ?? [])])[0];
    if (first) extra.table = tableOf(first);
    extra.query_info = {
      uid: str(received.fingerprint) || e.id,
      name: activity?.kinds.join(', ') || 'statement',
      query_string: str(received.statement),
    };
    // The statement is query_info.query_string; unmapped does not repeat it.
    if (e.type === 'query.received') drop.push('statement');
    else d = { ...d, value: { ...d.value, received: { ...received, statement: undefined } } };
  }
  if (decided) {
    const action = str(decided.action);
    const reasons = Array.isArray(decided.reasons) ? (decided.reasons as string[]).join('; ') : '';
    const rules = Array.isArray(decided.ruleIds) ? (decided.ruleIds as string[]).join(',') : '';
    profiles.push('security_control');
    security.policy = { name: rules || 'phigate policy', uid: str(decided.decisionId), version: str(decided.policyRevision) };
    if (action === 'ACTION_DENY') {
      severity = 2;
      outcome = { status_id: STATUS.failure, status_code: 'DENIED', status_detail: reasons };
      Object.assign(security, { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' });
    } else if (action === 'ACTION_REQUIRE_APPROVAL') {
      severity = 2;
      outcome = { status_id: STATUS.other, status: 'Held for approval', status_code: 'REQUIRE_APPROVAL', status_detail: reasons };
      Object.assign(security, { action_id: 99, action: 'Held for approval', disposition_id: 14, disposition: 'Delayed' });
    } else {
      outcome = { status_id: STATUS.success, status_code: 'ALLOWED', ...(reasons ? { status_detail: reasons } : {}) };
      Object.assign(security, { action_id: 1, action: 'Allowed', disposition_id: 1, disposition: 'Allowed' });
    }
  }
  if (e.type === 'query.failed') {
    severity = 3;
    outcome = { status_id: STATUS.failure, status_code: str(d.value.code), status_detail: str(d.value.message) };
  }
  if (completed) {
    // A served record keeps its decision's outcome (allowed, with the reasons).
    if (e.type === 'query.completed') outcome = { status_id: STATUS.success };
    if (completed.durationMs !== undefined) extra.duration = num(completed.durationMs);
    if (completed.rows !== undefined) extra.count = num(completed.rows);
  }
  // The statement alone (query.received) has no outcome yet; every other step succeeded unless it says otherwise.
  if (!outcome && e.type !== 'query.received') outcome = { status_id: STATUS.success };
  return {
    ...base(e, CLASS.datastore, activityId, activityName, severity, ctx, profiles),
    ...statusOf(outcome),
    ...security,
    actor: actorOf(e),
    src_endpoint: srcEndpointOf(e),
    dst_endpoint: dstEndpointOf(e),
    device: deviceOf(e),
    database: databaseOf(e),
    type_id: 1,
    type: 'Database',
    ...extra,
    unmapped: unmappedOf(e, d, drop),
  };
}

/** session.opened / session.closed: 3002 Authentication, Logon / Logoff. */
function authentication(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  const logon = e.type === 'session.opened';
  const record: OcsfRecord = {
    ...base(e, CLASS.authentication, logon ? 1 : 2, logon ? 'Logon' : 'Logoff', 1, ctx, ['host']),
    ...statusOf({ status_id: STATUS.success }),
    user: userOf(e),
    actor: actorOf(e),
    src_endpoint: srcEndpointOf(e),
    dst_endpoint: dstEndpointOf(e),
    device: deviceOf(e),
    service: { name: `phigate ${e.frontDoor || 'gateway'} door` },
    session: { uid: e.sessionId || e.requestId, ...(e.identity?.issuer ? { issuer: e.identity.issuer } : {}) },
    // Every door authenticates an OIDC access token (a PostgreSQL password, a Snowflake OAuth token).
    auth_protocol_id: 4,
    auth_protocol: 'OpenID',
    logon_type_id: 3,
    logon_type: 'Network',
    is_remote: true,
    unmapped: unmappedOf(e, d, ['clientAddress']),
  };
  if (!logon && d.value.durationMs !== undefined) record.duration = num(d.value.durationMs);
  return record;
}

/** approval.*: 6003 API Activity on the approval (Create it, Update it with a decision, or it expires). */
function approval(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  const approvalId = str(d.value.approvalId);
  const spec = {
    'approval.requested': { activityId: 1, name: 'Create', severity: 2, outcome: { status_id: STATUS.success } },
    'approval.granted': { activityId: 3, name: 'Update', severity: 2, outcome: { status_id: STATUS.success, status_code: 'GRANTED' } },
    'approval.denied': {
      activityId: 3,
      name: 'Update',
      severity: 2,
      outcome: { status_id: STATUS.failure, status_code: 'DENIED', status_detail: str(d.value.reason) },
    },
    'approval.expired': {
      activityId: 99,
      name: 'Expire',
      severity: 2,
      outcome: { status_id: STATUS.failure, status_code: 'EXPIRED', status_detail: str(d.value.reason) },
    },
  }[e.type as 'approval.requested'];
  return {
    ...base(e, CLASS.api, spec.activityId, spec.name, spec.severity as Severity, ctx, ['host']),
    ...statusOf(spec.outcome as Outcome),
    // The requester: the identity whose held statement this is. The approver is in unmapped.
    actor: actorOf(e),
    src_endpoint: srcEndpointOf(e),
    dst_endpoint: dstEndpointOf(e),
    device: deviceOf(e),
    api: { operation: e.type, service: { name: 'phigate-approval' }, request: { uid: approvalId || e.requestId } },
    resources: [{ uid: approvalId || e.requestId, type: 'approval' }],
    unmapped: { ...unmappedOf(e, d), ...(e.connection ? { connection: e.connection } : {}) },
  };
}

/** A finding's status: New (findings are opened by the event; a SIEM case tracks the rest). */
const NEW_FINDING = { status_id: 1, status: 'New' } as const;

/**
 * phi.leak_suspected: 2006 Data Security Finding, Create: OCSF 1.4.0's class for what a DLP
 * control detects (here the masking canary, inline on the result stream), with the client, the
 * connection and the column, rather than the generic 2004 Detection Finding.
 */
function leak(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  const detector = str(d.value.detector) || 'canary';
  const column = str(d.value.column) || 'unknown';
  return {
    ...base(e, CLASS.dataSecurity, 1, 'Create', 4, ctx, ['host', 'security_control']),
    ...NEW_FINDING,
    finding_info: {
      uid: e.id,
      title: 'PHI suspected in a column the policy left unmasked',
      desc: `The masking canary (${detector}) found ${num(d.value.count)} value(s) that look like PHI in result column ${column}.`,
      analytic: { name: `phigate masking canary: ${detector}`, type_id: 8, type: 'Regular Expressions' },
      types: ['PHI leak'],
    },
    data_security: {
      category_id: 1,
      category: 'Personal',
      confidentiality_id: 5,
      confidentiality: 'Private',
      data_lifecycle_state_id: 2,
      data_lifecycle_state: 'Data in-Transit',
      detection_system_id: 2,
      detection_system: 'DLP Gateway',
      detection_pattern: detector,
      total: num(d.value.count),
    },
    is_alert: true,
    actor: actorOf(e),
    src_endpoint: srcEndpointOf(e),
    dst_endpoint: dstEndpointOf(e),
    device: deviceOf(e),
    database: databaseOf(e),
    resources: [{ name: column, type: 'result column' }],
    unmapped: unmappedOf(e, d),
  };
}

/** audit.event_quarantined: 2004 Detection Finding, Create (the audit store's own integrity finding). */
function quarantined(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  return {
    ...base(e, CLASS.finding, 1, 'Create', 3, ctx, ['host', 'security_control']),
    ...NEW_FINDING,
    finding_info: {
      uid: e.id,
      title: 'A message on the audit topic could not be stored as an event',
      desc: `Kept quarantined in the hash chain at ${str(d.value.topic)}/${num(d.value.partition)}@${str(d.value.offset)}: ${str(d.value.reason)}.`,
      analytic: { name: 'phigate audit store', type_id: 1, type: 'Rule' },
      types: ['Audit integrity'],
    },
    is_alert: true,
    actor: actorOf(e),
    device: deviceOf(e),
    unmapped: unmappedOf(e, d),
  };
}

/**
 * budget.threshold_reached / budget.exceeded: 2004 Detection Finding, Create: a PHI budget of the
 * identity's binding (minimum necessary over time) crossed its alert share (Low) or would be, or
 * was, exceeded (High); who, from where, on which connection, and the budget's use per metric.
 */
function budget(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  const exceeded = e.type === 'budget.exceeded';
  const id = str(d.value.budgetId) || 'unknown';
  const metrics = Array.isArray(d.value.metrics) ? (d.value.metrics as Record<string, unknown>[]) : [];
  const use = metrics.map((m) => `${str(m.metric)} ${num(m.used)} + ${num(m.requested)} of ${num(m.limit)}`).join(', ');
  const refused = exceeded && str(d.value.onExceed) === 'deny';
  return {
    ...base(e, CLASS.finding, 1, 'Create', exceeded ? 4 : 2, ctx, ['host', 'security_control']),
    ...NEW_FINDING,
    finding_info: {
      uid: e.id,
      title: exceeded
        ? `PHI budget ${id} exceeded${refused ? '; the result was refused' : '; the result was served (alert)'}`
        : `PHI budget ${id} reached its alert threshold`,
      desc: `Window ${num(d.value.windowSec)} s: ${use}.`,
      analytic: { name: `phigate PHI budget: ${id}`, type_id: 1, type: 'Rule' },
      types: ['PHI budget'],
    },
    is_alert: true,
    actor: actorOf(e),
    device: deviceOf(e),
    // Detection Finding has no endpoints of its own: where the rows were going is the evidence.
    evidences: [{ src_endpoint: srcEndpointOf(e), dst_endpoint: dstEndpointOf(e), database: databaseOf(e) }],
    resources: [{ uid: str(d.value.counter) || id, name: id, type: 'PHI budget' }],
    unmapped: unmappedOf(e, d),
  };
}

/** audit.checkpoint_signed: 6003 API Activity (Create) by the audit service; the signed body is in unmapped, verbatim. */
function checkpoint(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const d = detailOf(e);
  return {
    ...base(e, CLASS.api, 1, 'Create', 1, ctx, ['host']),
    ...statusOf({ status_id: STATUS.success }),
    actor: { app_name: 'phigate-audit' },
    src_endpoint: { name: 'phigate-audit' },
    device: deviceOf(e),
    api: { operation: 'checkpoint.sign', service: { name: 'phigate-audit' }, request: { uid: e.id } },
    resources: [{ uid: str(d.value.keyId) || 'unknown', type: 'checkpoint signing key' }],
    unmapped: unmappedOf(e, d),
  };
}

/** Event types and the record each becomes; an unknown type is a Datastore Activity of activity Unknown. */
const MAPPERS: Record<string, (e: AuditEventJson, ctx: OcsfContext) => OcsfRecord> = {
  'session.opened': authentication,
  'session.closed': authentication,
  'approval.requested': approval,
  'approval.granted': approval,
  'approval.denied': approval,
  'approval.expired': approval,
  'phi.leak_suspected': leak,
  'audit.event_quarantined': quarantined,
  'audit.checkpoint_signed': checkpoint,
  'budget.threshold_reached': budget,
  'budget.exceeded': budget,
};

/** The OCSF 1.4.0 record of one audit event. */
export function toOcsf(e: AuditEventJson, ctx: OcsfContext): OcsfRecord {
  const record = (MAPPERS[e.type] ?? datastore)(e, ctx);
  return { ...record, message: messageOf(e, record) };
}
