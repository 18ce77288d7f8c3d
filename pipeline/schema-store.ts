/**
 * The schema as stored in `_dlt_version.schema`: dlt's JSON shape (snake_case hints, `data_type`,
 * `write_disposition`, `parent`), so tools that read dlt's stored schema can read tide's.
 */
import type { ColumnSchema, Schema, TableSchema } from './schema.ts';
import { createHash } from 'node:crypto';
import { sortedJson } from './normalize/hash.ts';

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
  ['scale', 'scale'],
  ['x_valid_from', 'x-valid-from'],
  ['x_valid_to', 'x-valid-to'],
  ['x_row_version', 'x-row-version'],
  ['x_active_record_timestamp', 'x-active-record-timestamp'],
];

export function toStoredSchema(schema: Schema, version: number): Record<string, unknown> {
  const tables: Record<string, unknown> = {};
  for (const t of Object.values(schema.tables)) {
    const columns: Record<string, unknown> = {};
    for (const c of Object.values(t.columns)) {
      const out: Record<string, unknown> = { name: c.name, data_type: c.dataType };
      for (const [k, dk] of COLUMN_KEYS) if (c[k] !== undefined) out[dk] = c[k];
      columns[c.name] = out;
    }
    tables[t.name] = {
      name: t.name,
      columns,
      ...(t.parent ? { parent: t.parent } : {}),
      ...(t.writeDisposition ? { write_disposition: t.writeDisposition } : {}),
      ...(t.mergeStrategy ? { 'x-merge-strategy': t.mergeStrategy } : {}),
      ...(t.resource ? { resource: t.resource } : {}),
      'x-tide': {
        maxTableNesting: t.maxTableNesting,
        rootKeyPropagation: t.rootKeyPropagation,
        scd2: t.scd2,
        columnHints: t.columnHints,
      },
    };
  }
  return { version, engine_version: 11, name: schema.name, tables };
}

export function fromStoredSchema(stored: Record<string, any>): Schema {
  const schema: Schema = { name: stored.name, tables: {} };
  for (const [name, t] of Object.entries<any>(stored.tables ?? {})) {
    if (name.startsWith('_dlt_')) continue;
    const columns: Record<string, ColumnSchema> = {};
    for (const [cname, c] of Object.entries<any>(t.columns ?? {})) {
      if (!c.data_type) continue;
      const col: ColumnSchema = { name: cname, dataType: c.data_type, nullable: c.nullable ?? true };
      for (const [k, dk] of COLUMN_KEYS) if (c[dk] !== undefined) (col as unknown as Record<string, unknown>)[k] = c[dk];
      columns[cname] = col;
    }
    const x = t['x-tide'] ?? {};
    const table: TableSchema = { name, columns };
    if (t.parent) table.parent = t.parent;
    if (t.write_disposition) table.writeDisposition = t.write_disposition;
    if (t['x-merge-strategy']) table.mergeStrategy = t['x-merge-strategy'];
    if (t.resource) table.resource = t.resource;
    if (x.maxTableNesting !== undefined) table.maxTableNesting = x.maxTableNesting;
    if (x.rootKeyPropagation !== undefined) table.rootKeyPropagation = x.rootKeyPropagation;
    if (x.scd2) table.scd2 = x.scd2;
    if (x.columnHints) table.columnHints = x.columnHints;
    schema.tables[name] = table;
  }
  return schema;
}

/** A content hash of the schema (`_dlt_version.version_hash`, `_dlt_loads.schema_version_hash`). */
export function schemaHash(schema: Schema): string {
  // key order does not matter (a schema read back from JSON storage may come back reordered)
  return createHash('sha3-256').update(sortedJson(toStoredSchema(schema, 0))).digest('base64');
}
