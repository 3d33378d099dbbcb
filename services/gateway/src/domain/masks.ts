import type { MaskingPlan, ResultColumn, ResultColumnMask } from './types.js';

function seg(pattern: string, value: string): boolean {
  return pattern === '*' || pattern.toLowerCase() === value.toLowerCase();
}

/**
 * Decides each result column's masking from its proven source column. A column whose source the
 * upstream cannot name (an expression such as upper(ssn)) gets the plan's unknown-source strategy,
 * which policy sets to redact whenever the statement reads a masked column: fail closed.
 */
export function resultMasks(columns: readonly ResultColumn[], plan: MaskingPlan): ResultColumnMask[] {
  return columns.map((col, index) => {
    if (!col.source) return { index, name: col.name, strategy: plan.unknownSourceStrategy, keepLast: 4 };
    const src = col.source;
    const m = plan.columns.find((c) => seg(c.schema, src.schema) && seg(c.table, src.table) && seg(c.column, src.column));
    return m ? { index, name: col.name, strategy: m.strategy, keepLast: m.keepLast } : { index, name: col.name, strategy: 'none', keepLast: 0 };
  });
}
