import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@phigate/testkit';

// A validator of OCSF records that reads the compiled OCSF 1.4.0 schema (the output of ocsf-lib's
// compiler, trimmed to the classes phigate emits: test/fixtures/ocsf-1.4.0/trim.py), not a schema
// of our own. It checks what a SIEM's OCSF ingestion checks: the class, every required attribute,
// no attribute the class or object does not define, enum values, types (with their regexes and
// ranges), the class and object constraints, and type_uid = class_uid * 100 + activity_id.

interface Attribute {
  type: string;
  requirement: 'required' | 'recommended' | 'optional';
  is_array: boolean;
  enum: Record<string, unknown> | null;
  profile: string | null;
}
interface Shape {
  uid?: number;
  attributes: Record<string, Attribute>;
  constraints?: { at_least_one?: string[]; just_one?: string[] } | null;
}
interface TypeDef {
  type: string | null;
  regex: string | null;
  range: [number, number] | null;
  max_len: number | null;
  values: unknown[] | null;
}
interface Schema {
  version: string;
  classes: Record<string, Shape>;
  objects: Record<string, Shape>;
  types: Record<string, TypeDef>;
  profiles: Record<string, { attributes: Record<string, Attribute> }>;
}

/** The compiled schema phigate's records are checked against. */
export function loadOcsfSchema(): Schema {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'services/audit/test/fixtures/ocsf-1.4.0/schema.json'), 'utf8')) as Schema;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every problem with the record, as `path: what` lines; empty when it is a valid OCSF record. */
export function ocsfProblems(schema: Schema, record: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(record)) return ['record: not a JSON object'];
  const cls = Object.values(schema.classes).find((c) => c.uid === record.class_uid);
  if (!cls) return [`class_uid: ${String(record.class_uid)} is not a class of OCSF ${schema.version} this validator holds`];
  const metadata = isObject(record.metadata) ? record.metadata : {};
  if (metadata.version !== schema.version) problems.push(`metadata.version: ${String(metadata.version)}, expected ${schema.version}`);
  const profiles = new Set(Array.isArray(metadata.profiles) ? (metadata.profiles as string[]) : []);
  for (const p of profiles) if (!schema.profiles[p]) problems.push(`metadata.profiles: unknown profile ${p}`);
  if (typeof record.activity_id === 'number' && record.type_uid !== (record.class_uid as number) * 100 + record.activity_id)
    problems.push(`type_uid: ${String(record.type_uid)} is not class_uid * 100 + activity_id`);

  // The compiled schema tags an attribute with the profile that also defines it. It is required
  // by the profile alone (cloud, osint) only where the profile itself requires it; otherwise the
  // class requires it (Datastore Activity's actor is tagged `host`, API Activity's api `cloud`).
  const required = (name: string, a: Attribute) =>
    a.requirement === 'required' && (!a.profile || profiles.has(a.profile) || schema.profiles[a.profile]?.attributes[name]?.requirement !== 'required');
  // An attribute only a profile brings may appear only when the record applies that profile.
  const profileOnly = (name: string, a: Attribute) =>
    a.profile && !profiles.has(a.profile) && schema.profiles[a.profile]?.attributes[name]?.requirement === a.requirement;

  const checkShape = (shape: Shape, value: Record<string, unknown>, path: string) => {
    for (const [name, a] of Object.entries(shape.attributes))
      if (required(name, a) && value[name] === undefined) problems.push(`${path}${name}: required, missing`);
    for (const [name, v] of Object.entries(value)) {
      const a = shape.attributes[name];
      if (!a) {
        problems.push(`${path}${name}: not an attribute here (unmapped data goes in unmapped)`);
        continue;
      }
      if (profileOnly(name, a)) problems.push(`${path}${name}: belongs to profile ${a.profile}, which metadata.profiles does not apply`);
      if (a.is_array) {
        if (!Array.isArray(v)) problems.push(`${path}${name}: expected an array`);
        else for (const [i, item] of v.entries()) checkValue(a, item, `${path}${name}[${i}]`);
      } else checkValue(a, v, `${path}${name}`);
    }
    const c = shape.constraints;
    if (c?.at_least_one && !c.at_least_one.some((n) => value[n] !== undefined))
      problems.push(`${path || 'record'}: needs at least one of ${c.at_least_one.join(', ')}`);
    if (c?.just_one && c.just_one.filter((n) => value[n] !== undefined).length !== 1)
      problems.push(`${path || 'record'}: needs exactly one of ${c.just_one.join(', ')}`);
  };

  const checkValue = (a: Attribute, v: unknown, path: string) => {
    if (a.enum && !Object.hasOwn(a.enum, String(v))) {
      problems.push(`${path}: ${JSON.stringify(v)} is not in its enum (${Object.keys(a.enum).join(', ')})`);
      return;
    }
    if (a.type === 'object') {
      if (!isObject(v)) problems.push(`${path}: expected an object`);
      return;
    }
    const obj = schema.objects[a.type];
    if (obj) {
      if (isObject(v)) checkShape(obj, v, `${path}.`);
      else problems.push(`${path}: expected a ${a.type} object`);
      return;
    }
    checkScalar(a.type, v, path);
  };

  const checkScalar = (typeName: string, v: unknown, path: string) => {
    const t = schema.types[typeName];
    if (!t) {
      problems.push(`${path}: unknown type ${typeName}`);
      return;
    }
    if (t.type) checkScalar(t.type, v, path);
    switch (typeName) {
      case 'string_t':
        if (typeof v !== 'string') problems.push(`${path}: expected a string`);
        break;
      case 'integer_t':
      case 'long_t':
        if (!Number.isInteger(v)) problems.push(`${path}: expected an integer`);
        break;
      case 'float_t':
        if (typeof v !== 'number') problems.push(`${path}: expected a number`);
        break;
      case 'boolean_t':
        if (typeof v !== 'boolean') problems.push(`${path}: expected a boolean`);
        break;
    }
    if (t.regex && typeof v === 'string' && !new RegExp(t.regex).test(v)) problems.push(`${path}: ${JSON.stringify(v)} does not match ${typeName}`);
    if (t.range && typeof v === 'number' && (v < t.range[0] || v > t.range[1])) problems.push(`${path}: ${v} is outside ${typeName}'s range`);
    if (t.max_len && typeof v === 'string' && v.length > t.max_len) problems.push(`${path}: longer than ${typeName}'s ${t.max_len}`);
  };

  checkShape(cls, record, '');
  return problems;
}
