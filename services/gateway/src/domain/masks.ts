import { globMatch, STRICTNESS } from '@phigate/model';
import type { ColumnMask, MaskingPlan, ResultColumn, ResultColumnMask } from './types.js';

/**
 * Decides each result column's masking from its proven source column. A column whose source the
 * upstream cannot name (an expression such as upper(ssn)) gets the plan's unknown-source strategy,
 * which policy sets to redact whenever the statement reads a masked column: fail closed.
 */
export function resultMasks(columns: readonly ResultColumn[], plan: MaskingPlan): ResultColumnMask[] {
  return columns.map((col, index) => {
    if (!col.source) return { index, name: col.name, strategy: plan.unknownSourceStrategy, keepLast: 4 };
    const src = col.source;
    // Several patterns may cover one column: the strictest wins, as in policy.
    let m: ColumnMask | undefined;
    for (const c of plan.columns) {
      if (
        globMatch(c.schema, src.schema) &&
        globMatch(c.table, src.table) &&
        globMatch(c.column, src.column) &&
        (!m || STRICTNESS[c.strategy] > STRICTNESS[m.strategy])
      )
        m = c;
    }
    return m ? { index, name: col.name, strategy: m.strategy, keepLast: m.keepLast } : { index, name: col.name, strategy: 'none', keepLast: 0 };
  });
}
