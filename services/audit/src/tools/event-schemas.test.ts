import assert from 'node:assert/strict';
import { test } from 'node:test';
import { committedSchemaFiles, expectedSchemaFiles } from './event-schemas-files.js';

test('docs/schemas/events is generated from proto/ and up to date', () => {
  const expected = expectedSchemaFiles();
  const committed = committedSchemaFiles();
  const drift = [...new Set([...expected.keys(), ...committed.keys()])].filter((f) => expected.get(f) !== committed.get(f)).sort();
  assert.deepEqual(drift, [], "run 'npm run build && npm run schemas:gen -w @phigate/audit' and commit docs/schemas/events");
  assert.ok(expected.has('envelope.schema.json') && expected.has('query.received.schema.json'));
});
