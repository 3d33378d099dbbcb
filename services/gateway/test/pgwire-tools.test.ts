// phigate-test: stack
// The PostgreSQL wire door with the tools people point at a database: pgcli (its start-up and the
// catalog queries of its completion refresher, interactively in a terminal and with -c), dbt-postgres
// (debug, show, docs generate over a fixture project) and pandas.read_sql over SQLAlchemy with
// psycopg 3 and psycopg2. Each reads masked rows and sees only what the mapped role may read. The
// clients are pinned by deploy/local/bin/pydeps-pg (pandas and pgcli in the door's venv, dbt in one
// of its own); a missing client fails its test, naming the script. Runs against a replica this file
// starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, freePort, REPO_ROOT, type SpawnedApp, spawnApp } from '@phigate/testkit';

const run = promisify(execFile);
const PYDEPS = join(REPO_ROOT, 'deploy/local/bin/pydeps-pg');
const PHIGATE_HOME = join(REPO_ROOT, '.phigate');
let gw: SpawnedApp;
let pgPort = 0;
let etl = '';
let python = '';
let dbt = '';

before(async () => {
  const http = await freePort();
  pgPort = await freePort();
  gw = await spawnApp('gateway', 'services/gateway/dist/src/main.js', http, {
    GATEWAY_HTTP_PORT: String(http),
    GATEWAY_PG_PORT: String(pgPort),
    GATEWAY_PG_HOST: '127.0.0.1',
    GATEWAY_RATE_LIMIT_PER_MINUTE: '1000000',
    GATEWAY_RATE_LIMIT_KEY_PREFIX: `phigate:rl:pgwire-tools-test-${process.pid}:`,
    GATEWAY_REPLICA_ID: `pgwire-tools-test-${http}`,
  });
  etl = await demoToken('etl-pipeline');
  const env = { ...process.env, PHIGATE_HOME };
  // Installs the pinned clients when missing (PyPI); its own message says what is wrong when it cannot.
  await run('bash', [PYDEPS], { env }).catch((e: { stderr?: string }) => {
    throw new Error(`deploy/local/bin/pydeps-pg could not install the door's Python clients:\n${e.stderr ?? e}`);
  });
  python = (await run('bash', [PYDEPS, '--print'], { env })).stdout.trim();
  dbt = (await run('bash', [PYDEPS, '--print-dbt'], { env })).stdout.trim();
});
after(() => gw?.kill('SIGTERM'));

/** A client's executable, or a failure naming the script that installs it. */
function installed(path: string, what: string): string {
  assert.ok(existsSync(path), `${what} is not installed at ${path}: run deploy/local/bin/pydeps-pg`);
  return path;
}

/** Runs a Python script in the door's venv; its last stdout line is the JSON it reports. */
async function py<T>(script: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  const r = await run(installed(python, 'the Python venv'), ['-c', script, ...args], {
    env: { ...process.env, PHIGATE_HOME, ...env },
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((e: { stdout?: string; stderr?: string; message?: string }) => {
    throw new Error(`the Python client failed: ${e.message}\n${(e.stderr ?? '').slice(-3000)}`);
  });
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as T;
}

test("pgcli: its start-up (server version, time zone, SET TIME ZONE) and every completion refresher's catalog query through pgcli's own PGExecute see only what the role may read; a query returns masked rows", async () => {
  installed(join(python, '..', 'pgcli'), 'pgcli');
  // The refreshers pgcli runs in a background thread at start, run here in order and in the
  // foreground, so that a refused catalog query fails the test instead of a thread.
  const script = `
import json, sys
from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial
host, port, user, token = sys.argv[1:5]
ex = PGExecute("clinical-pg", user, token, host, port, application_name="pgcli", sslmode="disable")
out = {"server_version": ex.server_version, "virtual": ex.is_virtual_database(), "timezone": ex.get_timezone()}
ex.set_timezone("Asia/Tokyo")
out["local_timezone"] = ex.get_timezone()
completer = PGCompleter(smart_completion=True, pgspecial=PGSpecial(), settings={})
for name, refresh in CompletionRefresher.refreshers.items():
    refresh(completer, ex)
meta = completer.dbmetadata
out["search_path"] = completer.search_path
out["schemata"] = sorted(meta["tables"])
out["tables"] = sorted(meta["tables"]["public"])
out["patients"] = [c for c in meta["tables"]["public"]["patients"] if c != "*"]
out["references"] = sorted({(fk.childtable, fk.parenttable) for c in meta["tables"]["public"]["claims"].values() for fk in c.foreignkeys})
out["views"] = sorted(meta["views"].get("public", {}))
out["datatypes"] = sorted(meta["datatypes"].get("public", {}))
out["functions"] = len(meta["functions"].get("pg_catalog", {}))
out["databases"] = completer.databases
special = PGSpecial()
def rows(sql):
    return [[str(x) for x in row] for _, cur, _, _, *_ in ex.run(sql, pgspecial=special) if cur for row in cur]
out["rows"] = rows("SELECT id, ssn, phone FROM patients ORDER BY id LIMIT 3")
out["dt"] = [r[1] for r in rows("\\\\dt")]
out["d"] = [r[0] for r in rows("\\\\d patients")]
print(json.dumps(out))
`;
  const out = await py<Record<string, any>>(script, ['127.0.0.1', String(pgPort), 'etl-pipeline', etl]);
  assert.match(out.server_version, /^\d+\.\d+/);
  assert.equal(out.virtual, false, 'pgcli takes the door for PostgreSQL, not pgbouncer');
  assert.equal(out.local_timezone, 'Asia/Tokyo', "pgcli's SET TIME ZONE (a quoted identifier) is applied");
  assert.deepEqual(out.search_path, ['pg_catalog', 'public']);
  assert.deepEqual(out.schemata, ['information_schema', 'pg_catalog', 'public']);
  assert.deepEqual(out.tables, ['claims', 'encounters', 'patients'], 'demo_meta, which clinical_reader may not read, is not offered');
  assert.deepEqual(out.patients, ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes']);
  assert.deepEqual(out.references, [
    ['claims', 'encounters'],
    ['claims', 'patients'],
  ]);
  assert.deepEqual(out.views, []);
  assert.deepEqual(out.datatypes, [], "no type of the public schema, not even demo_meta's row or array type");
  assert.ok(out.functions > 100, 'the built-in functions complete');
  assert.equal(out.databases.length, 1, "only the connection's own database is listed");
  assert.deepEqual(
    out.rows.map((r: string[]) => r.slice(0, 2)),
    [
      ['1', '[REDACTED]'],
      ['2', '[REDACTED]'],
      ['3', '[REDACTED]'],
    ],
  );
  assert.match(out.rows[0][2], /^[*() -]+\d{4}$/, 'the phone keeps its last four digits');
  assert.deepEqual(out.dt, ['claims', 'encounters', 'patients']);
  assert.ok(out.d.includes('ssn'), `\\d patients: ${out.d}`);
});

test('pgcli in a terminal: interactive start-up (local time zone, completions from its background refresher: a table name completes), a masked query, \\q; and -c', async (t) => {
  const pgcli = installed(join(python, '..', 'pgcli'), 'pgcli');
  const home = mkdtempSync(join(tmpdir(), 'pgcli-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // pgcli in a pseudo-terminal, driven as a person would: wait for the prompt, press Tab after a table
  // name's start until the refreshed completer offers the table (the refresher's thread swaps it in
  // only after every catalog query succeeded), run a query, quit.
  const script = `
import json, os, pty, re, select, sys, time
pgcli, host, port, user, token = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(PGPASSWORD=token, PAGER="cat", TERM="xterm", TZ="Asia/Tokyo")
    os.execv(pgcli, [pgcli, "--less-chatty", "-h", host, "-p", port, "-U", user, "-d", "clinical-pg"])
buf = b""
def screen(start=0):
    return re.sub(rb"\\x1b\\[[0-9;?]*[A-Za-z]", b"", buf[start:]).decode(errors="replace")
def wait_for(pattern, seconds, start=0):
    global buf
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if re.search(pattern, screen(start)):
            return True
        if select.select([fd], [], [], 0.2)[0]:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                return False
    return False
out = {"prompt": wait_for(r"clinical-pg>", 60)}
out["completed"] = False
for _ in range(60):
    start = len(buf)
    os.write(fd, b"SELECT id FROM pati\\t")
    if wait_for(r"patients", 1, start):
        out["completed"] = True
        break
    os.write(fd, b"\\x15")
os.write(fd, b"\\x15SELECT id, ssn FROM patients ORDER BY id LIMIT 2\\r")
out["rows"] = wait_for(r"SELECT 2", 60)
os.write(fd, b"\\\\q\\r")
_, status = os.waitpid(pid, 0)
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
out["exit"] = os.waitstatus_to_exitcode(status)
out["screen"] = screen()
print(json.dumps(out))
`;
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
  const out = await py<{ prompt: boolean; completed: boolean; rows: boolean; exit: number; screen: string }>(
    script,
    [pgcli, '127.0.0.1', String(pgPort), 'etl-pipeline', etl],
    env,
  );
  const tail = `pgcli's screen:\n${out.screen.slice(-3000)}`;
  assert.ok(out.prompt, `pgcli did not reach its prompt. ${tail}`);
  assert.match(out.screen, /Using local time zone Asia\/Tokyo/, tail);
  assert.ok(out.completed, `the completion refresher did not load the tables. ${tail}`);
  assert.ok(out.rows, `the query did not complete. ${tail}`);
  assert.match(out.screen, /\|\s*1\s*\|\s*\[REDACTED\]\s*\|/, tail);
  assert.match(out.screen, /\|\s*2\s*\|\s*\[REDACTED\]\s*\|/, tail);
  assert.doesNotMatch(out.screen, /Traceback|Exception|denied by policy/i, tail);
  assert.equal(out.exit, 0, tail);
  const log = readFileSync(join(home, '.config', 'pgcli', 'log'), 'utf8');
  assert.doesNotMatch(log, / ERROR /, `pgcli logged an error:\n${log.slice(-3000)}`);

  // -c: statement by statement, a backslash command among them, then exit.
  const c = await run(
    pgcli,
    [
      '--less-chatty',
      '-h',
      '127.0.0.1',
      '-p',
      String(pgPort),
      '-U',
      'etl-pipeline',
      '-d',
      'clinical-pg',
      '-c',
      'SELECT id, ssn FROM patients WHERE id = 4',
      '-c',
      '\\dt',
    ],
    {
      env: { ...process.env, ...env, PGPASSWORD: etl, TZ: 'UTC' },
      timeout: 120_000,
    },
  );
  assert.match(c.stdout, /\|\s*4\s*\|\s*\[REDACTED\]\s*\|/, c.stdout);
  assert.deepEqual(
    [...c.stdout.matchAll(/^\|\s*public\s*\|\s*(\w+)\s*\|\s*table\s*\|/gm)].map((m) => m[1]),
    ['claims', 'encounters', 'patients'],
  );
});

test('dbt-postgres: dbt debug connects; dbt show of a model and of inline SQL over a source returns masked rows; dbt docs generate reads the filtered catalog', async (t) => {
  installed(dbt, 'dbt (dbt-core with dbt-postgres)');
  const work = mkdtempSync(join(tmpdir(), 'dbt-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const project = join(work, 'project');
  cpSync(join(REPO_ROOT, 'services/gateway/test/fixtures/dbt'), project, { recursive: true });
  const env = {
    ...process.env,
    PHIGATE_PG_PORT: String(pgPort),
    PHIGATE_TOKEN: etl,
    DBT_PROFILES_DIR: project,
    DBT_PROJECT_DIR: project,
    DBT_TARGET_PATH: join(work, 'target'),
    DBT_LOG_PATH: join(work, 'logs'),
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DBT_VERSION_CHECK: 'false',
    DBT_USE_COLORS: 'false',
    DBT_PARTIAL_PARSE: 'false',
  };
  const dbtRun = (args: string[]) =>
    run(dbt, args, { env, cwd: project, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 }).catch((e: { stdout?: string; message?: string }) => {
      const log = existsSync(join(work, 'logs', 'dbt.log')) ? readFileSync(join(work, 'logs', 'dbt.log'), 'utf8') : '';
      throw new Error(`dbt ${args[0]} failed: ${e.message}\n${(e.stdout ?? '').slice(-3000)}\ndbt.log:\n${log.slice(-4000)}`);
    });
  const debug = await dbtRun(['debug']);
  assert.match(debug.stdout, /Connection test: \[OK connection ok\]/, debug.stdout);
  assert.match(debug.stdout, /All checks passed!/, debug.stdout);

  /** The rows of `dbt show`, from its structured log (the ShowNode event's preview). */
  const show = async (args: string[]) => {
    const r = await dbtRun(['show', '--log-format', 'json', '--output', 'json', ...args]);
    const events = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { info: { name: string }; data: { preview?: string } });
    const node = events.find((e) => e.info.name === 'ShowNode');
    assert.ok(node?.data.preview, `dbt show printed no rows:\n${r.stdout.slice(-3000)}`);
    return JSON.parse(node.data.preview) as Array<Record<string, unknown>>;
  };
  assert.deepEqual(await show(['--select', 'patient_ssns', '--limit', '3']), [
    { id: 1, ssn: '[REDACTED]' },
    { id: 2, ssn: '[REDACTED]' },
    { id: 3, ssn: '[REDACTED]' },
  ]);
  assert.deepEqual(
    await show(['--inline', "select id, ssn, phone from {{ source('clinical', 'patients') }} where id = 5", '--limit', '1']).then((rows) =>
      rows.map((r) => [r.id, r.ssn]),
    ),
    [[5, '[REDACTED]']],
  );

  await dbtRun(['docs', 'generate']);
  const catalog = JSON.parse(readFileSync(join(work, 'target', 'catalog.json'), 'utf8')) as {
    sources: Record<string, { columns: Record<string, unknown>; metadata: { type: string } }>;
    errors: unknown;
  };
  assert.equal(catalog.errors ?? null, null);
  assert.deepEqual(
    Object.keys(catalog.sources),
    ['source.phigate_door.clinical.patients'],
    'demo_meta, which clinical_reader may not read, is not in the catalog',
  );
  const patients = catalog.sources['source.phigate_door.clinical.patients']!;
  assert.equal(patients.metadata.type, 'BASE TABLE');
  assert.deepEqual(Object.keys(patients.columns), ['id', 'mrn', 'first_name', 'last_name', 'ssn', 'dob', 'zip', 'phone', 'email', 'notes']);
});

test('pandas.read_sql over SQLAlchemy (psycopg 3 and psycopg2): masked rows with their dtypes, bound parameters, read_sql_table, chunks (also from a stream_results connection), a denial', async () => {
  const script = `
import json, sys
import pandas as pd
from sqlalchemy import create_engine, text
host, port, user, token = sys.argv[1:5]
out = {}
for driver in ("psycopg", "psycopg2"):
    eng = create_engine(f"postgresql+{driver}://{user}@{host}:{port}/clinical-pg", connect_args={"password": token, "sslmode": "disable"})
    r = {}
    df = pd.read_sql("SELECT id, ssn FROM patients ORDER BY id LIMIT 3", eng)
    r["rows"] = df.values.tolist()
    r["dtypes"] = [str(t) for t in df.dtypes]
    r["params"] = pd.read_sql(text("SELECT id, ssn, phone FROM patients WHERE id = :id"), eng, params={"id": 2}).values.tolist()
    r["table"] = pd.read_sql_table("patients", eng, columns=["id", "ssn"]).sort_values("id").head(2).values.tolist()
    r["chunks"] = [len(c) for c in pd.read_sql("SELECT id, ssn FROM patients WHERE id <= 5 ORDER BY id", eng, chunksize=2)]
    # read_sql first asks whether the query is a table name; a text() clause fails that look-up in the
    # driver, which then closes the server-side cursor it never declared (looking it up in pg_cursors).
    with eng.connect() as c:
        c = c.execution_options(stream_results=True)
        r["stream"] = [c2.values.tolist() for c2 in pd.read_sql(text("SELECT id, ssn FROM patients WHERE id <= 3 ORDER BY id"), c, chunksize=2)]
    try:
        pd.read_sql("SELECT * FROM demo_meta", eng)
        r["denied"] = None
    except Exception as e:
        orig = getattr(e, "orig", e)
        r["denied"] = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    out[driver] = r
    eng.dispose()
print(json.dumps(out))
`;
  const out = await py<Record<string, unknown>>(script, ['127.0.0.1', String(pgPort), 'etl-pipeline', etl]);
  for (const driver of ['psycopg', 'psycopg2']) {
    const r = out[driver] as Record<string, any>;
    assert.deepEqual(
      r.rows,
      [
        [1, '[REDACTED]'],
        [2, '[REDACTED]'],
        [3, '[REDACTED]'],
      ],
      driver,
    );
    assert.deepEqual(r.dtypes, ['int64', 'object'], driver);
    assert.equal(r.params.length, 1, driver);
    assert.deepEqual(r.params[0].slice(0, 2), [2, '[REDACTED]'], driver);
    assert.match(r.params[0][2], /^[*() -]+\d{4}$/, driver);
    assert.deepEqual(
      r.table,
      [
        [1, '[REDACTED]'],
        [2, '[REDACTED]'],
      ],
      driver,
    );
    assert.deepEqual(r.chunks, [2, 2, 1], driver);
    assert.deepEqual(
      r.stream,
      [
        [
          [1, '[REDACTED]'],
          [2, '[REDACTED]'],
        ],
        [[3, '[REDACTED]']],
      ],
      driver,
    );
    assert.equal(r.denied, '42501', driver);
  }
});
