/**
 * SQL text for Postgres: identifiers, types, DDL, and a compile-only Kysely instance for DML.
 * This folder is the only place in tide that writes SQL.
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
  type RawBuilder,
} from 'kysely';
import type { ColumnSchema, DataType, TableSchema } from '../../pipeline/schema.ts';

/** Kysely that only compiles (queries run through our own pg client, inside our transaction). */
export const qb = new Kysely<any>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export function compile(q: RawBuilder<unknown> | { compile(): CompiledQuery }): CompiledQuery {
  return 'compile' in q && typeof q.compile === 'function' ? (q as { compile(): CompiledQuery }).compile() : (q as RawBuilder<unknown>).compile(qb);
}

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
export function pgType(col: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
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
      return 'timestamp with time zone';
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

export function columnDdl(col: ColumnSchema): string {
  return `${ident(col.name)} ${pgType(col)}${col.nullable === false ? ' NOT NULL' : ''}`;
}

export function createTableSql(schema: string, table: TableSchema, columns: ColumnSchema[]): string {
  // scd2 validity columns are filled by the merge: they go after the data columns (MG-19)
  const ordered = [...columns.filter((c) => !c.x_valid_from && !c.x_valid_to), ...columns.filter((c) => c.x_valid_from || c.x_valid_to)];
  return `CREATE TABLE IF NOT EXISTS ${qualified(schema, table.name)} (${ordered.map(columnDdl).join(', ')})`;
}

export function addColumnsSql(schema: string, table: string, columns: ColumnSchema[]): string {
  // NOT NULL cannot be added to a populated table; new columns are nullable (dlt does the same).
  return `ALTER TABLE ${qualified(schema, table)} ${columns
    .map((c) => `ADD COLUMN IF NOT EXISTS ${ident(c.name)} ${pgType(c)}`)
    .join(', ')}`;
}

export { sql };
