import { z } from 'zod';
import { Strategy } from './types.js';

/**
 * PHI kinds: the Safe Harbor identifiers of 45 CFR 164.514(b)(2)(i)(A)–(R), plus `free_text`
 * (notes and comments, which may contain any of them). The vocabulary is closed: a typo is an error.
 */
export const PHI_KINDS = [
  'name', // (A) names
  'address', // (B) street address, city, county, precinct and their geocodes
  'zip', // (B) ZIP codes (the first three digits may survive under the Census rule)
  'date', // (C) admission, discharge, death and other dates about the individual
  'dob', // (C) birth dates
  'age', // (C) ages (over 89 must be grouped as "90 or older")
  'phone', // (D)
  'fax', // (E)
  'email', // (F)
  'ssn', // (G)
  'mrn', // (H) medical record numbers
  'health_plan_id', // (I) health plan beneficiary numbers
  'account', // (J) account numbers
  'license', // (K) certificate and license numbers
  'vehicle', // (L) vehicle identifiers, serial numbers, plates
  'device', // (M) device identifiers and serial numbers
  'url', // (N)
  'ip', // (O) IP addresses
  'biometric', // (P) finger and voice prints
  'photo', // (Q) full-face photographs and comparable images
  'other_id', // (R) any other unique identifying number, characteristic or code
  'free_text', // not a Safe Harbor category: free text that may carry any of the above
] as const;
export type PhiKind = (typeof PHI_KINDS)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Approvals needed when a require_approval rule says nothing. */
export const DEFAULT_QUORUM = 1;
/** How long an approval request stays open when a require_approval rule says nothing. */
export const DEFAULT_APPROVAL_EXPIRY = '30m';
const MAX_APPROVAL_EXPIRY_SEC = 24 * 3600;
const MIN_APPROVAL_EXPIRY_SEC = 60;

/** `15m` → 900. Units: s, m, h. Returns NaN for anything else. */
export function durationSeconds(d: string): number {
  const m = /^(\d{1,6})([smh])$/.exec(d);
  if (!m) return Number.NaN;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

/** `HH:MM` → minutes since midnight (`24:00` → 1440). */
export function minutesOfDay(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const list = z.array(z.string().min(1)).min(1);
/** `[db.]schema.table`: two or three parts. */
const tablePatterns = z
  .array(z.string().regex(/^[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/, 'table patterns are [db.]schema.table'))
  .min(1)
  .meta({ id: 'TablePatterns', description: 'Table patterns, [db.]schema.table; * globs within a part; case-insensitive' });
/** `[db.]schema.table.column`: three or four parts. */
const columnPattern = z
  .string()
  .regex(/^[^.\s]+\.[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/, 'column patterns are [db.]schema.table.column')
  .meta({ id: 'ColumnPattern', description: 'A column pattern, [db.]schema.table.column; * globs within a part; case-insensitive' });
/**
 * Catalog patterns also become masking patterns (through tag masks), and the gateway compares a
 * masking pattern part by part as `*` or an exact name: so `*` may only stand for a whole part.
 */
const catalogPattern = z
  .string()
  .regex(/^(\*|[^.*\s]+)(\.(\*|[^.*\s]+)){2,3}$/, 'PHI catalog patterns are [db.]schema.table.column, each part a name or a whole *')
  .meta({ id: 'CatalogColumnPattern', description: 'A column pattern, [db.]schema.table.column, each part a name or a whole *' });

const phiKindSchema = z.enum(PHI_KINDS).meta({ id: 'PhiKind', description: 'A PHI kind: a Safe Harbor identifier (45 CFR 164.514(b)(2)) or free_text' });

const timeWindowSchema = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1).optional().describe('Days on which the window opens (local to timezone); default every day'),
    from: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'from is HH:MM, 00:00 to 23:59')
      .default('00:00')
      .describe('Local time the window opens (inclusive), HH:MM; default 00:00'),
    to: z
      .string()
      .regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'to is HH:MM, 00:01 to 24:00')
      .default('24:00')
      .describe('Local time the window closes (exclusive), HH:MM or 24:00; earlier than from = closes the next day; default 24:00'),
    timezone: z
      .string()
      .min(1)
      .refine(isTimeZone, 'timezone must be an IANA time zone name such as Europe/London or UTC')
      .describe('IANA time zone the window is in, e.g. Europe/London, America/New_York, UTC'),
  })
  .strict()
  .refine((w) => w.from !== w.to, { message: 'from and to must differ (for the whole day, omit both)', path: ['to'] })
  .meta({ id: 'TimeWindow', description: 'The rule matches only inside this window of local time' });

/** Conditions of a rule; every condition given must hold (AND). Omitted conditions always hold. */
const matchSchema = z
  .object({
    /** Identity is in any of these groups. */
    groups: list.optional().describe('The identity is in any of these groups'),
    /** Identity subject or client id is one of these. */
    identities: list.optional().describe("The identity's subject or client id is one of these"),
    connections: list.optional().describe('The request is for one of these phigate connections'),
    frontDoors: list.optional().describe('The request came through one of these front doors (http, pgwire, snowflake)'),
    /** The client stated one of these purposes of use. */
    purposes: list.optional().describe('The client stated one of these purposes of use (a request without a purpose never matches)'),
    /** The client stated no purpose, or one not in this list. */
    notPurposes: list.optional().describe('The client stated no purpose of use, or one not in this list: with deny, requires one of these purposes'),
    /** Statement kind is one of these (select, insert, update, delete, drop, ...). */
    statements: list.optional().describe('The statement kind is one of these, lower case (select, insert, update, delete, drop, ...)'),
    /** Scope: EVERY table the statement reads or writes matches one of these patterns. */
    tables: tablePatterns.optional().describe('Scope: every table the statement reads or writes matches one of these patterns'),
    /** Trigger: AT LEAST ONE table read or written matches one of these patterns. */
    anyTable: tablePatterns.optional().describe('Trigger: at least one table read or written matches one of these patterns'),
    /** Trigger: AT LEAST ONE column read or written matches one of these patterns. */
    anyColumn: z.array(columnPattern).min(1).optional().describe('Trigger: at least one column read or written matches one of these patterns'),
    /** Trigger: AT LEAST ONE column read or written carries one of these PHI tags (from the `phi` catalog). */
    anyPhi: z
      .array(phiKindSchema)
      .min(1)
      .optional()
      .describe('Trigger: at least one column read or written is tagged, in the phi catalog for this connection, with one of these kinds'),
    /** Trigger: an UPDATE/DELETE without WHERE, or with a trivially true WHERE. */
    unboundedWrite: z.boolean().optional().describe('true: an UPDATE/DELETE without a WHERE, or with a trivially true one; false: not'),
    /** Trigger: a WHERE/HAVING condition uses a column that is masked for this identity. */
    maskedColumnInPredicate: z.boolean().optional().describe('true: a WHERE/HAVING condition uses a column masked for this identity'),
    /** Trigger: a column masked for this identity reaches one of these inference channels. */
    maskedColumnFlow: z
      .array(z.enum(['rows', 'order', 'error', 'delay', 'value']))
      .min(1)
      .optional()
      .describe(
        'Trigger: the value of a column masked for this identity can shape one of these channels: the number of rows (rows), their order (order), whether the statement fails (error), how long it takes (delay), or a value not masked with it (value)',
      ),
    /** Trigger: a function with one of these names is called. */
    functions: list.optional().describe('The statement calls a function with one of these names (lower case, without schema)'),
    /** The rule matches only inside this window of local time. */
    timeWindow: timeWindowSchema.optional(),
  })
  .strict()
  .meta({ id: 'Match', description: 'Conditions; every one given must hold (AND); omitted ones always hold' });

const duration = z
  .string()
  .regex(/^\d{1,6}[smh]$/, 'durations are a number and a unit: 90s, 15m, 2h')
  .describe(`How long the approval request stays open: 1m to 24h, e.g. 15m; default ${DEFAULT_APPROVAL_EXPIRY}`);

const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'rule ids are lower-case words joined by dashes'),
    description: z.string().optional(),
    match: matchSchema.default({}),
    action: z.enum(['allow', 'deny', 'require_approval']),
    reason: z.string().min(1).describe('Why; returned to the client and recorded in the decision log'),
    /** Groups whose members may approve (require_approval only). */
    approvers: list.optional().describe('require_approval: groups whose members may approve'),
    /** Distinct approvers needed (require_approval only; default 1). */
    quorum: z.number().int().min(1).optional().describe(`require_approval: distinct approvers needed; default ${DEFAULT_QUORUM}`),
    /** How long the approval request stays open (require_approval only; default 30m, at most 24h). */
    expiresIn: duration.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.action === 'require_approval') {
      if (!r.approvers?.length) ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'require_approval rules must name approvers' });
    } else {
      for (const key of ['approvers', 'quorum', 'expiresIn'] as const) {
        if (r[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is for require_approval rules only` });
      }
    }
    if (r.expiresIn !== undefined) {
      const sec = durationSeconds(r.expiresIn);
      if (sec < MIN_APPROVAL_EXPIRY_SEC || sec > MAX_APPROVAL_EXPIRY_SEC)
        ctx.addIssue({ code: 'custom', path: ['expiresIn'], message: 'expiresIn must be from 1m to 24h' });
    }
  })
  .meta({ id: 'Rule', description: 'A rule: conditions, an action and a reason' });

const strategySchema = z
  .enum(Object.values(Strategy) as [Strategy, ...Strategy[]])
  .meta({ id: 'Strategy', description: 'none < partial < scrub < token < redact < nullify (strictest wins)' });
const maskSpecSchema = z
  .union([
    strategySchema,
    z
      .object({
        strategy: strategySchema,
        keepLast: z.number().int().min(0).max(64).optional().describe('partial: characters left in clear at the end; default 4'),
      })
      .strict(),
  ])
  .meta({ id: 'MaskSpec', description: 'A strategy, or {strategy, keepLast}' });

const maskSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    description: z.string().optional(),
    match: matchSchema.pick({ groups: true, identities: true, connections: true, frontDoors: true, purposes: true, notPurposes: true }).default({}),
    /** Column pattern (`[db.]schema.table.column`, `*` globs a segment) → strategy. */
    columns: z.record(columnPattern, maskSpecSchema).optional().describe('Column pattern → strategy'),
    /** PHI kind → strategy: masks every column the `phi` catalog tags with that kind (on this connection). */
    phi: z
      .partialRecord(phiKindSchema, maskSpecSchema)
      .optional()
      .describe('PHI kind → strategy: masks every column the phi catalog tags with that kind on the request connection'),
  })
  .strict()
  .refine((m) => m.columns !== undefined || m.phi !== undefined, { message: 'a masking entry needs columns or phi' })
  .meta({ id: 'MaskEntry', description: 'Masks for the identities its match fits; the strictest strategy per column wins' });

const rowLimitSchema = z
  .object({ match: matchSchema.pick({ groups: true, identities: true, connections: true }).default({}), limit: z.number().int().positive() })
  .strict()
  .meta({ id: 'RowLimit', description: 'A row limit; the smallest that applies wins' });

const canarySchema = z
  .object({
    match: matchSchema.pick({ groups: true, identities: true, connections: true }).default({}),
    mode: z.enum(['off', 'report', 'block']).describe('report: a phi.leak_suspected event, rows flow; block: no row of the result leaves'),
  })
  .strict()
  .meta({ id: 'LeakCanary', description: 'Scan the columns a plan leaves untouched for identifiers; the strictest mode that applies wins' });

const phiEntrySchema = z
  .object({
    description: z.string().optional(),
    /** The connections this entry describes; default every connection. */
    connections: list.optional().describe('The phigate connections whose columns this entry tags; default every connection'),
    /** Column pattern → PHI kind (or kinds). */
    columns: z.record(catalogPattern, z.union([phiKindSchema, z.array(phiKindSchema).min(1)])).describe('Column pattern → PHI kind (or a list of kinds)'),
  })
  .strict()
  .meta({ id: 'PhiCatalogEntry', description: 'Tags columns with the kind of PHI they hold' });

/** A policy document (one YAML file). */
export const policyDocumentSchema = z
  .object({
    version: z.literal(1),
    phi: z.array(phiEntrySchema).default([]).describe('The PHI catalog: which columns hold which kind of identifier, per connection'),
    rules: z.array(ruleSchema).default([]).describe('What may run: deny overrides, default deny, approval gates but never grants'),
    masking: z.array(maskSchema).default([]).describe('What is masked in results'),
    rowLimits: z.array(rowLimitSchema).default([]).describe('How many rows may leave'),
    canary: z.array(canarySchema).default([]).describe('Leak canary over unmasked columns'),
  })
  .strict()
  .meta({
    title: 'phigate policy document',
    description: 'One file of a phigate policy directory (POLICY_DIR). See docs/policies.md.',
  });

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
export type Rule = PolicyDocument['rules'][number];
export type MaskEntry = PolicyDocument['masking'][number];
export type PhiEntry = PolicyDocument['phi'][number];
export type Match = z.infer<typeof matchSchema>;
export type TimeWindow = z.infer<typeof timeWindowSchema>;

/** Parses and validates a document; returns every problem found, or the document. */
export function validateDocument(input: unknown): { ok: true; doc: PolicyDocument } | { ok: false; problems: string[] } {
  const r = policyDocumentSchema.safeParse(input);
  if (!r.success) return { ok: false, problems: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${issueMessage(i)}`) };
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const id of [...r.data.rules.map((x) => x.id), ...r.data.masking.map((x) => x.id)]) {
    if (seen.has(id)) problems.push(`duplicate rule id ${id}`);
    seen.add(id);
  }
  return problems.length ? { ok: false, problems } : { ok: true, doc: r.data };
}

/** A record key's own problem ("column patterns are …") says more than zod's "Invalid key in record". */
function issueMessage(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_key' && i.issues.length) return `key ${i.issues.map((n) => n.message).join('; ')}`;
  return i.message;
}

/** Merges several documents (one per file) into one, in file-name order. */
export function mergeDocuments(docs: PolicyDocument[]): PolicyDocument {
  return {
    version: 1,
    phi: docs.flatMap((d) => d.phi),
    rules: docs.flatMap((d) => d.rules),
    masking: docs.flatMap((d) => d.masking),
    rowLimits: docs.flatMap((d) => d.rowLimits),
    canary: docs.flatMap((d) => d.canary),
  };
}

/**
 * Warnings about a merged policy that are legal but probably not meant: a PHI kind used by a rule
 * or a mask that the catalog gives no column on the connections the rule or mask applies to (the
 * rule never matches on it, the mask masks nothing). Not errors: a catalog may legitimately not
 * have a kind yet (a deny rule on `biometric` that waits for the first biometric column).
 */
export function lintDocument(doc: PolicyDocument): string[] {
  const warnings: string[] = [];
  const catalogued = (kind: PhiKind, connections: string[] | undefined) =>
    doc.phi.some(
      (e) =>
        (!connections || !e.connections || e.connections.some((c) => connections.includes(c))) &&
        Object.values(e.columns).some((k) => (Array.isArray(k) ? k.includes(kind) : k === kind)),
    );
  for (const r of doc.rules) {
    for (const kind of r.match.anyPhi ?? []) {
      if (!catalogued(kind, r.match.connections)) warnings.push(`rule ${r.id}: no column is tagged ${kind} in the phi catalog, so anyPhi never matches on it`);
    }
  }
  for (const m of doc.masking) {
    for (const kind of Object.keys(m.phi ?? {}) as PhiKind[]) {
      if (!catalogued(kind, m.match.connections)) warnings.push(`masking ${m.id}: no column is tagged ${kind} in the phi catalog, so its mask masks nothing`);
    }
  }
  return warnings;
}
