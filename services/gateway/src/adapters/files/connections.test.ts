import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@phigate/telemetry';
import { BindingsFile, loadConnectionsFile } from './connections.js';

const silent = createLogger({ service: 'test', level: 'silent' });

test('a broken bindings edit keeps the previous bindings in force; a good one replaces them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bindings-'));
  const file = join(dir, 'connections.yaml');
  writeFileSync(file, 'bindings:\n  - groups: [etl]\n    connections: { clinical-pg: clinical_reader }\n');
  const b = new BindingsFile(file, dir, silent, loadConnectionsFile(file, dir).bindings);
  writeFileSync(file, 'bindings:\n  - groups: [etl]\n    connections: { clinical-pg: "robert; drop table" }\n');
  assert.equal(b.reload(), false);
  assert.deepEqual(b.bindings[0]?.connections, { 'clinical-pg': 'clinical_reader' });
  writeFileSync(file, 'bindings:\n  - groups: [etl]\n    connections: { clinical-pg: analytics_reader }\n');
  assert.equal(b.reload(), true);
  assert.deepEqual(b.bindings[0]?.connections, { 'clinical-pg': 'analytics_reader' });
});

test('the connections file reports every problem at once and never holds an inline password', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conns-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, 'connections:\n  - name: Bad\n    type: oracle\n    password: inline\nbindings:\n  - connections: {}\n');
  assert.throws(
    () => loadConnectionsFile(file, dir),
    (err: { details: { problems: string[] } }) => err.details.problems.length >= 3,
  );
});

test('PostgreSQL connections are verify-full by default; plaintext or unverified TLS only to loopback unless the entry says plaintext', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conns-tls-'));
  writeFileSync(join(dir, 'pw'), 'secret\n');
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
  const file = join(dir, 'c.yaml');
  const entry = (name: string, host: string, extra: string) =>
    `  - { name: ${name}, type: postgresql, host: ${host}, port: 5432, database: d, user: u, passwordFile: pw${extra} }\n`;
  const load = (...entries: string[]) => {
    writeFileSync(file, `connections:\n${entries.join('')}`);
    try {
      return { seeds: loadConnectionsFile(file, dir).seeds, problems: [] as string[] };
    } catch (err) {
      return { seeds: [], problems: (err as { details: { problems: string[] } }).details.problems };
    }
  };
  const ok = load(entry('a', 'db.internal', ', sslRootCertFile: ca.pem'), entry('b', '127.0.0.1', ', sslMode: disable'), entry('c', 'db.internal', ''));
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(
    ok.seeds.map((s) => [s.definition.name, s.definition.sslMode, s.definition.sslRootCertFile]),
    [
      ['a', 'verify-full', 'ca.pem'],
      ['b', 'disable', undefined],
      ['c', 'verify-full', undefined],
    ],
  );
  assert.deepEqual(load(entry('d', 'db.internal', ', sslMode: disable, plaintext: true')).problems, []);
  const bad = load(
    entry('e', 'db.internal', ', sslMode: disable'),
    entry('f', '10.0.0.7', ', sslMode: require'),
    entry('g', 'db.internal', ', sslRootCertFile: missing.pem'),
    entry('h', 'db.internal', ', sslMode: verify-ca'),
    entry('i', 'db.internal', ', plaintext: true'),
  ).problems;
  assert.match(bad[0]!, /connection e: sslMode disable: refused, db\.internal:5432 is not a loopback address/);
  assert.match(bad[1]!, /connection f: sslMode require: refused, 10\.0\.0\.7:5432 is not a loopback address/);
  assert.match(bad[2]!, /connection g: sslRootCertFile: cannot read missing\.pem \(ENOENT\)/);
  assert.match(bad[3]!, /connection h: sslMode verify-ca: needs sslRootCertFile/);
  assert.match(bad[4]!, /connection i: plaintext: set together with sslMode verify-full; choose one/);
  assert.equal(bad.length, 5);
});
