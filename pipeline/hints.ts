/**
 * Resource hints → the schema: write disposition, merge strategy, keys, column hints, scd2
 * validity columns. Hints in code win over the stored schema (a key removed in code is removed).
 * Merge hints that cannot work fail here, before anything is written.
 */
import { ResourceDefinitionError, SchemaError } from './errors.ts';
import { formatInstantMicros } from './interval.ts';
import { normalizePath } from './normalize/naming.ts';
import type { ColumnHint, MergeConfig, MergeStrategy, Schema, TableSchema, WriteDisposition, WriteDispositionName } from './schema.ts';
import { DLT_VALID_FROM, DLT_VALID_TO, MERGE_STRATEGIES, hintedColumns, markColumnsChanged, nestedTablesOf } from './schema.ts';

export interface Disposition {
  disposition: WriteDispositionName;
  /** The merge strategy (merge only; default delete-insert). */
  strategy?: MergeStrategy;
  config?: MergeConfig;
}

/** Reads a `writeDisposition` option; an invalid one is a ResourceDefinitionError naming the resource. */
export function parseWriteDisposition(wd: WriteDisposition | undefined, resource?: string): Disposition {
  if (wd === undefined) return { disposition: 'append' };
  const name = typeof wd === 'string' ? wd : wd?.disposition;
  if (name !== 'append' && name !== 'replace' && name !== 'merge') {
    throw new ResourceDefinitionError(`Invalid writeDisposition ${JSON.stringify(wd)}: use 'append', 'replace', 'merge' or { disposition: 'merge', strategy }`, { resource });
  }
  if (name !== 'merge') return { disposition: name };
  if (typeof wd === 'string') return { disposition: 'merge', strategy: 'delete-insert' };
  const config = wd as MergeConfig;
  if (config.strategy !== undefined && !MERGE_STRATEGIES.includes(config.strategy)) {
    throw new ResourceDefinitionError(`Invalid merge strategy "${config.strategy}": use one of ${MERGE_STRATEGIES.join(', ')}`, { resource });
  }
  return { disposition: 'merge', strategy: config.strategy || 'delete-insert', config };
}

/** The hints of one resource, as its options give them. */
export interface ResourceHints {
  resource: string;
  writeDisposition?: WriteDisposition;
  primaryKey?: string | string[];
  mergeKey?: string | string[];
  columns?: Record<string, ColumnHint>;
  maxTableNesting?: number;
  /** The column the resource's incremental reads its cursor from, when the cursor path names one field. */
  cursorColumn?: string;
}

/** What the source adds to every resource's table. */
export interface SourceHints {
  rootKey: boolean;
  maxTableNesting?: number;
}

/** Creates or updates `table` (a root table) with the resource's hints. */
export function applyHints(schema: Schema, table: string, h: ResourceHints, src: SourceHints, warn: (m: string) => void): TableSchema {
  const { disposition, strategy, config } = parseWriteDisposition(h.writeDisposition, h.resource);
  let t = schema.tables[table];
  if (!t) schema.tables[table] = t = { name: table, columns: {} };
  if (t.parent) throw new ResourceDefinitionError(`Table "${table}" is a nested table and cannot receive a resource's items`, { resource: h.resource, table });
  t.resource = h.resource;
  t.writeDisposition = disposition;
  t.mergeStrategy = disposition === 'merge' ? strategy : undefined;
  t.maxTableNesting = h.maxTableNesting ?? src.maxTableNesting ?? t.maxTableNesting;
  // merging nested tables needs their root key (scd2 links them by row hash instead)
  const needsRootKey = disposition === 'merge' && strategy !== 'scd2';
  const hasRootKeyColumn = nestedTablesOf(schema, table).some((n) => n.columns._dlt_root_id);
  t.rootKeyPropagation = src.rootKey || needsRootKey || hasRootKeyColumn || (t.rootKeyPropagation ?? false);
  const pk = keyList(h.primaryKey);
  const mk = keyList(h.mergeKey);
  setColumnHints(t, h.columns, pk, mk, h.cursorColumn && normalizePath(h.cursorColumn));
  // keys come from the key options and from column hints (`columns: { id: { primaryKey: true } }`), as in dlt
  checkMergeHints(t, h.resource, disposition, strategy, hintedKeys(t, 'primaryKey'), hintedKeys(t, 'mergeKey'), warn);
  t.scd2 = disposition === 'merge' && strategy === 'scd2' ? scd2Of(t, config, h.resource) : undefined;
  markColumnsChanged(schema);
  return t;
}

function hintedKeys(t: TableSchema, hint: 'primaryKey' | 'mergeKey'): string[] {
  return Object.entries(t.columnHints ?? {}).filter(([, h]) => h[hint]).map(([name]) => name);
}

function keyList(k: string | string[] | undefined): string[] {
  return (k === undefined ? [] : Array.isArray(k) ? k : [k]).map((c) => normalizePath(c));
}

/** Column hints in code replace stored key hints: a key removed in code is removed from the schema. */
function setColumnHints(t: TableSchema, columns: Record<string, ColumnHint> | undefined, pk: string[], mk: string[], cursor: string | undefined): void {
  const hints: Record<string, ColumnHint> = {};
  for (const [name, h] of Object.entries(columns ?? {})) hints[normalizePath(name)] = { ...h };
  for (const k of pk) hints[k] = { ...hints[k], primaryKey: true, nullable: false };
  for (const k of mk) hints[k] = { ...hints[k], mergeKey: true, nullable: false };
  if (cursor) hints[cursor] = { ...hints[cursor], incremental: true };
  for (const c of Object.values(t.columns)) {
    const h = hints[c.name];
    c.primaryKey = h?.primaryKey || undefined;
    c.mergeKey = h?.mergeKey || undefined;
    c.incremental = h?.incremental || undefined;
    if (h) Object.assign(c, Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'dataType')));
  }
  t.columnHints = hints;
}

/**
 * Merge hints that cannot work fail (one hardDelete / dedupSort column, a valid dedupSort order,
 * a primary key for upsert and insert-only); hints that are ignored warn.
 */
function checkMergeHints(
  t: TableSchema,
  resource: string,
  disposition: WriteDispositionName,
  strategy: MergeStrategy | undefined,
  pk: string[],
  mk: string[],
  warn: (m: string) => void,
): void {
  const fail = (message: string, column?: string): never => {
    throw new SchemaError(message, { resource, table: t.name, column });
  };
  const hardDelete = hintedColumns(t, 'hardDelete');
  const dedupSort = hintedColumns(t, 'dedupSort');
  for (const c of dedupSort) {
    const v = t.columnHints?.[c]?.dedupSort ?? t.columns[c]?.dedupSort;
    if (v !== 'asc' && v !== 'desc') fail(`Invalid dedupSort ${JSON.stringify(v)} on column "${c}": use 'asc' or 'desc'`, c);
  }
  if (disposition !== 'merge') {
    if (hardDelete.length || dedupSort.length) warn(`table "${t.name}": hardDelete / dedupSort hints only apply to the merge write disposition and are ignored`);
    return;
  }
  if (hardDelete.length > 1) fail(`Only one column may have the hardDelete hint, found: ${hardDelete.join(', ')}`, hardDelete[1]);
  if (dedupSort.length > 1) fail(`Only one column may have the dedupSort hint, found: ${dedupSort.join(', ')}`, dedupSort[1]);
  if ((strategy === 'upsert' || strategy === 'insert-only') && !pk.length) fail(`The ${strategy} merge strategy needs a primary key (primaryKey option)`);
  if ((strategy === 'upsert' || strategy === 'insert-only') && mk.length) warn(`table "${t.name}": mergeKey is ignored by the ${strategy} merge strategy`);
  if ((strategy ?? 'delete-insert') === 'delete-insert') {
    if (!pk.length && !mk.length) warn(`table "${t.name}" has merge write disposition but no primary key or merge key: rows are appended`);
    if (dedupSort.length && !pk.length) warn(`table "${t.name}": dedupSort needs a primary key and is ignored`);
  }
}

/** scd2's configuration and validity columns (filled by the merge, not by the data: they go last). */
function scd2Of(t: TableSchema, config: MergeConfig | undefined, resource: string): NonNullable<TableSchema['scd2']> {
  const cfg = config ?? ({} as MergeConfig);
  const [from, to] = (cfg.validityColumnNames ?? [DLT_VALID_FROM, DLT_VALID_TO]).map((n) => normalizePath(n));
  const ts = (v: string | Date | undefined, what: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    try {
      return formatInstantMicros(v, `${what} of resource "${resource}"`);
    } catch (e) {
      throw new ResourceDefinitionError(`Invalid ${what} ${JSON.stringify(v)}: use a Date or an ISO-8601 string`, { resource, table: t.name, column: to, value: v, cause: e });
    }
  };
  const scd2 = {
    validFrom: from,
    validTo: to,
    activeRecordTimestamp: ts(cfg.activeRecordTimestamp, 'activeRecordTimestamp'),
    boundaryTimestamp: ts(cfg.boundaryTimestamp, 'boundaryTimestamp'),
    rowVersionColumn: cfg.rowVersionColumnName ? normalizePath(cfg.rowVersionColumnName) : undefined,
  };
  t.columns[from] ??= { name: from, dataType: 'timestamp', nullable: true, x_valid_from: true };
  t.columns[to] ??= { name: to, dataType: 'timestamp', nullable: true, x_valid_to: true };
  if (scd2.activeRecordTimestamp) t.columns[to].x_active_record_timestamp = scd2.activeRecordTimestamp;
  return scd2;
}
