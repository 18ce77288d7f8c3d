/**
 * The dataset schema: tables, columns and their hints, in dlt's vocabulary so the stored schema
 * (`_dlt_version.schema`) reads like dlt's. The normalizer evolves it; the destination turns it into DDL.
 */

/** dlt's data types. Postgres mapping lives in destinations/postgres. */
export type DataType = 'text' | 'bigint' | 'double' | 'bool' | 'timestamp' | 'date' | 'time' | 'decimal' | 'json' | 'binary';

export type WriteDispositionName = 'append' | 'replace' | 'merge';
export type MergeStrategy = 'delete-insert' | 'scd2' | 'upsert' | 'insert-only';
export const MERGE_STRATEGIES: readonly MergeStrategy[] = ['delete-insert', 'scd2', 'upsert', 'insert-only'];

/** `writeDisposition: { disposition: 'merge', strategy: 'scd2', … }`. */
export interface MergeConfig {
  disposition: 'merge';
  strategy?: MergeStrategy;
  /** scd2: names of the validity columns (default `_dlt_valid_from`, `_dlt_valid_to`). */
  validityColumnNames?: [string, string];
  /** scd2: the literal marking an active record instead of NULL, e.g. `'9999-12-31'`. */
  activeRecordTimestamp?: string | Date;
  /** scd2: the timestamp used as valid-from / valid-to of this load (default: the load's creation time). */
  boundaryTimestamp?: string | Date;
  /** scd2: a user column holding the row version hash; `_dlt_id` is then random. */
  rowVersionColumnName?: string;
}

export type WriteDisposition = WriteDispositionName | MergeConfig | { disposition: 'append' | 'replace' };

/** Column hints a user may set through `columns: { name: {...} }`. */
export interface ColumnHint {
  dataType?: DataType;
  nullable?: boolean;
  primaryKey?: boolean;
  mergeKey?: boolean;
  /** Rows whose value here is true (bool column) or non-null (any other type) delete the matching rows. */
  hardDelete?: boolean;
  /** Which row survives staging deduplication by primary key. */
  dedupSort?: 'asc' | 'desc';
  unique?: boolean;
  precision?: number;
  scale?: number;
  /** timestamp columns: `false` stores a naive timestamp (`timestamp without time zone`), as dlt's hint. */
  timezone?: boolean;
  /** The cursor column of the resource's incremental (set by tide, as dlt does). */
  incremental?: boolean;
}

/** A column of a table, with its normalized name and every hint. */
export interface ColumnSchema extends ColumnHint {
  name: string;
  dataType: DataType;
  nullable: boolean;
  /** `_dlt_id` of root tables. */
  rowKey?: boolean;
  /** `_dlt_parent_id` of nested tables. */
  parentKey?: boolean;
  /** `_dlt_root_id` of nested tables. */
  rootKey?: boolean;
  /** A variant column `<col>__v_<type>` made when a value could not be coerced. */
  variant?: boolean;
  /** scd2 validity columns and row version column. */
  x_valid_from?: boolean;
  x_valid_to?: boolean;
  x_row_version?: boolean;
  x_active_record_timestamp?: string;
}

export interface TableSchema {
  name: string;
  /** Set on nested tables: the parent table's name. */
  parent?: string;
  /** Root tables: the resource that produced it. */
  resource?: string;
  writeDisposition?: WriteDispositionName;
  mergeStrategy?: MergeStrategy;
  /** scd2 settings of a root table (validity column names, active timestamp, boundary, row version column). */
  scd2?: {
    validFrom: string;
    validTo: string;
    activeRecordTimestamp?: string;
    boundaryTimestamp?: string;
    rowVersionColumn?: string;
  };
  /** Columns in creation order. */
  columns: Record<string, ColumnSchema>;
  /**
   * Hints for columns that have no data yet (normalized names): applied when the column is
   * created, so a hinted column that only ever holds nulls is still never created (NM-13).
   */
  columnHints?: Record<string, ColumnHint>;
  /** Nested tables: max depth below the root table (maxTableNesting of its resource). */
  maxTableNesting?: number;
  /** `_dlt_root_id` propagated to nested tables of this root. */
  rootKeyPropagation?: boolean;
  /** Rows were loaded into this table at least once (dlt's `x-normalizer.seen-data`). */
  seenData?: boolean;
}

export interface Schema {
  name: string;
  tables: Record<string, TableSchema>;
  /** The version of the stored schema this one was read from (dlt bumps it on every content change). */
  version?: number;
  /** The content hash of the stored schema this one was read from. */
  versionHash?: string;
  /** Hashes of earlier versions, newest first, at most 10 (dlt's `previous_hashes`). */
  previousHashes?: string[];
}

export const DLT_ID = '_dlt_id';
export const DLT_LOAD_ID = '_dlt_load_id';
export const DLT_PARENT_ID = '_dlt_parent_id';
export const DLT_LIST_IDX = '_dlt_list_idx';
export const DLT_ROOT_ID = '_dlt_root_id';
export const DLT_VALID_FROM = '_dlt_valid_from';
export const DLT_VALID_TO = '_dlt_valid_to';

export const LOADS_TABLE = '_dlt_loads';
export const STATE_TABLE = '_dlt_pipeline_state';
export const VERSION_TABLE = '_dlt_version';

/** The tables tide (and dlt) keep for bookkeeping; they never receive user data. */
export function isSystemTable(name: string): boolean {
  return name.startsWith('_dlt_');
}

export function newSchema(name: string): Schema {
  return { name, tables: {} };
}

/**
 * Lays `other`'s tables and columns over `into` where `into` lacks them (two parts of one run that
 * evolved the same stored schema each on its own: decomposed extracts). A column both added with
 * different types is an error the caller reports.
 */
export function mergeSchemaInto(into: Schema, other: Schema): { table: string; column: string } | undefined {
  for (const [name, t] of Object.entries(other.tables)) {
    const mine = into.tables[name];
    if (!mine) {
      into.tables[name] = structuredClone(t);
      continue;
    }
    for (const [c, col] of Object.entries(t.columns)) {
      const have = mine.columns[c];
      if (!have) mine.columns[c] = structuredClone(col);
      else if (have.dataType !== col.dataType) return { table: name, column: c };
    }
    if (t.seenData) mine.seenData = true;
  }
  return undefined;
}

/** The root table of `table` (itself for a root). */
export function rootTableOf(schema: Schema, table: string): TableSchema {
  let t = schema.tables[table];
  while (t?.parent) t = schema.tables[t.parent];
  return t;
}

/** Nested tables of a root, parents before children (the order data must be inserted in). */
export function nestedTablesOf(schema: Schema, root: string): TableSchema[] {
  const out: TableSchema[] = [];
  const walk = (name: string) => {
    for (const t of Object.values(schema.tables)) {
      if (t.parent === name) {
        out.push(t);
        walk(t.name);
      }
    }
  };
  walk(root);
  return out;
}

/** Names of the columns with `hint`, from the hints in code (also those no value has made a column yet) and the columns. */
export function hintedColumns(table: TableSchema, hint: 'hardDelete' | 'dedupSort'): string[] {
  const fromHints = Object.entries(table.columnHints ?? {}).filter(([, h]) => h[hint]).map(([n]) => n);
  return [...new Set([...fromHints, ...Object.values(table.columns).filter((c) => c[hint]).map((c) => c.name)])];
}

export function keyColumns(table: TableSchema, hint: 'primaryKey' | 'mergeKey'): string[] {
  return Object.values(table.columns)
    .filter((c) => c[hint])
    .map((c) => c.name);
}

/** How many times columns were added to one schema's tables. */
export interface ColumnsRevision {
  readonly value: number;
}

type Counter = { value: number };

/**
 * Revisions live beside the schema, not in it: the stored schema and its hash never see them, and
 * each schema object (one per pipeline run) counts on its own, so two pipelines in one process do
 * not invalidate each other's buffers.
 */
const revisions = new WeakMap<Schema, Counter>();

/**
 * The column revision of `schema`: writers that encode rows as they arrive (the Postgres COPY
 * buffer) keep this object and compare its `value` on every row instead of re-reading a table's
 * column list, and re-read it only when the value changed.
 */
export function columnsRevision(schema: Schema): ColumnsRevision {
  let r = revisions.get(schema);
  if (!r) revisions.set(schema, (r = { value: 0 }));
  return r;
}

/** Call after adding a column to a table of `schema` during a run. */
export function markColumnsChanged(schema: Schema): void {
  (columnsRevision(schema) as Counter).value++;
}

/** A column a run added: its table, name and data type. */
export interface AddedColumn {
  table: string;
  column: string;
  dataType: DataType;
}

/**
 * What a run added to the schema: `tables` that got their first columns, `columns` new in tables that
 * had columns before, `variants` new variant columns (`<col>__v_<type>`) anywhere. tide's own
 * `_dlt_*` tables and columns are left out. Plain JSON (it travels in Temporal results).
 */
export interface SchemaChanges {
  tables: string[];
  columns: AddedColumn[];
  variants: AddedColumn[];
}

export function noSchemaChanges(): SchemaChanges {
  return { tables: [], columns: [], variants: [] };
}

/** Whether `c` holds any change. */
export function hasSchemaChanges(c: SchemaChanges | undefined): boolean {
  return !!c && c.tables.length + c.columns.length + c.variants.length > 0;
}

/** The changes from `before` (the stored schema) to `after` (the same schema once the run evolved it). */
export function schemaChangesBetween(before: Schema, after: Schema): SchemaChanges {
  const out = noSchemaChanges();
  for (const [name, t] of Object.entries(after.tables)) {
    if (isSystemTable(name)) continue;
    const old = before.tables[name]?.columns ?? {};
    const wasNew = !Object.values(old).some((c) => c.dataType);
    const added = Object.values(t.columns).filter((c) => c.dataType && !old[c.name]?.dataType && !c.name.startsWith('_dlt'));
    if (wasNew && Object.values(t.columns).some((c) => c.dataType)) out.tables.push(name);
    for (const c of added) {
      const a = { table: name, column: c.name, dataType: c.dataType };
      if (c.variant) out.variants.push(a);
      else if (!wasNew) out.columns.push(a);
    }
  }
  return out;
}

/** Changes of two parts of one run (decomposed components) together, each table and column once. */
export function mergeSchemaChanges(a: SchemaChanges, b: SchemaChanges): SchemaChanges {
  const cols = (x: AddedColumn[], y: AddedColumn[]) => {
    const seen = new Set(x.map((c) => `${c.table}\u0000${c.column}`));
    return [...x, ...y.filter((c) => !seen.has(`${c.table}\u0000${c.column}`))];
  };
  return { tables: [...new Set([...a.tables, ...b.tables])], columns: cols(a.columns, b.columns), variants: cols(a.variants, b.variants) };
}
