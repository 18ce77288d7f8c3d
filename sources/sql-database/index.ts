/**
 * `sqlTable()` and `sqlDatabase()`: Postgres tables as tide resources (dlt's `sql_table` and
 * `sql_database`). Columns are reflected once, when the resource is made, into column hints (types,
 * precision, nullability) and the primary key; each run reads the table through a server-side
 * cursor with the resource's incremental pushed down into the SELECT.
 */
import type pg from 'pg';
import { SqlSourceError } from '../../pipeline/errors.ts';
import type { Incremental, IncrementalDef } from '../../pipeline/incremental/index.ts';
import { resource, source, type Resource, type ResourceContext, type Source } from '../../pipeline/resource.ts';
import type { ColumnHint, WriteDisposition } from '../../pipeline/schema.ts';
import { connectSource, readChunks, type SqlCredentials } from './read.ts';
import { columnHint, listTables, reflectTable, type SourceTable } from './reflect.ts';
import { selectQuery } from './select.ts';

export type { SqlCredentials } from './read.ts';

/** Rows fetched per round trip (and yielded as one page) unless `chunkSize` says otherwise; dlt's default. */
export const DEFAULT_CHUNK_SIZE = 50_000;

/** What sqlTable and sqlDatabase share. */
export interface SqlSourceOptions {
  /** A connection string or pg's client configuration (`{ host, user, password, database, … }`). */
  credentials: SqlCredentials;
  /** The Postgres schema to read from (default `public`). */
  schema?: string;
  /** Rows per fetch and per yielded page (default 50,000): memory is bounded by one chunk. */
  chunkSize?: number;
  /** Write disposition of the tables (default `append`). */
  writeDisposition?: WriteDisposition;
}

export interface SqlTableOptions extends SqlSourceOptions {
  /** The source table. */
  table: string;
  /** An incremental whose cursor path is a column of the table: pushed down into the SELECT. */
  incremental?: IncrementalDef;
  /** Read only these columns (default: all). */
  includedColumns?: string[];
  /** Resource name (default: the table's name). */
  name?: string;
  /** Destination table (default: the resource's name). */
  tableName?: string;
  /** Primary key (default: the source table's primary key). */
  primaryKey?: string | string[];
  /** Column hints laid over the reflected ones. */
  columns?: Record<string, ColumnHint>;
}

export interface SqlDatabaseOptions extends SqlSourceOptions {
  /** Tables to load, as resources in this order (default: every table of the schema, by name). */
  tableNames?: string[];
  /** With no `tableNames`: also views, materialized views and foreign tables (default false). */
  includeViews?: boolean;
  /** The source's name: its state key (default `sql_database`). */
  name?: string;
}

function checkChunkSize(n: number | undefined, table: string): number {
  if (n === undefined) return DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(n) || n < 1) throw new SqlSourceError(`chunkSize must be a positive integer, got ${JSON.stringify(n)}`, { table, value: n });
  return n;
}

/** The cursor column an incremental pushes down to: its cursor path must name a read column. */
function cursorColumn(inc: Incremental, columns: readonly string[], t: SourceTable, resourceName: string): string {
  const path = inc.cursorPath.replace(/^\$\./, '');
  if (!columns.includes(path)) {
    throw new SqlSourceError(`Incremental cursor "${inc.cursorPath}" is not a column of source table "${t.schema}"."${t.name}" (columns: ${columns.join(', ')})`, {
      resource: resourceName,
      table: t.name,
      column: inc.cursorPath,
    });
  }
  return path;
}

/** A resource reading reflected table `t`. */
function tableResource(t: SourceTable, o: Omit<SqlTableOptions, 'table' | 'schema'>): Resource {
  const chunkSize = checkChunkSize(o.chunkSize, t.name);
  const known = t.columns.map((c) => c.name);
  for (const c of o.includedColumns ?? []) {
    if (!known.includes(c)) throw new SqlSourceError(`Column "${c}" of includedColumns is not in source table "${t.schema}"."${t.name}"`, { table: t.name, column: c });
  }
  const read = o.includedColumns ? t.columns.filter((c) => o.includedColumns!.includes(c.name)) : t.columns;
  const names = read.map((c) => c.name);
  const hints: Record<string, ColumnHint> = Object.fromEntries(read.map((c) => [c.name, { ...columnHint(c), ...o.columns?.[c.name] }]));
  const name = o.name ?? t.name;
  const primaryKey = o.primaryKey ?? (t.primaryKey.length && t.primaryKey.every((k) => names.includes(k)) ? t.primaryKey : undefined);
  return resource(
    async function* readTable(ctx: ResourceContext) {
      const inc = ctx.incremental;
      if (inc?.emptyRange) return;
      const pushed = inc && { incremental: inc, column: cursorColumn(inc, names, t, ctx.resourceName) };
      yield* readChunks(o.credentials, selectQuery(t.schema, t.name, names, pushed), chunkSize);
    },
    { name, tableName: o.tableName, primaryKey, writeDisposition: o.writeDisposition, columns: hints, incremental: o.incremental },
  );
}

/**
 * A resource reading one Postgres table (dlt's `sql_table`). Reflects the table's columns and
 * primary key now (so it is async); each run streams the rows `chunkSize` at a time.
 *
 * @example
 * const orders = await sqlTable({ credentials: process.env.SOURCE_URL!, table: 'orders',
 *   incremental: incremental('updated_at', { initialValue: '2024-01-01T00:00:00Z' }), writeDisposition: 'merge' });
 */
export async function sqlTable(options: SqlTableOptions): Promise<Resource> {
  const client = await connectSource(options.credentials);
  try {
    return tableResource(await reflectTable(client, options.schema ?? 'public', options.table), options);
  } finally {
    await client.end();
  }
}

/**
 * A source with one resource per table of a Postgres schema (dlt's `sql_database`), so a decomposed
 * run extracts each table as a task of its own. Set an incremental per table with
 * `src.withResource(src.resources.orders.with({ incremental: incremental('updated_at', { initialValue }) }))`.
 *
 * @example
 * const shop = await sqlDatabase({ credentials: process.env.SOURCE_URL!, schema: 'shop', tableNames: ['customers', 'orders'] });
 */
export async function sqlDatabase(options: SqlDatabaseOptions): Promise<Source> {
  const schema = options.schema ?? 'public';
  const client: pg.Client = await connectSource(options.credentials);
  try {
    const names = options.tableNames ?? (await listTables(client, schema, options.includeViews ?? false));
    const { credentials, chunkSize, writeDisposition } = options;
    const resources: Resource[] = [];
    for (const n of names) resources.push(tableResource(await reflectTable(client, schema, n), { credentials, chunkSize, writeDisposition }));
    return source(options.name ?? 'sql_database', resources);
  } finally {
    await client.end();
  }
}
