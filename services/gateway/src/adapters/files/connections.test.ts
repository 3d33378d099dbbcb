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
