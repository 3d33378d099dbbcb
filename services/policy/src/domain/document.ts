import { z } from 'zod';
import { Strategy } from './types.js';

const list = z.array(z.string().min(1)).min(1);
/** `[db.]schema.table`: two or three parts. */
const tablePatterns = z.array(z.string().regex(/^[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/, 'table patterns are [db.]schema.table')).min(1);
/** `[db.]schema.table.column`: three or four parts. */
const columnPattern = z.string().regex(/^[^.\s]+\.[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/, 'column patterns are [db.]schema.table.column');

/** Conditions of a rule; every condition given must hold (AND). Omitted conditions always hold. */
const matchSchema = z
  .object({
    /** Identity is in any of these groups. */
    groups: list.optional(),
    /** Identity subject or client id is one of these. */
    identities: list.optional(),
    connections: list.optional(),
    frontDoors: list.optional(),
    /** Statement kind is one of these (select, insert, update, delete, drop, ...). */
    statements: list.optional(),
    /** Scope: EVERY table the statement reads or writes matches one of these patterns. */
    tables: tablePatterns.optional(),
    /** Trigger: AT LEAST ONE table read or written matches one of these patterns. */
    anyTable: tablePatterns.optional(),
    /** Trigger: AT LEAST ONE column read or written matches one of these patterns. */
    anyColumn: z.array(columnPattern).min(1).optional(),
    /** Trigger: an UPDATE/DELETE without WHERE, or with a trivially true WHERE. */
    unboundedWrite: z.boolean().optional(),
    /** Trigger: a WHERE/HAVING condition uses a column that is masked for this identity. */
    maskedColumnInPredicate: z.boolean().optional(),
    /** Trigger: a function with one of these names is called. */
    functions: list.optional(),
  })
  .strict();

const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'rule ids are lower-case words joined by dashes'),
    description: z.string().optional(),
    match: matchSchema.default({}),
    action: z.enum(['allow', 'deny', 'require_approval']),
    reason: z.string().min(1),
    /** Groups whose members may approve (require_approval only). */
    approvers: list.optional(),
  })
  .strict()
  .refine((r) => r.action !== 'require_approval' || (r.approvers?.length ?? 0) > 0, { message: 'require_approval rules must name approvers' });

const strategySchema = z.enum(Object.values(Strategy) as [Strategy, ...Strategy[]]);

const maskSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    description: z.string().optional(),
    match: matchSchema.pick({ groups: true, identities: true, connections: true, frontDoors: true }).default({}),
    /** Column pattern (`[db.]schema.table.column`, `*` globs a segment) → strategy. */
    columns: z.record(
      z.string().min(1),
      z.union([strategySchema, z.object({ strategy: strategySchema, keepLast: z.number().int().min(0).max(64).optional() }).strict()]),
    ),
  })
  .strict();

const rowLimitSchema = z
  .object({ match: matchSchema.pick({ groups: true, identities: true, connections: true }).default({}), limit: z.number().int().positive() })
  .strict();

/** A policy document (one YAML file). */
export const policyDocumentSchema = z
  .object({
    version: z.literal(1),
    rules: z.array(ruleSchema).default([]),
    masking: z.array(maskSchema).default([]),
    rowLimits: z.array(rowLimitSchema).default([]),
  })
  .strict();

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
export type Rule = PolicyDocument['rules'][number];
export type MaskEntry = PolicyDocument['masking'][number];
export type Match = z.infer<typeof matchSchema>;

/** Parses and validates a document; returns every problem found, or the document. */
export function validateDocument(input: unknown): { ok: true; doc: PolicyDocument } | { ok: false; problems: string[] } {
  const r = policyDocumentSchema.safeParse(input);
  if (!r.success) return { ok: false, problems: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const id of [...r.data.rules.map((x) => x.id), ...r.data.masking.map((x) => x.id)]) {
    if (seen.has(id)) problems.push(`duplicate rule id ${id}`);
    seen.add(id);
  }
  return problems.length ? { ok: false, problems } : { ok: true, doc: r.data };
}

/** Merges several documents (one per file) into one, in file-name order. */
export function mergeDocuments(docs: PolicyDocument[]): PolicyDocument {
  return {
    version: 1,
    rules: docs.flatMap((d) => d.rules),
    masking: docs.flatMap((d) => d.masking),
    rowLimits: docs.flatMap((d) => d.rowLimits),
  };
}
