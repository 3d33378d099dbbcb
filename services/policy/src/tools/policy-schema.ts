import { z } from 'zod';
import { policyDocumentSchema } from '../domain/document.js';

/** Where the published schema lives, relative to the repository root. */
export const SCHEMA_PATH = 'docs/policy.schema.json';

/**
 * The JSON Schema of a policy document, as an author writes it (`io: 'input'`: keys with defaults
 * are optional). Cross-field checks (approvers for require_approval, unique ids, valid time zones)
 * are zod refinements the schema cannot express; the policy service still enforces them.
 */
export function policyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(policyDocumentSchema, { io: 'input' }) as Record<string, unknown>;
}

/** The file's exact text: stable key order, two-space indent, trailing newline. */
export function policyJsonSchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
}
