import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Analyser, Catalog, type CatalogColumn } from '@phigate/sql';
import { parse } from 'yaml';
import { z } from 'zod';
import { loadPolicyDir } from '../adapters/files/policy-store.js';
import { evaluateAt } from '../domain/evaluate.js';
import type { Decision } from '../domain/types.js';

/** An instant with its offset, e.g. 2026-03-02T09:30:00Z or 2026-03-02T09:30:00+01:00. */
const instant = z.iso.datetime({ offset: true });

const caseSchema = z
  .object({
    name: z.string().min(1),
    identity: z.object({ subject: z.string().min(1), groups: z.array(z.string()).default([]) }).strict(),
    /** The purpose of use the case states; none when absent. */
    purpose: z.string().min(1).optional(),
    connection: z.string().default('clinical-pg'),
    dialect: z.enum(['postgresql', 'snowflake']).default('postgresql'),
    sql: z.string(),
    /** The instant the statement is judged at (time windows); default the suite's `at`, else now. */
    at: instant.optional(),
    expect: z
      .object({
        action: z.enum(['allow', 'deny', 'require_approval']),
        /** A rule id that must be among the decision's rule ids. */
        rule: z.string().optional(),
        /** Masks the plan must contain: `schema.table.column` pattern as written in policy → strategy. */
        masks: z.record(z.string(), z.string()).optional(),
        rowLimit: z.number().int().optional(),
        /** What a require_approval decision must ask of its approvers. */
        approval: z.object({ quorum: z.number().int().optional(), expiresInSec: z.number().int().optional() }).strict().optional(),
      })
      .strict(),
  })
  .strict();

const identitySchema = z.object({ subject: z.string().min(1), groups: z.array(z.string()).default([]) }).strict();

/**
 * A red-team corpus: statements judged twice, as an identity for which a column is masked and as
 * one that sees it in clear. `masked`: allowed, the column leaves masked; `refused`: denied for the
 * masked identity by a masked-column rule, allowed in clear (no over-blocking); `blocked`: denied
 * for both; `allowed`: allowed for both. The gateway's test suite runs the same files through the
 * real doors.
 */
const redTeamSchema = z
  .object({
    connection: z.string(),
    dialect: z.enum(['postgresql', 'snowflake']),
    masked: identitySchema,
    clear: identitySchema,
    /** The column the corpus attacks, as a mask pattern in policy (`*.patients.ssn`). */
    column: z.string().default('*.patients.ssn'),
    statements: z
      .array(
        z
          .object({
            sql: z.string().min(1),
            expect: z.enum(['masked', 'refused', 'blocked', 'allowed']),
            rule: z.string().optional(),
            why: z.string().optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export type RedTeam = z.infer<typeof redTeamSchema>;

/** Rules that refuse a statement because of a masked column. */
export const MASKED_COLUMN_RULE = /^block-(masked-|predicates-on-masked-columns)/;

const suiteSchema = z
  .object({
    catalog: z.object({ database: z.string(), defaultSchema: z.string().default('public'), tables: z.record(z.string(), z.array(z.string()).min(1)) }).strict(),
    /** The instant every case is judged at unless it has its own `at`: keeps time-window cases reproducible. */
    at: instant.optional(),
    cases: z.array(caseSchema).default([]),
    redTeam: redTeamSchema.optional(),
  })
  .strict()
  .refine((s) => s.cases.length > 0 || s.redTeam, { message: 'a suite needs cases or a redTeam corpus' });

/** The two cases (masked identity, clear identity) each red-team statement stands for, and what each must show. */
function redTeamCases(rt: RedTeam): Array<{ c: PolicyCase; masks?: string; maskedRule: boolean }> {
  const out: Array<{ c: PolicyCase; masks?: string; maskedRule: boolean }> = [];
  rt.statements.forEach((st, i) => {
    const base = { connection: rt.connection, dialect: rt.dialect, sql: st.sql };
    const label = `red team #${i + 1} (${st.expect}${st.why ? `, ${st.why}` : ''})`;
    const maskedAction = st.expect === 'refused' || st.expect === 'blocked' ? 'deny' : 'allow';
    out.push({
      c: { ...base, name: `${label} as ${rt.masked.subject}`, identity: rt.masked, expect: { action: maskedAction, ...(st.rule ? { rule: st.rule } : {}) } },
      ...(st.expect === 'masked' ? { masks: rt.column } : {}),
      maskedRule: st.expect === 'refused' && !st.rule,
    });
    out.push({
      c: { ...base, name: `${label} as ${rt.clear.subject}`, identity: rt.clear, expect: { action: st.expect === 'blocked' ? 'deny' : 'allow' } },
      maskedRule: false,
    });
  });
  return out;
}

export type PolicyCase = z.infer<typeof caseSchema>;

export interface CaseResult {
  file: string;
  name: string;
  ok: boolean;
  problems: string[];
  decision: Decision;
}

/** A catalog from a test suite's `{database, tables: {"schema.table": [columns]}}`. */
export function catalogOf(c: z.infer<typeof suiteSchema>['catalog']): Catalog {
  const cols: CatalogColumn[] = [];
  let oid = 1;
  for (const [qualified, columns] of Object.entries(c.tables)) {
    const [schema, table] = qualified.includes('.') ? qualified.split('.') : [c.defaultSchema, qualified];
    columns.forEach((column, i) => {
      cols.push({ tableOid: oid, schema: schema!, table: table!, attnum: i + 1, column });
    });
    oid++;
  }
  return new Catalog(c.database, cols);
}

/**
 * Analyses and evaluates one statement as the gateway and the policy service would, at the case's
 * `at`, else at `now` (the caller's clock: this is the tool's edge, where the wall clock is read).
 */
export function decide(
  analyser: Analyser,
  policy: ReturnType<typeof loadPolicyDir>,
  catalog: Catalog,
  defaultSchema: string,
  c: PolicyCase,
  now: Date = new Date(),
) {
  const analysis = analyser(c.sql, c.dialect, catalog, defaultSchema);
  const decision = evaluateAt(
    policy.doc,
    policy.revision,
    {
      identity: { subject: c.identity.subject, clientId: c.identity.subject, groups: c.identity.groups },
      connection: c.connection,
      role: '',
      frontDoor: 'http',
      ...(c.purpose ? { purpose: c.purpose } : {}),
      analysis,
    },
    c.at ? new Date(c.at) : now,
  );
  return { analysis, decision };
}

/** Runs every `*.yaml` suite in `testsDir` against the policy in `policyDir`; cases without an `at` are judged at `now`. */
export function runPolicyTests(analyser: Analyser, policyDir: string, testsDir: string, now: Date = new Date()): CaseResult[] {
  const policy = loadPolicyDir(policyDir);
  const results: CaseResult[] = [];
  for (const file of readdirSync(testsDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const suite = suiteSchema.parse(parse(readFileSync(join(testsDir, file), 'utf8')));
    const catalog = catalogOf(suite.catalog);
    const cases: Array<{ c: PolicyCase; masks?: string; maskedRule: boolean }> = [
      ...suite.cases.map((c) => ({ c, maskedRule: false })),
      ...(suite.redTeam ? redTeamCases(suite.redTeam) : []),
    ];
    for (const { c, masks, maskedRule } of cases) {
      const { decision } = decide(analyser, policy, catalog, suite.catalog.defaultSchema, c, suite.at ? new Date(suite.at) : now);
      const problems: string[] = [];
      if (decision.action !== c.expect.action)
        problems.push(`action ${decision.action}, expected ${c.expect.action} (rules ${decision.ruleIds.join(', ') || 'none'})`);
      if (c.expect.rule && !decision.ruleIds.includes(c.expect.rule)) problems.push(`rule ${c.expect.rule} not among ${decision.ruleIds.join(', ') || 'none'}`);
      if (maskedRule && !decision.ruleIds.some((r) => MASKED_COLUMN_RULE.test(r)))
        problems.push(`refused by ${decision.ruleIds.join(', ') || 'nothing'}, expected a masked-column rule`);
      if (
        masks &&
        !decision.maskingPlan.columns.some((x) => `${x.schema}.${x.table}.${x.column}`.toLowerCase() === masks.toLowerCase() && x.strategy !== 'none')
      )
        problems.push(`${masks} is not masked in the plan`);
      for (const [column, strategy] of Object.entries(c.expect.masks ?? {})) {
        const m = decision.maskingPlan.columns.find((x) => `${x.schema}.${x.table}.${x.column}` === column);
        if (m?.strategy !== strategy) problems.push(`mask of ${column} is ${m?.strategy ?? 'none'}, expected ${strategy}`);
      }
      if (c.expect.rowLimit !== undefined && decision.rowLimit !== c.expect.rowLimit)
        problems.push(`row limit ${decision.rowLimit}, expected ${c.expect.rowLimit}`);
      for (const [key, want] of Object.entries(c.expect.approval ?? {})) {
        const got = decision.approval?.[key as 'quorum' | 'expiresInSec'];
        if (got !== want) problems.push(`approval ${key} is ${got ?? 'absent'}, expected ${want}`);
      }
      results.push({ file, name: c.name, ok: problems.length === 0, problems, decision });
    }
  }
  return results;
}
