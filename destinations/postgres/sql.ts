/**
 * SQL text for Postgres: identifiers, types, all DDL (every column of every table tide creates is
 * written by one function), and a compile-only Kysely instance for the merge statements. This folder
 * is the only place in tide that writes SQL.
 */
import {
  createQueryId,
  DummyDriver,
  InsertQueryBuilder,
  InsertQueryNode,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  TableNode,
  type CompiledQuery,
  type InsertResult,
} from 'kysely';
import type { ColumnSchema, DataType, TableSchema } from '../../pipeline/schema.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE } from '../../pipeline/schema.ts';

/** Kysely that only compiles (queries run through our own pg client, inside our transaction). */
export const qb = new Kysely<any>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/**
 * `INSERT INTO "schema"."table"`: a builder on the table node itself, because Kysely's
 * `insertInto('schema.table')` parses the string (a dataset name may hold a dot).
 */
export function insertInto(schema: string, table: string): InsertQueryBuilder<any, any, InsertResult> {
  return new InsertQueryBuilder({
    queryId: createQueryId(),
    executor: qb.getExecutor(),
    queryNode: InsertQueryNode.create(TableNode.createWithSchema(schema, table)),
  });
}

/** A relation as a table expression with an alias: `"schema"."table" as "alias"`, no parsing. */
export function relation(schema: string | undefined, table: string, alias: string) {
  return sql<any>`${schema === undefined ? sql.id(table) : sql.id(schema, table)}`.as(alias);
}

/** `"name"` with embedded quotes doubled. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}

/** Postgres column type of a dlt data type (dlt's postgres type mapper). */
export function pgType(col: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale' | 'timezone'>): string {
  switch (col.dataType as DataType) {
    case 'text':
      return 'varchar';
    case 'bigint':
      return 'bigint';
    case 'double':
      return 'double precision';
    case 'bool':
      return 'boolean';
    case 'timestamp':
      return col.timezone === false ? 'timestamp without time zone' : 'timestamp with time zone';
    case 'date':
      return 'date';
    case 'time':
      return 'time without time zone';
    case 'decimal':
      return col.precision !== undefined ? `numeric(${col.precision},${col.scale ?? 0})` : 'numeric';
    case 'json':
      return 'jsonb';
    case 'binary':
      return 'bytea';
    default:
      return 'varchar';
  }
}

/** `"name" type[ constraint]`: every column of every table tide creates is written by this. */
function columnSql(name: string, type: string, constraint = ''): string {
  return `${ident(name)} ${type}${constraint}`;
}

/**
 * A data column. `NOT NULL` only in a final table's CREATE: staging and scratch tables take rows as
 * they come, and a column added to a populated table must be nullable (dlt does the same).
 * `UNIQUE` for a column with the unique hint (`_dlt_id`) when asked for, as dlt's `create_indexes`.
 */
function dataColumnSql(col: ColumnSchema, notNull: boolean, unique = false): string {
  return columnSql(col.name, pgType(col), `${unique && col.unique ? ' UNIQUE' : ''}${notNull && col.nullable === false ? ' NOT NULL' : ''}`);
}

/** `CREATE TABLE IF NOT EXISTS` of a final (data) table. */
export function createTableSql(schema: string, table: TableSchema, columns: ColumnSchema[], unique = false): string {
  // scd2 validity columns are filled by the merge: they go after the data columns
  const ordered = [...columns.filter((c) => !c.x_valid_from && !c.x_valid_to), ...columns.filter((c) => c.x_valid_from || c.x_valid_to)];
  return `CREATE TABLE IF NOT EXISTS ${qualified(schema, table.name)} (${ordered.map((c) => dataColumnSql(c, true, unique)).join(', ')})`;
}

/** New columns of a final table; there already when a concurrent load added them first. */
export function addColumnsSql(schema: string, table: string, columns: ColumnSchema[], unique = false): string {
  return `ALTER TABLE ${qualified(schema, table)} ${columns.map((c) => `ADD COLUMN IF NOT EXISTS ${dataColumnSql(c, false, unique)}`).join(', ')}`;
}

/**
 * A table of this load only (`relation` quoted): TEMP ones drop with the transaction; the others are
 * staging tables of a package, UNLOGGED: their rows are written once more by the load step, and a
 * crash of the server empties them, which the load step notices (package.ts) and the run re-extracts.
 */
export function createLoadTableSql(relation: string, columns: ColumnSchema[], temp: boolean): string {
  const list = columns.map((c) => dataColumnSql(c, false)).join(', ');
  return temp ? `CREATE TEMP TABLE ${relation} (${list}) ON COMMIT DROP` : `CREATE UNLOGGED TABLE ${relation} (${list})`;
}

/** New columns of a table of this load (`relation` quoted; nobody else adds them). */
export function addLoadColumnsSql(relation: string, columns: ColumnSchema[]): string {
  return `ALTER TABLE ${relation} ${columns.map((c) => `ADD COLUMN ${dataColumnSql(c, false)}`).join(', ')}`;
}

/** `create [unique] index if not exists "<name>" on "<ds>"."<table>" (cols)` */
export function createIndexSql(ds: string, table: string, name: string, cols: string[], unique: boolean): CompiledQuery {
  const q = qb.schema.withSchema(ds).createIndex(name).ifNotExists().on(table).columns(cols);
  return (unique ? q.unique() : q).compile();
}

export function dropTablesSql(relations: string[], cascade: boolean): string {
  return `DROP TABLE IF EXISTS ${relations.join(', ')}${cascade ? ' CASCADE' : ''}`;
}

export function truncateSql(relations: string[]): string {
  return `TRUNCATE ${relations.join(', ')}`;
}

// ------------------------------------------------------------------------------ bookkeeping tables

/** The staging schema of a dataset: tables of staged loads and the package records. */
export function stagingSchemaOf(ds: string): string {
  return `${ds}_staging`;
}

export const PACKAGES_TABLE = '_tide_packages';

const TIMESTAMP = 'timestamp with time zone';
const NOT_NULL = ' NOT NULL';

/** Columns of a bookkeeping table: name, Postgres type, constraint. */
type Columns = [string, string, string?][];

/**
 * tide's columns of the load ledger: pipeline, data interval, rows. Nullable: dlt names its columns
 * when it inserts into and selects from `_dlt_loads`, so it neither fills nor sees them.
 */
export const LEDGER_COLUMNS: Columns = [
  ['tide_pipeline_name', 'varchar'],
  ['tide_interval_start', TIMESTAMP],
  ['tide_interval_end', TIMESTAMP],
  ['tide_rows', 'bigint'],
  // components of a decomposed run that failed while the others loaded (comma-separated)
  ['tide_failed_components', 'varchar'],
  // the run's params (`ctx.params`) as JSON; null when it had none
  ['tide_params', 'jsonb'],
];

/** dlt's `_dlt_loads`, with tide's ledger columns after dlt's. */
const LOADS_COLUMNS: Columns = [
  ['load_id', 'varchar', NOT_NULL],
  ['schema_name', 'varchar'],
  ['status', 'bigint', NOT_NULL],
  ['inserted_at', TIMESTAMP, NOT_NULL],
  ['schema_version_hash', 'varchar'],
  ...LEDGER_COLUMNS,
];

/** The ledger columns a `_dlt_loads` created by dlt lacks; a no-op on one that has them. */
export function addLedgerColumnsSql(ds: string): string {
  return `ALTER TABLE ${qualified(ds, LOADS_TABLE)} ${LEDGER_COLUMNS.map(([n, t]) => `ADD COLUMN IF NOT EXISTS ${columnSql(n, t)}`).join(', ')}`;
}

const STATE_COLUMNS: Columns = [
  ['version', 'bigint', NOT_NULL],
  ['engine_version', 'bigint', NOT_NULL],
  ['pipeline_name', 'varchar', NOT_NULL],
  ['state', 'varchar', NOT_NULL],
  ['created_at', TIMESTAMP, NOT_NULL],
  ['version_hash', 'varchar'],
  ['_dlt_load_id', 'varchar', NOT_NULL],
  ['_dlt_id', 'varchar', ' NOT NULL UNIQUE'],
];

const VERSION_COLUMNS: Columns = [
  ['version', 'bigint', NOT_NULL],
  ['engine_version', 'bigint', NOT_NULL],
  ['inserted_at', TIMESTAMP, NOT_NULL],
  ['schema_name', 'varchar', NOT_NULL],
  ['version_hash', 'varchar', NOT_NULL],
  ['schema', 'varchar', NOT_NULL],
];

/** A staged package (`load_id` holds the package id); `package` is text, not jsonb: jsonb reorders keys, and the schema read back must hash the same. */
const PACKAGES_COLUMNS: Columns = [
  ['load_id', 'varchar', ' PRIMARY KEY'],
  ['pipeline_name', 'varchar', NOT_NULL],
  ['created_at', TIMESTAMP, NOT_NULL],
  ['package', 'text', NOT_NULL],
];

function createBookkeepingSql(schema: string, table: string, columns: Columns, unlogged = false): string {
  return `CREATE ${unlogged ? 'UNLOGGED ' : ''}TABLE IF NOT EXISTS ${qualified(schema, table)} (${columns.map(([n, t, c]) => columnSql(n, t, c)).join(', ')})`;
}

/** A dataset's schemas and bookkeeping tables, in order; each statement is a no-op when its object exists. */
export function createDatasetSql(ds: string): string[] {
  const staging = stagingSchemaOf(ds);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${ident(ds)}`,
    createBookkeepingSql(ds, LOADS_TABLE, LOADS_COLUMNS),
    // a dataset dlt created: its ledger is readable by tide from the first contact on
    addLedgerColumnsSql(ds),
    `CREATE UNIQUE INDEX IF NOT EXISTS ${ident(`${LOADS_TABLE}_load_id`)} ON ${qualified(ds, LOADS_TABLE)} (load_id)`,
    createBookkeepingSql(ds, STATE_TABLE, STATE_COLUMNS),
    createBookkeepingSql(ds, VERSION_TABLE, VERSION_COLUMNS),
    `CREATE SCHEMA IF NOT EXISTS ${ident(staging)}`,
    // unlogged like the staging tables it describes: a server crash loses both together
    createBookkeepingSql(staging, PACKAGES_TABLE, PACKAGES_COLUMNS, true),
  ];
}

/** Drops a dataset: its schema and its staging schema, with everything in them. */
export function dropDatasetSql(ds: string): string[] {
  return [`DROP SCHEMA IF EXISTS ${ident(ds)} CASCADE`, `DROP SCHEMA IF EXISTS ${ident(stagingSchemaOf(ds))} CASCADE`];
}
