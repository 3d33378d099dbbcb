import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEvent, EVENT_TYPES, type EventType } from '@phigate/bus';
import { type DescriptorSet, type EventTypeSpec, eventSchemas } from '../domain/event-schemas.js';

/** The repository root (this file runs from services/audit/dist). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'turbo.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (turbo.json)');
    dir = up;
  }
  return dir;
})();

/** Where the published schemas live. */
export const SCHEMA_DIR = join(REPO_ROOT, 'docs/schemas/events');

/** Every event type with its detail key and the OCSF class @phigate/bus puts on it. */
export function eventTypeSpecs(): EventTypeSpec[] {
  const ctx = { requestId: 'x', frontDoor: 'http', producer: 'schema' };
  return (Object.keys(EVENT_TYPES) as EventType[]).map((type) => {
    const o = buildEvent(type, ctx, {} as never).ocsf;
    if (!o) throw new Error(`event type ${type} carries no OCSF class`);
    return { type, detailKey: EVENT_TYPES[type], ocsf: { classUid: o.classUid, className: o.className, categoryUid: o.categoryUid, activityId: o.activityId } };
  });
}

/** The schema files as they should be, from proto/ (runs buf; no network). */
export function expectedSchemaFiles(): Map<string, string> {
  const buf = join(REPO_ROOT, 'node_modules/.bin/buf');
  const json = execFileSync(buf, ['build', 'proto', '-o', '-#format=json'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const schemas = eventSchemas(JSON.parse(json) as DescriptorSet, eventTypeSpecs());
  return new Map([...schemas].map(([name, s]) => [name, `${JSON.stringify(s, null, 2)}\n`]));
}

/** The schema files as committed. */
export function committedSchemaFiles(): Map<string, string> {
  if (!existsSync(SCHEMA_DIR)) return new Map();
  return new Map(
    readdirSync(SCHEMA_DIR)
      .filter((f) => f.endsWith('.schema.json'))
      .map((f) => [f, readFileSync(join(SCHEMA_DIR, f), 'utf8')]),
  );
}
