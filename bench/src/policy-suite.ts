import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { CachingPolicy } from '@phigate/gateway/decision-cache';
import { type GrpcTls, grpcChannelCredentials, policyV1 } from '@phigate/proto';
import { Catalog, type CatalogColumn, createAnalyser } from '@phigate/sql';
import { need, REPO_ROOT } from '@phigate/testkit';
import { parse } from 'yaml';
import { ECHO_DEFINITION } from './echo-definition.js';
import { summarise, timeEach } from './stats.js';

interface Case {
  sql: string;
  identity: { subject: string; groups: string[] };
}

/** Decision latency (analysis + policy RPC), cold and cached, and analysis cost, against a bare gRPC round trip. */
export async function policyBench(iterations: number) {
  const suite = parse(readFileSync(join(REPO_ROOT, 'deploy/local/policies/tests/demo.yaml'), 'utf8')) as {
    catalog: { database: string; tables: Record<string, string[]> };
    cases: Case[];
  };
  const cols: CatalogColumn[] = [];
  for (const [t, [q, columns]] of Object.entries(suite.catalog.tables).entries()) {
    const [schema, table] = q.split('.');
    for (const [i, column] of columns.entries()) cols.push({ tableOid: t + 1, schema: schema!, table: table!, attnum: i + 1, column });
  }
  const catalog = new Catalog(suite.catalog.database, cols);
  const corpus = suite.cases;
  const analyser = await createAnalyser();

  // The stack's internal links are mutual TLS: the bench presents the tools certificate, and the
  // baseline runs over the same TLS, so the ratios show the policy work, not the transport.
  const tls: GrpcTls = {
    INTERNAL_TLS_CA_FILE: need('INTERNAL_TLS_CA_FILE'),
    INTERNAL_TLS_CERT_FILE: need('INTERNAL_TLS_CERT_FILE'),
    INTERNAL_TLS_KEY_FILE: need('INTERNAL_TLS_KEY_FILE'),
    INTERNAL_TLS_REFRESH_MS: 60_000,
    INTERNAL_PLAINTEXT: false,
  };

  // Baseline: a bare gRPC unary round trip (~200 B) to another process.
  const echo = spawn(process.execPath, [fileURLToPath(new URL('./echo-server.js', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      INTERNAL_TLS_CA_FILE: tls.INTERNAL_TLS_CA_FILE,
      INTERNAL_TLS_CERT_FILE: tls.INTERNAL_TLS_CERT_FILE,
      INTERNAL_TLS_KEY_FILE: tls.INTERNAL_TLS_KEY_FILE,
    },
  });
  const port = await new Promise<number>((resolve) => echo.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const Echo = makeGenericClientConstructor(ECHO_DEFINITION, 'Echo');
  const echoClient = new Echo(`127.0.0.1:${port}`, grpcChannelCredentials(tls)) as unknown as {
    echo(req: Buffer, cb: (e: Error | null, r: Buffer) => void): void;
    close(): void;
  };
  const payload = Buffer.alloc(200, 1);
  const grpcRtt = summarise(await timeEach(iterations, 500, () => new Promise((res, rej) => echoClient.echo(payload, (e, r) => (e ? rej(e) : res(r))))));
  echoClient.close();
  echo.kill('SIGTERM');

  // Analysis alone: PostgreSQL's own parser over the corpus (every statement parsed each time).
  const analysis = summarise(await timeEach(iterations, 500, (i) => analyser(corpus[i % corpus.length]!.sql, 'postgresql', catalog, 'public')));
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - t0 < 1_000_000_000n) analyser(corpus[n++ % corpus.length]!.sql, 'postgresql', catalog, 'public');
  const analysisPerSec = n;

  // Decisions through the real policy service.
  const client = new policyV1.PolicyServiceClient(need('POLICY_GRPC_ADDR'), grpcChannelCredentials(tls));
  const rpc = {
    evaluate: (req: Parameters<CachingPolicy['evaluate']>[0]) =>
      new Promise<Awaited<ReturnType<CachingPolicy['evaluate']>>>((resolve, reject) =>
        client.evaluate({ ...req, purpose: req.purpose ?? '', analysis: req.analysis }, (err, res) =>
          err
            ? reject(err)
            : resolve({ ...res, action: 'allow', maskingPlan: { columns: [], unknownSourceStrategy: 'none' } } as unknown as Awaited<
                ReturnType<CachingPolicy['evaluate']>
              >),
        ),
      ),
  };
  const request = (c: Case) => ({
    requestId: 'bench',
    identity: { subject: c.identity.subject, clientId: c.identity.subject, groups: c.identity.groups, issuer: 'bench' },
    connection: 'clinical-pg',
    role: 'bench',
    frontDoor: 'http',
    analysis: analyser(c.sql, 'postgresql', catalog, 'public'),
  });
  const cold = summarise(await timeEach(iterations, 200, (i) => rpc.evaluate(request(corpus[i % corpus.length]!))));
  // Cached: the gateway's decision cache (analysis cached by text is a Map lookup on top).
  const cache = new CachingPolicy(rpc, 10_000);
  const revision = await new Promise<string>((resolve) => {
    const call = client.watchRevision({});
    call.once('data', (m: { revision: string }) => {
      resolve(m.revision);
      call.cancel();
    });
    call.on('error', () => {});
  });
  cache.revisionChanged(revision);
  const analysed = corpus.map(request);
  const warm = summarise(await timeEach(iterations, corpus.length, (i) => cache.evaluate(analysed[i % analysed.length]!)));
  client.close();

  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return {
    corpusStatements: corpus.length,
    grpcRoundTrip: grpcRtt,
    analysis: { ...analysis, perSecond: analysisPerSec, p50VsGrpcRoundTrip: ratio(analysis.p50Us, grpcRtt.p50Us) },
    decisionCold: { ...cold, p50VsGrpcRoundTrip: ratio(cold.p50Us, grpcRtt.p50Us), p99VsGrpcRoundTrip: ratio(cold.p99Us, grpcRtt.p99Us) },
    decisionCached: { ...warm, p50VsGrpcRoundTrip: ratio(warm.p50Us, grpcRtt.p50Us), hitRate: ratio(cache.hits, cache.hits + cache.misses) },
    targets: {
      coldDecisionP50Ms: { target: 2, measured: cold.p50Us / 1000, met: cold.p50Us <= 2000 },
      coldDecisionP99Ms: { target: 10, measured: cold.p99Us / 1000, met: cold.p99Us <= 10_000 },
    },
  };
}
