/**
 * The schema as stored in `_dlt_version.schema` and in the working folder: dlt's stored-schema
 * document, so that dlt (`Schema.from_dict`, `dlt.dataset()`, `dlt pipeline … sync`) reads what
 * tide writes and tide reads what dlt writes. Every tide notion maps onto dlt's own keys:
 * nesting depth and seen data under `x-normalizer`, root-key propagation in the normalizer
 * config, hints of columns without data as columns without a data type, scd2 as column hints.
 */
import { createHash } from 'node:crypto';
import type { ColumnHint, ColumnSchema, DataType, Schema, TableSchema } from './schema.ts';
import { DLT_ID, DLT_VALID_FROM, DLT_VALID_TO, isSystemTable } from './schema.ts';
import { sortedJson } from './normalize/hash.ts';
import { DLT_SYSTEM_TABLES, DLT_SETTINGS, SCHEMA_ENGINE_VERSION, dltNormalizers } from './schema-dlt.ts';

export type StoredSchema = Record<string, any>;

/** How many earlier hashes dlt keeps in `previous_hashes`. */
const MAX_PREVIOUS_HASHES = 10;

const COLUMN_KEYS: [keyof ColumnSchema, string][] = [
  ['nullable', 'nullable'],
  ['primaryKey', 'primary_key'],
  ['mergeKey', 'merge_key'],
  ['hardDelete', 'hard_delete'],
  ['dedupSort', 'dedup_sort'],
  ['unique', 'unique'],
  ['rowKey', 'row_key'],
  ['parentKey', 'parent_key'],
  ['rootKey', 'root_key'],
  ['variant', 'variant'],
  ['incremental', 'incremental'],
  ['precision', 'precision'],
  ['timezone', 'timezone'],
  ['scale', 'scale'],
  ['x_valid_from', 'x-valid-from'],
  ['x_valid_to', 'x-valid-to'],
  ['x_row_version', 'x-row-version'],
  ['x_active_record_timestamp', 'x-active-record-timestamp'],
];

/** The stored document of `schema` at `version` (default: the schema's own), with dlt's version hash. */
export function toStoredSchema(schema: Schema, version = schema.version ?? 1): StoredSchema {
  const tables: StoredSchema = { ...structuredClone(DLT_SYSTEM_TABLES) };
  for (const t of Object.values(schema.tables)) if (!isSystemTable(t.name)) tables[t.name] = storedTable(t);
  const doc: StoredSchema = {
    version,
    version_hash: '',
    engine_version: SCHEMA_ENGINE_VERSION,
    name: schema.name,
    tables,
    settings: structuredClone(DLT_SETTINGS),
    normalizers: dltNormalizers(propagatingTables(schema)),
    previous_hashes: [...(schema.previousHashes ?? [])],
  };
  doc.version_hash = versionHash(doc);
  return doc;
}

function propagatingTables(schema: Schema): string[] {
  return Object.values(schema.tables).filter((t) => !t.parent && t.rootKeyPropagation).map((t) => t.name);
}

function storedTable(t: TableSchema): StoredSchema {
  const columns: StoredSchema = {};
  for (const c of Object.values(t.columns)) columns[c.name] = storedColumn(c);
  // hints of columns no value has made yet: dlt keeps them as columns without a data type
  for (const [name, h] of Object.entries(t.columnHints ?? {})) if (!t.columns[name]) columns[name] = hintOnlyColumn(name, h);
  const out: StoredSchema = { name: t.name, columns };
  if (t.parent) out.parent = t.parent;
  if (t.writeDisposition) out.write_disposition = t.writeDisposition;
  // delete-insert is dlt's default strategy: dlt writes the key only when a strategy was named
  if (t.mergeStrategy && t.mergeStrategy !== 'delete-insert') out['x-merge-strategy'] = t.mergeStrategy;
  if (t.scd2?.boundaryTimestamp) out['x-boundary-timestamp'] = t.scd2.boundaryTimestamp;
  if (t.resource) out.resource = t.resource;
  const normalizer: StoredSchema = {};
  if (t.maxTableNesting !== undefined) normalizer.max_nesting = t.maxTableNesting;
  if (t.seenData) normalizer['seen-data'] = true;
  if (Object.keys(normalizer).length) out['x-normalizer'] = normalizer;
  return out;
}

function storedColumn(c: ColumnSchema): StoredSchema {
  const out: StoredSchema = { name: c.name, data_type: c.dataType };
  for (const [k, dk] of COLUMN_KEYS) if (c[k] !== undefined) out[dk] = c[k];
  return out;
}

function hintOnlyColumn(name: string, h: ColumnHint): StoredSchema {
  const out: StoredSchema = { name };
  if (h.dataType) out.data_type = h.dataType;
  for (const [k, dk] of COLUMN_KEYS) if (h[k as keyof ColumnHint] !== undefined) out[dk] = h[k as keyof ColumnHint];
  return out;
}

/**
 * dlt's `version_hash`: base64 sha3-256 of the document's compact JSON with sorted keys, without
 * version, hashes and history, followed by every table name (sorted) and its column names in their
 * order (column order is part of a schema's identity, key sorting would lose it).
 */
export function versionHash(stored: StoredSchema): string {
  const { version: _v, version_hash: _h, imported_version_hash: _i, previous_hashes: _p, ...content } = stored;
  const h = createHash('sha3-256').update(sortedJson(content));
  const tables = (content.tables ?? {}) as StoredSchema;
  for (const tn of Object.keys(tables).sort()) {
    h.update(tn);
    for (const cn of Object.keys(tables[tn].columns ?? {})) h.update(cn);
  }
  return h.digest('base64');
}

/** The content hash of the schema (`_dlt_version.version_hash`, `_dlt_loads.schema_version_hash`). */
export function schemaHash(schema: Schema): string {
  return toStoredSchema(schema).version_hash;
}

/** Marks `schema` as the next version after `hashBefore` (dlt's bump: version + 1, the old hash remembered). */
export function bumpSchemaVersion(schema: Schema, hashBefore: string | undefined): void {
  const hash = schemaHash(schema);
  if (hash === hashBefore) return;
  if (hashBefore !== undefined && schema.versionHash !== undefined) {
    const previous = (schema.previousHashes ?? []).filter((x) => x !== hashBefore);
    schema.previousHashes = [hashBefore, ...previous].slice(0, MAX_PREVIOUS_HASHES);
    schema.version = (schema.version ?? 1) + 1;
  } else schema.version ??= 1;
  schema.versionHash = hash;
}

/** Reads a stored schema written by dlt (either version) or by tide. */
export function fromStoredSchema(stored: StoredSchema): Schema {
  const schema: Schema = { name: stored.name, tables: {} };
  if (typeof stored.version === 'number') schema.version = stored.version;
  if (typeof stored.version_hash === 'string') schema.versionHash = stored.version_hash;
  if (Array.isArray(stored.previous_hashes)) schema.previousHashes = [...stored.previous_hashes];
  const propagation = stored.normalizers?.json?.config?.propagation ?? {};
  for (const [name, t] of Object.entries<StoredSchema>(stored.tables ?? {})) {
    if (isSystemTable(name)) continue;
    schema.tables[name] = readTable(name, t);
  }
  for (const t of Object.values(schema.tables)) {
    if (t.parent) continue;
    const propagates = !!propagation.root?.[DLT_ID] || !!propagation.tables?.[t.name]?.[DLT_ID];
    if (propagates) t.rootKeyPropagation = true;
  }
  return schema;
}

function readTable(name: string, t: StoredSchema): TableSchema {
  const table: TableSchema = { name, columns: {} };
  const hints: Record<string, ColumnHint> = {};
  for (const [cname, c] of Object.entries<StoredSchema>(t.columns ?? {})) {
    if (isDataColumn(c)) table.columns[cname] = readColumn(cname, c);
    else hints[cname] = readHint(c);
  }
  if (Object.keys(hints).length) table.columnHints = hints;
  if (t.parent) table.parent = t.parent;
  if (t.write_disposition && t.write_disposition !== 'skip') table.writeDisposition = t.write_disposition;
  if (t.write_disposition === 'merge') table.mergeStrategy = t['x-merge-strategy'] ?? 'delete-insert';
  if (t.resource) table.resource = t.resource;
  const normalizer = t['x-normalizer'] ?? {};
  if (typeof normalizer.max_nesting === 'number') table.maxTableNesting = normalizer.max_nesting;
  if (normalizer['seen-data']) table.seenData = true;
  if (table.mergeStrategy === 'scd2') table.scd2 = readScd2(table, t);
  readTideExtension(table, t['x-tide']);
  return table;
}

/**
 * A column values have made: dlt completes such a column with its type and nullability. A column
 * declared in code that no value has reached yet lacks one of them (a hinted type has no `nullable`).
 */
function isDataColumn(c: StoredSchema): boolean {
  return typeof c.data_type === 'string' && typeof c.nullable === 'boolean';
}

function readColumn(name: string, c: StoredSchema): ColumnSchema {
  const col: ColumnSchema = { name, dataType: c.data_type as DataType, nullable: c.nullable ?? true };
  for (const [k, dk] of COLUMN_KEYS) if (c[dk] !== undefined) (col as unknown as StoredSchema)[k] = c[dk];
  return col;
}

function readHint(c: StoredSchema): ColumnHint {
  const h: StoredSchema = {};
  if (c.data_type) h.dataType = c.data_type;
  for (const [k, dk] of COLUMN_KEYS) if (c[dk] !== undefined && k in HINT_KEYS) h[k] = c[dk];
  return h as ColumnHint;
}

const HINT_KEYS: Record<keyof ColumnHint, true> = {
  dataType: true, nullable: true, primaryKey: true, mergeKey: true, hardDelete: true, dedupSort: true, unique: true, precision: true, scale: true, timezone: true, incremental: true,
};

/** scd2's settings, from the validity and row-version column hints dlt stores them as. */
function readScd2(table: TableSchema, t: StoredSchema): NonNullable<TableSchema['scd2']> {
  const cols = Object.values(table.columns);
  const validTo = cols.find((c) => c.x_valid_to);
  const rowVersion = cols.find((c) => c.x_row_version && c.name !== DLT_ID);
  return {
    validFrom: cols.find((c) => c.x_valid_from)?.name ?? DLT_VALID_FROM,
    validTo: validTo?.name ?? DLT_VALID_TO,
    activeRecordTimestamp: validTo?.x_active_record_timestamp,
    boundaryTimestamp: t['x-boundary-timestamp'],
    rowVersionColumn: rowVersion?.name,
  };
}

/** Schemas tide stored before it wrote dlt's shape kept its own settings under `x-tide`. */
function readTideExtension(table: TableSchema, x: StoredSchema | undefined): void {
  if (!x) return;
  if (x.maxTableNesting !== undefined) table.maxTableNesting = x.maxTableNesting;
  if (x.rootKeyPropagation !== undefined) table.rootKeyPropagation = x.rootKeyPropagation;
  if (x.scd2) table.scd2 = x.scd2;
  if (x.columnHints) table.columnHints = x.columnHints;
}

