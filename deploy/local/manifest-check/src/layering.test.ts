/**
 * The layering rules of biome.json (issue 23): a service's `src/domain` imports no transport or
 * adapter, and `packages/*` import no service or deploy folder. Biome lints fixture files laid out
 * like the repository in a temporary folder, with the repository's own biome.json.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from './checks.js';

interface Diagnostic {
  category: string;
  message: string;
  location: { path: string };
}

const dir = mkdtempSync(join(tmpdir(), 'phigate-layering-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Lints `files` (path → source) laid out under a copy of the repository's biome.json; the restricted-import findings. */
function lint(files: Record<string, string>): Diagnostic[] {
  const root = mkdtempSync(join(dir, 'tree-'));
  copyFileSync(join(ROOT, 'biome.json'), join(root, 'biome.json'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  let out: string;
  try {
    out = execFileSync(join(ROOT, 'node_modules/.bin/biome'), ['lint', '--reporter=json', '.'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    out = (err as { stdout: string }).stdout; // biome exits 1 when it reports an error
  }
  const report = JSON.parse(out) as { diagnostics: Diagnostic[] };
  return report.diagnostics.filter((d) => d.category === 'lint/style/noRestrictedImports');
}

/** The files with at least one finding, sorted. */
const flagged = (found: Diagnostic[]): string[] => [...new Set(found.map((d) => d.location.path))].sort();

const use = (names: string) => `\nexport const used = [${names}];\n`;

test('a domain module that imports a transport or an adapter fails the lint', () => {
  const found = lint({
    'services/gateway/src/domain/kafka.ts': `import { Kafka } from 'kafkajs';\n${use('Kafka')}`,
    'services/policy/src/domain/grpc.ts': `import * as grpc from '@grpc/grpc-js';\n${use('grpc')}`,
    'services/audit/src/domain/pg.ts': `import pg from 'pg';\n${use('pg')}`,
    'services/approval/src/domain/http.ts': `import { createServer } from 'node:http';\n${use('createServer')}`,
    'services/gateway/src/domain/adapter.ts': `import { PolicyClient } from '../adapters/grpc/policy-client.js';\n${use('PolicyClient')}`,
    'services/masking/src/domain/proto.ts': `import { Strategy } from '@phigate/proto';\n${use('Strategy')}`,
  });
  assert.deepEqual(flagged(found), [
    'services/approval/src/domain/http.ts',
    'services/audit/src/domain/pg.ts',
    'services/gateway/src/domain/adapter.ts',
    'services/gateway/src/domain/kafka.ts',
    'services/masking/src/domain/proto.ts',
    'services/policy/src/domain/grpc.ts',
  ]);
  assert.match(found[0]!.message, /domain is the pure core/);
});

test('a package that imports a service or a deploy folder fails the lint', () => {
  const found = lint({
    'packages/testkit/src/service.ts': `import { buildApp } from '@phigate/gateway';\n${use('buildApp')}`,
    'packages/testkit/src/deploy.ts': `import { loadDevIdentities } from '@phigate/dev-idp/clients';\n${use('loadDevIdentities')}`,
    'packages/sql/src/relative.ts': `import { x } from '../../../services/gateway/src/domain/types.js';\n${use('x')}`,
  });
  assert.deepEqual(flagged(found), ['packages/sql/src/relative.ts', 'packages/testkit/src/deploy.ts', 'packages/testkit/src/service.ts']);
  assert.match(found[0]!.message, /never import a service or a deploy folder/);
});

test('the allowed directions pass: adapters use transports, domain uses packages, packages use packages', () => {
  const found = lint({
    'services/gateway/src/adapters/kafka/audit.ts': `import { Kafka } from 'kafkajs';\nimport { Strategy } from '@phigate/proto';\n${use('Kafka, Strategy')}`,
    'services/gateway/src/domain/query.ts': `import { AppError } from '@phigate/errors';\nimport { createHash } from 'node:crypto';\nimport { x } from './types.js';\n${use('AppError, createHash, x')}`,
    'packages/bus/src/producer.ts': `import { Kafka } from 'kafkajs';\nimport { AppError } from '@phigate/errors';\n${use('Kafka, AppError')}`,
    'services/gateway/src/app.ts': `import { createServer } from 'node:http';\n${use('createServer')}`,
  });
  assert.deepEqual(found, []);
});
