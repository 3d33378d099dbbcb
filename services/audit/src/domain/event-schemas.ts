// JSON Schema (draft 2020-12) for the events on phigate.audit.v1, generated from the proto
// descriptors (`buf build proto -o -#format=json`), following the JSON the producer emits: the
// proto3 JSON mapping as ts-proto writes it (camelCase names, default values omitted, enums as
// strings, Timestamp as RFC 3339, 64-bit integers as JSON numbers with forceLong=number).

type Schema = Record<string, unknown>;

interface FieldDescriptor {
  name: string;
  number: number;
  label?: string;
  type: string;
  typeName?: string;
  jsonName?: string;
  oneofIndex?: number;
}
interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
  oneofDecl?: { name: string }[];
  options?: { mapEntry?: boolean };
}
interface EnumDescriptor {
  name: string;
  value?: { name: string; number: number }[];
}
interface FileDescriptor {
  name: string;
  package?: string;
  messageType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
  sourceCodeInfo?: { location?: { path?: number[]; leadingComments?: string }[] };
}
/** A FileDescriptorSet as JSON (buf's `#format=json`). */
export interface DescriptorSet {
  file: FileDescriptor[];
}

/** Per event type: its detail key and the OCSF class it always carries. */
export interface EventTypeSpec {
  type: string;
  detailKey: string;
  /** The class is fixed per type; the activity is not pinned (events before OCSF 1.4.0 used the statement kind's activity). */
  ocsf: { classUid: number; className: string; categoryUid: number; activityId: number };
}

const ROOT = 'phigate.events.v1.AuditEvent';
/** Envelope fields every event carries (the producer always sets them). */
const ALWAYS = ['id', 'type', 'time', 'requestId', 'ocsf', 'schemaVersion'];
const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const ID_BASE = 'urn:phigate:schemas:events:v1:';

interface Index {
  messages: Map<string, { d: MessageDescriptor; doc?: string; fieldDocs: Map<number, string> }>;
  enums: Map<string, { d: EnumDescriptor; doc?: string }>;
}

function index(set: DescriptorSet): Index {
  const idx: Index = { messages: new Map(), enums: new Map() };
  for (const f of set.file) {
    const docs = new Map<string, string>();
    for (const l of f.sourceCodeInfo?.location ?? []) if (l.path && l.leadingComments) docs.set(l.path.join('.'), clean(l.leadingComments));
    const pkg = f.package ? `${f.package}.` : '';
    const addEnum = (e: EnumDescriptor, prefix: string, path: string) => {
      idx.enums.set(`${prefix}${e.name}`, { d: e, doc: docs.get(path) });
    };
    const addMsg = (m: MessageDescriptor, prefix: string, path: string) => {
      const full = `${prefix}${m.name}`;
      const fieldDocs = new Map<number, string>();
      (m.field ?? []).forEach((fd, i) => {
        const d = docs.get(`${path}.2.${i}`);
        if (d) fieldDocs.set(fd.number, d);
      });
      idx.messages.set(full, { d: m, doc: docs.get(path), fieldDocs });
      for (const [i, n] of (m.nestedType ?? []).entries()) addMsg(n, `${full}.`, `${path}.3.${i}`);
      for (const [i, e] of (m.enumType ?? []).entries()) addEnum(e, `${full}.`, `${path}.4.${i}`);
    };
    for (const [i, m] of (f.messageType ?? []).entries()) addMsg(m, pkg, `4.${i}`);
    for (const [i, e] of (f.enumType ?? []).entries()) addEnum(e, pkg, `5.${i}`);
  }
  return idx;
}

const clean = (c: string) =>
  c
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');

const INT32 = { type: 'integer', minimum: -2147483648, maximum: 2147483647 };
const UINT32 = { type: 'integer', minimum: 0, maximum: 4294967295 };
const SCALARS: Record<string, Schema> = {
  TYPE_STRING: { type: 'string' },
  TYPE_BOOL: { type: 'boolean' },
  TYPE_INT32: INT32,
  TYPE_SINT32: INT32,
  TYPE_SFIXED32: INT32,
  TYPE_UINT32: UINT32,
  TYPE_FIXED32: UINT32,
  TYPE_INT64: { type: 'integer' },
  TYPE_SINT64: { type: 'integer' },
  TYPE_SFIXED64: { type: 'integer' },
  TYPE_UINT64: { type: 'integer', minimum: 0 },
  TYPE_FIXED64: { type: 'integer', minimum: 0 },
  TYPE_DOUBLE: { type: 'number' },
  TYPE_FLOAT: { type: 'number' },
  TYPE_BYTES: { type: 'string', contentEncoding: 'base64' },
};

/** Collects the $defs one root message needs, then emits schemas that reference them. */
class Builder {
  readonly defs: Record<string, Schema> = {};
  constructor(private readonly idx: Index) {}

  fieldSchema(f: FieldDescriptor, doc?: string): Schema {
    let s: Schema;
    if (f.type === 'TYPE_MESSAGE' || f.type === 'TYPE_ENUM') {
      const name = (f.typeName ?? '').replace(/^\./, '');
      const entry = this.idx.messages.get(name);
      if (entry?.d.options?.mapEntry) {
        const value = entry.d.field?.find((x) => x.number === 2);
        if (!value) throw new Error(`map entry ${name} has no value field`);
        return withDoc({ type: 'object', additionalProperties: this.fieldSchema({ ...value, label: 'LABEL_OPTIONAL' }) }, doc);
      }
      s = { $ref: `#/$defs/${this.ref(name, f.type)}` };
    } else {
      const scalar = SCALARS[f.type];
      if (!scalar) throw new Error(`unsupported field type ${f.type} (${f.name})`);
      s = { ...scalar };
    }
    if (f.label === 'LABEL_REPEATED') s = { type: 'array', items: s };
    return withDoc(s, doc);
  }

  ref(name: string, kind: string): string {
    if (this.defs[name]) return name;
    if (name === 'google.protobuf.Timestamp') {
      this.defs[name] = { type: 'string', format: 'date-time', description: 'RFC 3339 timestamp in UTC (proto3 JSON mapping of google.protobuf.Timestamp)' };
      return name;
    }
    if (kind === 'TYPE_ENUM') {
      const e = this.idx.enums.get(name);
      if (!e) throw new Error(`unknown enum ${name}`);
      this.defs[name] = withDoc({ type: 'string', enum: (e.d.value ?? []).map((v) => v.name) }, e.doc);
      return name;
    }
    this.defs[name] = {};
    this.defs[name] = this.message(name);
    return name;
  }

  message(name: string, only?: (f: FieldDescriptor) => boolean): Schema {
    const m = this.idx.messages.get(name);
    if (!m) throw new Error(`unknown message ${name}`);
    const properties: Record<string, Schema> = {};
    for (const f of m.d.field ?? []) {
      if (only && !only(f)) continue;
      properties[f.jsonName ?? f.name] = this.fieldSchema(f, m.fieldDocs.get(f.number));
    }
    return withDoc({ type: 'object', properties, additionalProperties: false }, m.doc);
  }
}

const withDoc = (s: Schema, doc?: string): Schema => (doc ? { description: doc, ...s } : s);

/**
 * The published schemas: `envelope.schema.json` (any event) and `<type>.schema.json` per event
 * type, each self-contained. Keys are file names; values are the schema objects.
 */
export function eventSchemas(set: DescriptorSet, types: readonly EventTypeSpec[]): Map<string, Schema> {
  const idx = index(set);
  const root = idx.messages.get(ROOT);
  if (!root) throw new Error(`${ROOT} is not in the descriptor set`);
  const detailOneof = (root.d.oneofDecl ?? []).findIndex((o) => o.name === 'detail');
  const detailFields = (root.d.field ?? []).filter((f) => f.oneofIndex === detailOneof);
  const detailKeys = detailFields.map((f) => f.jsonName ?? f.name);
  for (const t of types) if (!detailKeys.includes(t.detailKey)) throw new Error(`event type ${t.type}: no detail field ${t.detailKey} in ${ROOT}`);
  const out = new Map<string, Schema>();

  const env = new Builder(idx);
  const envelope = env.message(ROOT);
  const props = envelope.properties as Record<string, Schema>;
  props.id = { ...props.id, pattern: UUID };
  props.requestId = { ...props.requestId, pattern: UUID };
  props.type = { ...props.type, enum: types.map((t) => t.type) };
  out.set('envelope.schema.json', {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `${ID_BASE}envelope`,
    title: 'phigate audit event (any type)',
    ...envelope,
    required: ALWAYS,
    oneOf: detailKeys.map((k) => ({ type: 'object', required: [k] })),
    // JSON Schema's if/then: the detail must agree with the type.
    allOf: types.map((t) =>
      Object.fromEntries([
        ['if', { type: 'object', properties: { type: { const: t.type } }, required: ['type'] }],
        ['then', { type: 'object', required: [t.detailKey] }],
      ]),
    ),
    $defs: sortKeys(env.defs),
  });

  for (const t of types) {
    const b = new Builder(idx);
    const s = b.message(ROOT, (f) => f.oneofIndex !== detailOneof || (f.jsonName ?? f.name) === t.detailKey);
    const p = s.properties as Record<string, Schema>;
    p.id = { ...p.id, pattern: UUID };
    p.requestId = { ...p.requestId, pattern: UUID };
    p.type = { ...p.type, const: t.type };
    p.ocsf = {
      allOf: [
        p.ocsf,
        {
          type: 'object',
          properties: {
            classUid: { const: t.ocsf.classUid },
            className: { const: t.ocsf.className },
            categoryUid: { const: t.ocsf.categoryUid },
          },
          required: ['classUid', 'className', 'categoryUid', 'activityId'],
        },
      ],
    };
    out.set(`${t.type}.schema.json`, {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `${ID_BASE}${t.type}`,
      title: `phigate audit event ${t.type}`,
      ...s,
      required: [...ALWAYS, t.detailKey],
      $defs: sortKeys(b.defs),
    });
  }
  return out;
}

function sortKeys(o: Record<string, Schema>): Record<string, Schema> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
