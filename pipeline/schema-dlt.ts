/**
 * The fixed parts of dlt's stored schema, as the latest dlt writes them: the entries of its three
 * bookkeeping tables, the settings (type detections, default column hints) and the normalizer
 * configuration. dlt refuses a stored schema without the `_dlt_version` and `_dlt_loads` entries.
 */
import { DLT_ID, DLT_ROOT_ID } from './schema.ts';

/** dlt's stored-schema engine version (the same in dlt 1.26 and the latest). */
export const SCHEMA_ENGINE_VERSION = 11;

type Col = [name: string, dataType: string, nullable: boolean, description: string, extra?: Record<string, unknown>];

function columns(cols: Col[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, data_type, nullable, description, extra] of cols) {
    out[name] = { name, data_type, nullable, ...extra, ...(description ? { description } : {}) };
  }
  return out;
}

export const DLT_SYSTEM_TABLES: Record<string, Record<string, unknown>> = {
  _dlt_version: {
    name: '_dlt_version',
    columns: columns([
      ['version', 'bigint', false, 'Numeric version of the schema, incremented on each schema change'],
      ['engine_version', 'bigint', false, 'Version of the dlt schema engine that created this schema'],
      ['inserted_at', 'timestamp', false, 'Timestamp when this schema version was stored'],
      ['schema_name', 'text', false, 'Name of the schema'],
      ['version_hash', 'text', false, 'Unique hash of the schema content, used to detect changes'],
      ['schema', 'text', false, 'JSON representation of the complete schema definition'],
    ]),
    write_disposition: 'skip',
    resource: '_dlt_version',
    description: 'Created by DLT. Tracks schema updates',
  },
  _dlt_loads: {
    name: '_dlt_loads',
    columns: columns([
      ['load_id', 'text', false, 'Unique identifier of the load operation', { precision: 64 }],
      ['schema_name', 'text', true, 'Name of the schema associated with this load'],
      ['status', 'bigint', false, 'Status of the load operation (0 = success)'],
      ['inserted_at', 'timestamp', false, 'Timestamp when the load was completed'],
      ['schema_version_hash', 'text', true, 'Hash of the schema version used during this load'],
    ]),
    write_disposition: 'skip',
    resource: '_dlt_loads',
    description: 'Created by DLT. Tracks completed loads',
  },
  _dlt_pipeline_state: {
    name: '_dlt_pipeline_state',
    columns: columns([
      ['version', 'bigint', false, 'Numeric version of the pipeline state'],
      ['engine_version', 'bigint', false, 'Version of the dlt state engine'],
      ['pipeline_name', 'text', false, 'Name of the pipeline this state belongs to'],
      ['state', 'text', false, 'Compressed JSON representation of the pipeline state'],
      ['created_at', 'timestamp', false, 'Timestamp when this state was created'],
      ['version_hash', 'text', true, 'Hash of the state content, used to detect changes'],
      ['_dlt_load_id', 'text', false, 'Load identifier linking this row to its load operation', { precision: 64 }],
      ['_dlt_id', 'text', false, '', { unique: true, row_key: true }],
    ]),
    write_disposition: 'append',
    file_format: 'preferred',
    resource: '_dlt_pipeline_state',
    'x-normalizer': { 'seen-data': true },
  },
};

/** Type detections and the default hints of dlt's own columns. */
export const DLT_SETTINGS = {
  detections: ['iso_timestamp'],
  default_hints: {
    not_null: ['_dlt_id', '_dlt_root_id', '_dlt_parent_id', '_dlt_list_idx', '_dlt_load_id'],
    parent_key: ['_dlt_parent_id'],
    root_key: ['_dlt_root_id'],
    unique: ['_dlt_id'],
    row_key: ['_dlt_id'],
  },
};

/** The normalizer config; root tables listed propagate their `_dlt_id` as `_dlt_root_id` to nested tables. */
export function dltNormalizers(propagatingRoots: string[]): Record<string, unknown> {
  const tables: Record<string, Record<string, string>> = {};
  for (const t of propagatingRoots) tables[t] = { [DLT_ID]: DLT_ROOT_ID };
  const config = propagatingRoots.length ? { config: { propagation: { tables } } } : {};
  return { names: 'snake_case', json: { module: 'dlt.common.normalizers.json.relational', ...config } };
}
