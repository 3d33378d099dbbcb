// Rewrites the code table of docs/errors.md from the registry (`npm run errors:docs`), so adding a
// code is one edit plus this command; the prose around the table is kept as written.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CODES } from '../codes.js';
import { HTTP_STATUS, SQLSTATE } from '../kinds.js';

const path = fileURLToPath(new URL('../../../../../docs/errors.md', import.meta.url));
const doc = readFileSync(path, 'utf8');
const lines = doc.split('\n');
const start = lines.findIndex((l) => l.startsWith('| code '));
if (start < 0) throw new Error('docs/errors.md has no "| code" table');
let end = start + 2;
while (end < lines.length && lines[end]?.startsWith('| `')) end++;
const rows = Object.entries(CODES).map(([code, spec]) => {
  const s = spec as { kind: keyof typeof HTTP_STATUS; message: string; retriable?: boolean };
  return `| \`${code}\` | ${s.kind} | ${HTTP_STATUS[s.kind]} | ${SQLSTATE[s.kind]} | ${s.retriable ? 'yes' : 'no'} | ${s.message.replaceAll('|', '\\|')} |`;
});
lines.splice(start + 2, end - start - 2, ...rows);
writeFileSync(path, lines.join('\n'));
console.log(`docs/errors.md: ${rows.length} codes (run \`npm run format\` to align the table)`);
