// COPY … TO STDOUT as a masked read: `COPY (SELECT …) TO STDOUT` and `COPY table [(cols)] TO
// STDOUT` are decided, masked and audited as the equivalent SELECT, and its masked rows go out in
// COPY's text or CSV format. COPY FROM, and COPY to a file or a program, are not this: they stay
// statements for policy, which the guardrails refuse.
import { scanSync } from 'libpg-query';
import type { Cell } from '../../domain/types.js';

export interface CopyOut {
  /** The equivalent SELECT. */
  query: string;
  format: 'text' | 'csv';
  header: boolean;
  delimiter: string;
  null: string;
  quote: string;
  escape: string;
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);

/** An identifier as PostgreSQL needs it quoted. */
const ident = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);

/** A DefElem's value as text (`HEADER` alone: true). */
function optionValue(arg: unknown): string | undefined {
  const a = obj(arg);
  if (!a) return undefined;
  const s = obj(a.String)?.sval ?? obj(a.Boolean)?.boolval ?? obj(a.Integer)?.ival;
  return s === undefined ? (obj(a.Boolean) ? 'false' : undefined) : String(s);
}

/**
 * The COPY … TO STDOUT a parsed CopyStmt is; `undefined` when it is another COPY (FROM, a file, a
 * program); throws an Error whose message says what is not supported (an option, a format).
 */
export function copyOutCommand(body: Node, sql: string): CopyOut | undefined {
  if (body.is_from || body.is_program || body.filename !== undefined) return undefined;
  const out: CopyOut = { query: '', format: 'text', header: false, delimiter: '\t', null: '\\N', quote: '"', escape: '"' };
  let nullSet = false;
  let delimiterSet = false;
  for (const o of Array.isArray(body.options) ? body.options : []) {
    const d = obj(obj(o)?.DefElem);
    const name = String(d?.defname ?? '');
    const v = optionValue(d?.arg);
    if (name === 'format') {
      if (v !== 'text' && v !== 'csv') throw new Error(`COPY format ${v ?? ''} is not supported through phigate (text and csv are)`);
      out.format = v;
    } else if (name === 'header') out.header = v === undefined || /^(true|on|1)$/i.test(v);
    else if (name === 'delimiter' && v?.length === 1) {
      out.delimiter = v;
      delimiterSet = true;
    } else if (name === 'null' && v !== undefined) {
      out.null = v;
      nullSet = true;
    } else if (name === 'quote' && v?.length === 1) out.quote = v;
    else if (name === 'escape' && v?.length === 1) out.escape = v;
    else if (name === 'encoding' && v && /^(utf-?8|unicode)$/i.test(v)) continue;
    else throw new Error(`COPY option ${name.toUpperCase()} is not supported through phigate`);
  }
  if (out.format === 'csv') {
    if (!delimiterSet) out.delimiter = ',';
    if (!nullSet) out.null = '';
  }
  const rel = obj(body.relation);
  if (rel) {
    const cols = Array.isArray(body.attlist) ? body.attlist.map((a) => ident(String(obj(obj(a)?.String)?.sval ?? ''))) : [];
    const table = [rel.schemaname, rel.relname]
      .filter((x) => typeof x === 'string')
      .map((x) => ident(x as string))
      .join('.');
    out.query = `SELECT ${cols.length ? cols.join(', ') : '*'} FROM ${table}`;
    return out;
  }
  out.query = innerQuery(sql);
  return out;
}

/** The text inside `COPY ( … )`: tokens, so a parenthesis inside a literal does not count. */
function innerQuery(sql: string): string {
  const bytes = Buffer.from(sql, 'utf8');
  const tokens = scanSync(sql).tokens;
  const open = tokens.findIndex((t) => t.text === '(');
  let depth = 0;
  for (let i = open; i >= 0 && i < tokens.length; i++) {
    if (tokens[i]!.text === '(') depth++;
    else if (tokens[i]!.text === ')' && --depth === 0) return bytes.toString('utf8', tokens[open]!.end, tokens[i]!.start).trim();
  }
  throw new Error('the query of COPY ( … ) could not be delimited');
}

/** One row as a COPY line (with its newline). */
export function copyLine(row: readonly Cell[], o: CopyOut): string {
  return `${row.map((v) => (o.format === 'csv' ? csvField(v, o) : textField(v, o))).join(o.delimiter)}\n`;
}

function textField(v: Cell, o: CopyOut): string {
  if (v === null) return o.null;
  let s = '';
  for (const ch of v) {
    if (ch === '\\') s += '\\\\';
    else if (ch === '\n') s += '\\n';
    else if (ch === '\r') s += '\\r';
    else if (ch === '\t') s += '\\t';
    else if (ch === o.delimiter) s += `\\${ch}`;
    else s += ch;
  }
  return s;
}

function csvField(v: Cell, o: CopyOut): string {
  if (v === null) return o.null;
  const needs = v === '' || v === o.null || v.includes(o.delimiter) || v.includes(o.quote) || /[\r\n]/.test(v) || v.includes(o.escape);
  if (!needs) return v;
  let s = '';
  for (const ch of v) s += ch === o.quote || ch === o.escape ? `${o.escape}${ch}` : ch;
  return `${o.quote}${s}${o.quote}`;
}
