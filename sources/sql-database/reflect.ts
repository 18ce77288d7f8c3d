/**
 * Reflection of a Postgres source table: its columns from the catalog, each turned into tide's
 * column hints (data type, precision, scale, timezone, nullability), and its primary key.
 */
import type pg from 'pg';
import { SqlSourceError } from '../../pipeline/errors.ts';
import type { ColumnHint } from '../../pipeline/schema.ts';
import { qualifiedName } from './select.ts';

/** One column of a source table as the catalog describes it. */
export interface SourceColumn {
  name: string;
  /** `pg_type.typname` (of the base type, for a domain): `int8`, `numeric`, `_text` (an array of text), … */
  type: string;
  /** `pg_type.typcategory`: `A` for arrays. */
  category: string;
  typmod: number;
  notNull: boolean;
  /** 1-based position in the primary key, or null. */
  pkPosition: number | null;
}

/** A reflected table: its columns in table order and its primary key columns in key order. */
export interface SourceTable {
  schema: string;
  name: string;
  columns: SourceColumn[];
  primaryKey: string[];
}

const COLUMNS_SQL = `
SELECT a.attname AS name, b.typname AS type, b.typcategory AS category,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS "notNull",
       array_position(i.indkey::int2[], a.attnum) AS "pkPosition"
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
-- a domain is read as its base type (the server sends values of the base type)
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

const TABLES_SQL = `
SELECT c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = ANY ($2)
ORDER BY c.relname`;

/** Reads the columns and primary key of `schema.table`; a missing table is a SqlSourceError naming it. */
export async function reflectTable(client: pg.ClientBase, schema: string, table: string): Promise<SourceTable> {
  const { rows } = await client.query<SourceColumn>(COLUMNS_SQL, [qualifiedName(schema, table)]);
  if (!rows.length) throw new SqlSourceError(`Source table "${schema}"."${table}" does not exist (or has no columns)`, { table });
  const primaryKey = rows
    .filter((c) => c.pkPosition !== null)
    .sort((a, b) => a.pkPosition! - b.pkPosition!)
    .map((c) => c.name);
  return { schema, name: table, columns: rows, primaryKey };
}

/** The tables (and, with `includeViews`, views) of `schema`, by name. */
export async function listTables(client: pg.ClientBase, schema: string, includeViews: boolean): Promise<string[]> {
  const kinds = includeViews ? ['r', 'p', 'v', 'm', 'f'] : ['r', 'p'];
  const { rows } = await client.query<{ name: string }>(TABLES_SQL, [schema, kinds]);
  return rows.map((r) => r.name);
}

/** Integer, float, bool, date and time types and the data type each becomes (dlt's sql_database mapping). */
const SIMPLE_TYPES: Record<string, ColumnHint['dataType']> = {
  int2: 'bigint',
  int4: 'bigint',
  int8: 'bigint',
  oid: 'bigint',
  float4: 'double',
  float8: 'double',
  bool: 'bool',
  date: 'date',
  time: 'time',
  json: 'json',
  jsonb: 'json',
  bytea: 'binary',
};

/**
 * tide's hints for one source column: arrays become json (as in dlt); numeric keeps its precision
 * and scale; `timestamp` (without time zone) keeps `timezone: false`; uuid, text and every type
 * not named here are text. Nullability follows the column's NOT NULL.
 */
export function columnHint(c: SourceColumn): ColumnHint {
  const hint: ColumnHint = { nullable: !c.notNull };
  if (c.category === 'A') hint.dataType = 'json';
  else if (c.type === 'numeric') {
    hint.dataType = 'decimal';
    // numeric's typmod is ((precision << 16) | scale) + 4; -1 when unconstrained
    if (c.typmod >= 4) {
      hint.precision = ((c.typmod - 4) >> 16) & 0xffff;
      hint.scale = (c.typmod - 4) & 0xffff;
    }
  } else if (c.type === 'timestamptz') hint.dataType = 'timestamp';
  else if (c.type === 'timestamp') Object.assign(hint, { dataType: 'timestamp', timezone: false });
  else hint.dataType = SIMPLE_TYPES[c.type] ?? 'text';
  return hint;
}
