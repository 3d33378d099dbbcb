// Regenerates docs/schemas/events/*.schema.json from proto/ (`npm run schemas:gen -w @phigate/audit`).
// With --check, fails when the committed files have drifted instead of writing.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { committedSchemaFiles, expectedSchemaFiles, SCHEMA_DIR } from './event-schemas-files.js';

const expected = expectedSchemaFiles();
const committed = committedSchemaFiles();
if (process.argv.includes('--check')) {
  const drift = [...new Set([...expected.keys(), ...committed.keys()])].filter((f) => expected.get(f) !== committed.get(f));
  if (drift.length) {
    process.stderr.write(`event schemas are out of date (${drift.join(', ')}): run 'npm run schemas:gen -w @phigate/audit'\n`);
    process.exit(1);
  }
  process.stderr.write('event schemas are up to date\n');
} else {
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const f of committed.keys()) if (!expected.has(f)) rmSync(join(SCHEMA_DIR, f));
  for (const [f, text] of expected) writeFileSync(join(SCHEMA_DIR, f), text);
  process.stderr.write(`wrote ${expected.size} schemas to docs/schemas/events\n`);
}
