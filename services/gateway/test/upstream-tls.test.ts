// phigate-test: stack
// Issue 18 item 4: the gateway's PostgreSQL links verify the server (sslmode verify-full with the
// stack's dev CA), and a server certificate from another CA is refused before anything is sent.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { createLogger } from '@phigate/telemetry';
import { demoToken, eventually, foreignCertificate, freePort, need, REPO_ROOT } from '@phigate/testkit';
import pg from 'pg';
import type { PgSslMode } from '../src/adapters/postgres/tls.js';
import { PostgresUpstream } from '../src/adapters/postgres/upstream.js';
import type { UpstreamConnection } from '../src/adapters/store/connection-registry.js';

const silent = createLogger({ service: 'test', level: 'silent' });

/** A CA of its own, which signed nothing the local PostgreSQL presents. */
const otherCa = () => foreignCertificate().INTERNAL_TLS_CA_FILE;

function upstream(sslRootCertFile: string, sslMode: PgSslMode = 'verify-full') {
  const c: UpstreamConnection = {
    name: 'tls-probe',
    type: 'postgresql',
    dialect: 'postgresql',
    host: need('PG_HOST'),
    port: Number(need('PG_PORT')),
    database: 'clinical',
    user: 'phigate_gateway',
    password: readFileSync(join(need('PHIGATE_HOME'), 'secrets/clinical_gateway_password'), 'utf8').trim(),
    defaultSchema: 'public',
    poolMax: 2,
    statementTimeoutMs: 10_000,
    version: 1,
    sslMode,
    sslRootCertFile,
  };
  return new PostgresUpstream(() => new Map([[c.name, c]]), silent, '/nonexistent');
}

function recordingSink() {
  const seen: string[] = [];
  return {
    seen,
    sink: {
      columns: async () => {
        seen.push('columns');
      },
      rows: async () => {
        seen.push('rows');
        return true;
      },
    },
  };
}

test('the upstream link is verify-full against the dev CA, and runs statements over TLS', async (t) => {
  const up = upstream(need('PG_TLS_CA_FILE'));
  t.after(() => up.close());
  assert.equal(await up.ping(), true, 'readiness: the upstream answers over verified TLS');
  const { sink, seen } = recordingSink();
  const r = await up.execute('tls-probe', 'clinical_reader', 'select 1', [], sink as never, {
    transaction: false,
  });
  assert.equal(r.rowCount, 1);
  assert.deepEqual(seen, ['columns', 'rows']);
});

test('a server certificate from another CA is refused: nothing runs, readiness says the upstream is down', async (t) => {
  const up = upstream(otherCa());
  t.after(() => up.close());
  const { sink, seen } = recordingSink();
  const err = await up.execute('tls-probe', 'clinical_reader', 'select 1', [], sink as never, { transaction: false }).then(
    () => assert.fail('a statement ran over a link whose server was not verified'),
    (e: unknown) => e,
  );
  assert.ok(isAppError(err));
  assert.equal(err.code, 'GATEWAY_UPSTREAM_UNAVAILABLE');
  assert.match(String(err.details.tls), /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  assert.match(err.message, /TLS was refused .*nothing was run/);
  assert.deepEqual(seen, [], 'no column or row reached the sink');
  assert.equal(await up.ping(), false);
});

test('URL links (control database, audit store): sslmode=verify-full with another CA is refused by node-postgres', async () => {
  // The semantics the config checks rely on (pg-connection-string 2.x): the URL's sslrootcert is the
  // only trust anchor and the chain is verified.
  const url = new URL(need('GATEWAY_DATABASE_URL'));
  assert.equal(url.searchParams.get('sslmode'), 'verify-full', 'the stack gives the gateway a verify-full control database URL');
  url.searchParams.set('sslrootcert', otherCa());
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await assert.rejects(client.connect(), (e: { code?: string }) => /CERT|UNABLE_TO/.test(String(e.code)));
  const good = new pg.Client({ connectionString: need('GATEWAY_DATABASE_URL'), connectionTimeoutMillis: 5000 });
  await good.connect();
  try {
    const r = await good.query<{ ssl: boolean }>('select ssl from pg_catalog.pg_stat_ssl where pid = pg_backend_pid()');
    assert.equal(r.rows[0]?.ssl, true);
  } finally {
    await good.end();
  }
});

test('a gateway whose control database presents a certificate from another CA does not start, and says why', async () => {
  const url = new URL(need('GATEWAY_DATABASE_URL'));
  url.searchParams.set('sslrootcert', otherCa());
  const stackEnv = execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/stack'), 'app-env', 'gateway'], { encoding: 'utf8' });
  const env = Object.fromEntries(stackEnv.split('\n').flatMap((l) => (l.includes('=') ? [[l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]] : [])));
  const gw = spawnSync(process.execPath, [join(REPO_ROOT, 'services/gateway/dist/src/main.js')], {
    env: { ...env, GATEWAY_HTTP_PORT: String(await freePort()), GATEWAY_PG_PORT: '0', GATEWAY_AUDIT_OUTBOX_DIR: '', GATEWAY_DATABASE_URL: url.toString() },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(gw.status, 1, gw.stderr);
  assert.match(gw.stderr, /"code":"GATEWAY_REGISTRY_UNAVAILABLE".*TLS was refused \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)/);
});

test('every link the stack’s services hold to PostgreSQL is TLS (upstream, control database, audit store)', async (t) => {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await demoToken('etl-pipeline')}` },
    body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id FROM patients LIMIT 1' }),
  });
  assert.equal(res.status, 200, await res.text());
  const admin = new pg.Client({ connectionString: need('PG_ADMIN_URL') });
  await admin.connect();
  t.after(() => admin.end());
  // The upstream pools name themselves phigate[:<role>]; the control and audit logins are phigate's alone.
  const backends = await eventually('a session of each phigate login', async () => {
    const r = await admin.query<{ usename: string; ssl: boolean }>(
      `select a.usename, s.ssl from pg_catalog.pg_stat_activity a join pg_catalog.pg_stat_ssl s using (pid)
       where a.usename in ('phigate_control', 'phigate_audit') or (a.usename = 'phigate_gateway' and a.application_name like 'phigate%')`,
    );
    const users = new Set(r.rows.map((x) => x.usename));
    return ['phigate_gateway', 'phigate_control', 'phigate_audit'].every((u) => users.has(u)) ? r.rows : undefined;
  });
  assert.deepEqual(
    backends.filter((b) => !b.ssl),
    [],
  );
});
