import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@phigate/testkit';
import { comments, fieldsOf, render, SERVICES } from './config-reference.js';

test('docs/configuration.md is what the config schemas say (run npm run docs:config)', async () => {
  // Compare after the same formatting the committed file had.
  const formatted = execFileSync(join(REPO_ROOT, 'node_modules/.bin/biome'), ['format', '--stdin-file-path=configuration.md'], {
    input: await render(),
    encoding: 'utf8',
    cwd: REPO_ROOT,
  });
  assert.equal(readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8'), formatted);
});

test('every variable a service validates is documented with a meaning', async () => {
  for (const s of SERVICES) {
    const undocumented = (await fieldsOf(s)).filter((f) => !f.meaning).map((f) => f.key);
    assert.deepEqual(undocumented, [], `services/${s.name}/src/config.ts: add a doc comment above these`);
  }
});

test("a doc comment above a helper does not become the next key's meaning", () => {
  const source = [
    '/** A helper. */',
    'const helper = () => 1;',
    'export const schema = z.object({',
    '  OTHER: x,',
    '  /** The key. */',
    '  KEY: y,',
    '});',
  ].join('\n');
  assert.deepEqual([...comments(source)], [['KEY', 'The key.']]);
});

test('every documented meaning is prose, not source text', async () => {
  for (const s of SERVICES) for (const f of await fieldsOf(s)) assert.doesNotMatch(f.meaning, /\*\/|=>/, `services/${s.name}: ${f.key}`);
});
