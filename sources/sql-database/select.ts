/**
 * The SELECT a SQL table resource reads with: its columns, and an incremental cursor pushed down as
 * `WHERE cursor >= $1 [AND cursor < $2] ORDER BY cursor`. Every identifier goes through pg's
 * `escapeIdentifier`; values are bind parameters.
 */
import pg from 'pg';
import type { Incremental } from '../../pipeline/incremental/index.ts';

export interface SelectQuery {
  text: string;
  values: unknown[];
}

/** `"schema"."table"`, quoted. */
export function qualifiedName(schema: string, table: string): string {
  return `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
}

/** Bind parameters pg can send: a bigint goes as its decimal text (Postgres casts it to the column's type). */
function param(v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/**
 * The bounds of `inc` as SQL on column `cursor`. With `lastValueFunc: 'max'` (the default) rows go
 * from the start value up to the end value; with `'min'` downwards; a custom function cannot be
 * pushed down, so every row is read and the incremental filters them. Open / closed range ends
 * follow the incremental's `rangeStart` / `rangeEnd`.
 */
function cursorBounds(inc: Incremental, cursor: string, values: unknown[]): { where: string[]; order: string } {
  const { lastValueFunc = 'max', rangeStart = 'closed', rangeEnd = 'open' } = inc.definition.options;
  const col = pg.escapeIdentifier(cursor);
  const dir = inc.rowOrder === 'desc' ? 'DESC' : 'ASC';
  if (lastValueFunc !== 'max' && lastValueFunc !== 'min') return { where: [], order: `${col} ${dir}` };
  const up = lastValueFunc === 'max';
  const where: string[] = [];
  if (inc.startValue !== undefined && inc.startValue !== null) {
    values.push(param(inc.startValue));
    const op = up ? (rangeStart === 'open' ? '>' : '>=') : rangeStart === 'open' ? '<' : '<=';
    where.push(`${col} ${op} $${values.length}`);
  }
  if (inc.endValue !== undefined && inc.endValue !== null) {
    values.push(param(inc.endValue));
    const op = up ? (rangeEnd === 'closed' ? '<=' : '<') : rangeEnd === 'closed' ? '>=' : '>';
    where.push(`${col} ${op} $${values.length}`);
  }
  return { where, order: `${col} ${dir}` };
}

/** `SELECT <columns> FROM <schema.table> [WHERE <cursor bounds> ORDER BY <cursor>]`. */
export function selectQuery(schema: string, table: string, columns: readonly string[], inc?: { incremental: Incremental; column: string }): SelectQuery {
  const values: unknown[] = [];
  let text = `SELECT ${columns.map((c) => pg.escapeIdentifier(c)).join(', ')} FROM ${qualifiedName(schema, table)}`;
  if (inc) {
    const { where, order } = cursorBounds(inc.incremental, inc.column, values);
    if (where.length) text += ` WHERE ${where.join(' AND ')}`;
    text += ` ORDER BY ${order}`;
  }
  return { text, values };
}
