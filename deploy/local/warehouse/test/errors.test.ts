// phigate-test: stack
/**
 * The warehouse's statement errors as a real driver raises them: snowflake-connector-python (the venv
 * of deploy/local/bin/pydeps) runs each statement against an in-process warehouse and reports the
 * ProgrammingError's errno, sqlstate and message, which must be Snowflake's own for that statement.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { DRIVER_ENV } from './conformance/driver-env.js';
import { describeTarget } from './conformance/target.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

const wh = useWarehouse();

type Outcome = { sql: string; rows?: (string | null)[][]; error?: string; errno?: number; sqlstate?: string; msg?: string; sfqid?: string };

/** Runs the statements on one Python connection (as a child process: the warehouse answers from this one). */
async function runPython(statements: string[]): Promise<Outcome[]> {
  const python = execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/pydeps'), '--print'], { encoding: 'utf8' }).trim();
  assert.ok(existsSync(python), `no Python venv at ${python}: run deploy/local/bin/pydeps (needs python3 and python3-venv)`);
  const dir = mkdtempSync(join(tmpdir(), 'warehouse-errors-'));
  try {
    const plan = join(dir, 'plan.json');
    // The target holds a token: a private file, removed afterwards, never on a command line.
    writeFileSync(plan, JSON.stringify({ target: await describeTarget(warehouseTarget(wh())), statements }), { mode: 0o600 });
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: unknown }>((resolve) =>
      execFile(
        python,
        [join(REPO_ROOT, 'deploy/local/warehouse/test/errors.py'), plan],
        { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...DRIVER_ENV } },
        (err, out, errOut) => resolve({ stdout: out, stderr: errOut, code: err ? (err as { code?: unknown }).code : 0 }),
      ),
    );
    assert.equal(code, 0, `errors.py failed:\n${stderr.slice(-3000)}`);
    return stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Outcome);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each statement with the errno, SQLSTATE and message Snowflake raises for it. */
const CASES: Array<[sql: string, errno: number, sqlstate: string, msg: string]> = [
  // Division by zero: integer, decimal and float division, and a column's zero.
  ['SELECT 1/0', 100051, '22012', 'Division by zero'],
  ['SELECT 2.5 / 0', 100051, '22012', 'Division by zero'],
  ['SELECT 1::FLOAT / 0::FLOAT', 100051, '22012', 'Division by zero'],
  ['SELECT ID / (ID - ID) FROM PATIENTS WHERE ID = 1', 100051, '22012', 'Division by zero'],
  // Compilation errors, placed in the statement as sent.
  ['SELEC 1', 1003, '42000', "SQL compilation error:\nsyntax error line 1 at position 0 unexpected 'SELEC'."],
  ['SELECT ID\nFROM PATIENTS\nWHERE', 1003, '42000', "SQL compilation error:\nsyntax error line 3 at position 5 unexpected '<EOF>'."],
  ['SELECT ID FROM PATIENTS WHERE ID = = 2', 1003, '42000', "SQL compilation error:\nsyntax error line 1 at position 35 unexpected '='."],
  ['SELECT * FROM NOPE', 2003, '42S02', "SQL compilation error:\nObject 'NOPE' does not exist or not authorized."],
  ['SELECT * FROM clinical.public.nope', 2003, '42S02', "SQL compilation error:\nObject 'CLINICAL.PUBLIC.NOPE' does not exist or not authorized."],
  ['SELECT * FROM NOSCHEMA.T', 2003, '02000', "SQL compilation error:\nSchema 'CLINICAL.NOSCHEMA' does not exist or not authorized."],
  ['SELECT NOPE FROM PATIENTS', 904, '42000', "SQL compilation error: error line 1 at position 7\ninvalid identifier 'NOPE'"],
  ['SELECT ID,\n  p.nope FROM PATIENTS p', 904, '42000', "SQL compilation error: error line 2 at position 2\ninvalid identifier 'P.NOPE'"],
  ['SELECT NOFN(1)', 2140, '42601', 'SQL compilation error:\nUnknown function NOFN'],
  [
    'SELECT UPPER(1, 2)',
    1044,
    '42P13',
    "SQL compilation error: error line 1 at position 7\nInvalid argument types for function 'UPPER': (NUMBER(38,0), NUMBER(38,0))",
  ],
  [
    'SELECT FIRST_NAME, COUNT(*) FROM PATIENTS',
    1104,
    '42601',
    "SQL compilation error: error line 1 at position 7\n'FIRST_NAME' in select clause is neither an aggregate nor in the group by clause.",
  ],
  ['USE SCHEMA NOPE', 2043, '02000', 'SQL compilation error:\nObject does not exist, or operation cannot be performed.'],
  // Values that do not convert.
  ["SELECT 'abc'::INT", 100038, '22018', "Numeric value 'abc' is not recognized"],
  ["SELECT TO_NUMBER('12x')", 100038, '22018', "Numeric value '12x' is not recognized"],
  ["SELECT 'maybe'::BOOLEAN", 100037, '22018', "Boolean value 'maybe' is not recognized"],
  ["SELECT '2020-13-45'::DATE", 100040, '22007', "Date '2020-13-45' is not recognized"],
  ["SELECT 'x'::TIMESTAMP_NTZ", 100035, '22007', "Timestamp 'x' is not recognized"],
  ['SELECT 123.456::NUMBER(4,2)', 100039, '22003', "Numeric value '123.456' is out of range"],
  ['SELECT (SELECT 1 UNION ALL SELECT 2)', 90150, '22000', 'Single-row subquery returns more than one row.'],
];

test('Python snowflake-connector-python raises Snowflake’s errno, SQLSTATE and message for each failing statement', async () => {
  const outcomes = await runPython([
    ...CASES.map(([sql]) => sql),
    // DIV0/DIV0NULL divide without raising; the session stays usable after every error.
    'SELECT DIV0(1, 0), DIV0NULL(1, NULL), DIV0(NULL, 0), 7 / 2',
  ]);
  assert.equal(outcomes.length, CASES.length + 1, JSON.stringify(outcomes, null, 2));
  for (const [i, [sql, errno, sqlstate, msg]] of CASES.entries()) {
    const o = outcomes[i]!;
    assert.deepEqual(
      { error: o.error, errno: o.errno, sqlstate: o.sqlstate, msg: o.msg },
      { error: 'ProgrammingError', errno, sqlstate, msg },
      `${sql}\n${JSON.stringify(o)}`,
    );
    assert.match(o.sfqid ?? '', /^[0-9a-f-]{36}$/, `${sql}: the error names its query id`);
  }
  assert.deepEqual(outcomes.at(-1)!.rows, [['0.0', '0.0', null, '3.5']]);
});
