/**
 * Row counts of a load: `{ [table]: { rows } }`, the one shape they have from the load session to
 * the workflow result (and the shape of the public `RunInfo.tables`). Pure: workflows use it.
 */

export type TableCounts = Record<string, { rows: number }>;

/** Adds `rows` to `table`'s count. */
export function addRows(counts: TableCounts, table: string, rows: number): void {
  const c = counts[table];
  if (c) c.rows += rows;
  else counts[table] = { rows };
}

/** All tables' rows together. */
export function totalRows(counts: TableCounts): number {
  let n = 0;
  for (const t in counts) n += counts[t].rows;
  return n;
}

/**
 * Counts as an older tide stored or sent them: a bare number per table. Staged packages and the
 * Temporal histories of runs started before the change still hold those.
 */
export function readTableCounts(counts: TableCounts | Record<string, number>): TableCounts {
  const out: TableCounts = {};
  for (const [t, v] of Object.entries(counts)) out[t] = typeof v === 'number' ? { rows: v } : { rows: v.rows };
  return out;
}

/** Rows and values the schema contract dropped (`discard_row` / `discard_value`), per table. */
export type DiscardedCounts = Record<string, { rows: number; values: number }>;

/** Counts one dropped row or value of `table`. */
export function countDiscarded(counts: DiscardedCounts, table: string, what: 'rows' | 'values'): void {
  (counts[table] ??= { rows: 0, values: 0 })[what]++;
}

/** Adds `from`'s counts to `into` (the components of one decomposed run). */
export function addDiscarded(into: DiscardedCounts, from: DiscardedCounts): DiscardedCounts {
  for (const [t, c] of Object.entries(from)) {
    const x = (into[t] ??= { rows: 0, values: 0 });
    x.rows += c.rows;
    x.values += c.values;
  }
  return into;
}
