import { randomUUID } from 'node:crypto';
import { AppError } from '@phigate/errors';
import { eventsV1 } from '@phigate/proto';

type AuditEvent = eventsV1.AuditEvent;
type Detail = NonNullable<AuditEvent['detail']>;

/** The detail case for each dotted event type: the one place type names are defined. */
export const EVENT_TYPES = {
  'session.opened': 'sessionOpened',
  'session.closed': 'sessionClosed',
  'query.received': 'queryReceived',
  'policy.decided': 'policyDecided',
  'approval.requested': 'approvalRequested',
  'approval.granted': 'approvalGranted',
  'approval.denied': 'approvalDenied',
  'approval.expired': 'approvalExpired',
  'query.executed': 'queryExecuted',
  'query.failed': 'queryFailed',
  'masking.applied': 'maskingApplied',
  'query.completed': 'queryCompleted',
  'phi.leak_suspected': 'phiLeakSuspected',
  'audit.event_quarantined': 'eventQuarantined',
  'audit.checkpoint_signed': 'checkpointSigned',
  'query.served': 'queryServed',
  'budget.threshold_reached': 'budgetThresholdReached',
  'budget.exceeded': 'budgetExceeded',
} as const satisfies Record<string, Detail['$case']>;

/** A dotted event type such as `query.received`. */
export type EventType = keyof typeof EVENT_TYPES;

type DetailOf<T extends EventType> = Extract<Detail, { $case: (typeof EVENT_TYPES)[T] }>['value'];

/**
 * OCSF mapping per event type (OCSF 1.4.0, the first version with Data Security Finding): 6005
 * Datastore Activity with activity 4 Query (99 Other for approvals); 3002 Authentication for
 * sessions; 2006 Data Security Finding (activity 1 Create) for PHI the leak canary found, a
 * data-security (DLP) detection rather than a generic 2004 Detection Finding; 2004 Detection
 * Finding (Create, Medium) for a message the audit store had to quarantine; 6003 API Activity
 * (Create) for a signed checkpoint the audit service witnesses on the SIEM topic; 2004 Detection
 * Finding (Create; Low at a PHI budget's threshold, High when one is exceeded) for budget signals.
 */
const OCSF: Record<EventType, { classUid: number; className: string; categoryUid: number; activityId: number; severityId: number }> = {
  'session.opened': { classUid: 3002, className: 'Authentication', categoryUid: 3, activityId: 1, severityId: 1 },
  'session.closed': { classUid: 3002, className: 'Authentication', categoryUid: 3, activityId: 2, severityId: 1 },
  'query.received': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'policy.decided': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'approval.requested': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 99, severityId: 2 },
  'approval.granted': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 99, severityId: 2 },
  'approval.denied': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 99, severityId: 2 },
  'approval.expired': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 99, severityId: 2 },
  'query.executed': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'query.failed': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 3 },
  'masking.applied': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'query.completed': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'phi.leak_suspected': { classUid: 2006, className: 'Data Security Finding', categoryUid: 2, activityId: 1, severityId: 4 },
  'audit.event_quarantined': { classUid: 2004, className: 'Detection Finding', categoryUid: 2, activityId: 1, severityId: 3 },
  'audit.checkpoint_signed': { classUid: 6003, className: 'API Activity', categoryUid: 6, activityId: 1, severityId: 1 },
  'query.served': { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1 },
  'budget.threshold_reached': { classUid: 2004, className: 'Detection Finding', categoryUid: 2, activityId: 1, severityId: 2 },
  'budget.exceeded': { classUid: 2004, className: 'Detection Finding', categoryUid: 2, activityId: 1, severityId: 4 },
};

/** The OCSF schema version the mapping follows. */
const OCSF_VERSION = '1.4.0';

/** Envelope fields shared by all events of one request. */
export interface EventContext {
  requestId: string;
  sessionId?: string;
  frontDoor: string;
  identity?: { subject: string; clientId: string; groups: string[]; issuer: string };
  connection?: string;
  role?: string;
  trace?: { traceparent: string; tracestate: string };
  producer: string;
  /** The client's socket peer (address and port). */
  client?: { ip: string; port: number };
  /** The producer replica that served the request. */
  replica?: string;
  /** The purpose of use the client stated for the request or session. */
  purpose?: string;
}

/**
 * Current envelope schema version. 2: a read that runs without waiting is one `query.served`
 * record (docs/events.md, "Schema versions"); version 1 producers sent its parts as separate events.
 */
export const SCHEMA_VERSION = 2;

/** Builds a typed audit event with a fresh id and the OCSF class of its type. */
export function buildEvent<T extends EventType>(type: T, ctx: EventContext, detail: DetailOf<T>, time = new Date()): AuditEvent {
  const ocsf = OCSF[type];
  return {
    id: randomUUID(),
    type,
    time,
    requestId: ctx.requestId,
    sessionId: ctx.sessionId ?? '',
    frontDoor: ctx.frontDoor,
    identity: ctx.identity,
    connection: ctx.connection ?? '',
    role: ctx.role ?? '',
    trace: ctx.trace,
    ocsf: { ...ocsf, version: OCSF_VERSION },
    producer: ctx.producer,
    schemaVersion: SCHEMA_VERSION,
    client: ctx.client,
    replica: ctx.replica ?? '',
    purpose: ctx.purpose ?? '',
    detail: { $case: EVENT_TYPES[type], value: detail } as Detail,
  };
}

/** Encodes an event as the JSON carried on Kafka (proto3 JSON mapping). */
export function encodeEvent(event: AuditEvent): Buffer {
  return Buffer.from(JSON.stringify(eventsV1.AuditEvent.toJSON(event)));
}

/** Decodes and validates an event from Kafka; malformed input is a BUS_EVENT_INVALID error. */
export function decodeEvent(raw: Buffer | string): AuditEvent {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (cause) {
    throw new AppError('BUS_EVENT_INVALID', { cause });
  }
  const event = eventsV1.AuditEvent.fromJSON(json);
  const expected = EVENT_TYPES[event.type as EventType];
  if (!event.id || !event.requestId || !expected || event.detail?.$case !== expected) {
    throw new AppError('BUS_EVENT_INVALID', { details: { id: event.id, type: event.type } });
  }
  return event;
}

export type { AuditEvent };
