import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision } from '@phigate/model';
import { type Analyser, Catalog, type CatalogColumn } from '@phigate/sql';
import { parse } from 'yaml';
import { z } from 'zod';
import { loadPolicyDir } from '../adapters/files/policy-store.js';
import { evaluate } from '../domain/evaluate.js';

const caseSchema = z
  .object({
    name: z.string().min(1),
    identity: z.object({ subject: z.string().min(1), groups: z.array(z.string()).default([]) }).strict(),
    connection: z.string().default('clinical-pg'),
    dialect: z.enum(['postgresql', 'snowflake']).default('postgresql'),
    sql: z.string(),
    expect: z
      .object({
        action: z.enum(['allow', 'deny', 'require_approval']),
        /** A rule id that must be among the decision's rule ids. */
        rule: z.string().optional(),
        /** Masks the plan must contain: `schema.table.column` pattern as written in policy → strategy. */
        masks: z.record(z.string(), z.string()).optional(),
        rowLimit: z.number().int().optional(),
      })
      .strict(),
  })
  .strict();

const suiteSchema = z
  .object({
    catalog: z.object({ database: z.string(), defaultSchema: z.string().default('public'), tables: z.record(z.string(), z.array(z.string()).min(1)) }).strict(),
    cases: z.array(caseSchema).min(1),
  })
  .strict();

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

/** Analyses and evaluates one statement as the gateway and the policy service would. */
export function decide(analyser: Analyser, policy: ReturnType<typeof loadPolicyDir>, catalog: Catalog, defaultSchema: string, c: PolicyCase) {
  const analysis = analyser(c.sql, c.dialect, catalog, defaultSchema);
  const decision = evaluate(policy.doc, policy.revision, {
    identity: { subject: c.identity.subject, clientId: c.identity.subject, groups: c.identity.groups },
    connection: c.connection,
    role: '',
    frontDoor: 'http',
    analysis,
  });
  return { analysis, decision };
}

/** Runs every `*.yaml` suite in `testsDir` against the policy in `policyDir`. */
export function runPolicyTests(analyser: Analyser, policyDir: string, testsDir: string): CaseResult[] {
  const policy = loadPolicyDir(policyDir);
  const results: CaseResult[] = [];
  for (const file of readdirSync(testsDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const suite = suiteSchema.parse(parse(readFileSync(join(testsDir, file), 'utf8')));
    const catalog = catalogOf(suite.catalog);
    for (const c of suite.cases) {
      const { decision } = decide(analyser, policy, catalog, suite.catalog.defaultSchema, c);
      const problems: string[] = [];
      if (decision.action !== c.expect.action)
        problems.push(`action ${decision.action}, expected ${c.expect.action} (rules ${decision.ruleIds.join(', ') || 'none'})`);
      if (c.expect.rule && !decision.ruleIds.includes(c.expect.rule)) problems.push(`rule ${c.expect.rule} not among ${decision.ruleIds.join(', ') || 'none'}`);
      for (const [column, strategy] of Object.entries(c.expect.masks ?? {})) {
        const m = decision.maskingPlan.columns.find((x) => `${x.schema}.${x.table}.${x.column}` === column);
        if (m?.strategy !== strategy) problems.push(`mask of ${column} is ${m?.strategy ?? 'none'}, expected ${strategy}`);
      }
      if (c.expect.rowLimit !== undefined && decision.rowLimit !== c.expect.rowLimit)
        problems.push(`row limit ${decision.rowLimit}, expected ${c.expect.rowLimit}`);
      results.push({ file, name: c.name, ok: problems.length === 0, problems, decision });
    }
  }
  return results;
}
