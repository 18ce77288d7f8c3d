/**
 * The stored schema in dlt's shape: dlt's `version_hash` (constants computed by dlt 1.26.0 and
 * dlt 1.31.0 with `generate_version_hash` / `Schema.from_dict`), dlt's schemas read back, and tide's
 * own schemas written so that dlt computes the same hash tide does.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bumpSchemaVersion, fromStoredSchema, schemaHash, toStoredSchema, versionHash } from '../../pipeline/schema-store.ts';
import type { Schema } from '../../pipeline/schema.ts';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/dlt-schemas/${name}.json`, import.meta.url), 'utf8'));

/** version_hash of each fixture as both dlt versions compute it. */
const DLT_HASHES: Record<string, string> = {
  'append.dlt-1.31': '+xxrNwvLexSg/nOA6+fQ66dvDoZtqp6vOt+qaMDgVT8=',
  'merge-nested.dlt-1.26': 'jj6V/RW1uKxP1ffuQ72pT02fGAHkIMQytwGcBMvw4WE=',
  'merge-nested.dlt-1.31': 'r1y50uGa+xX99kLuzy1/eY8f5bLkNJg3t1CGJbgfD8U=',
  'scd2-upsert-replace.dlt-1.31': 'ozim/R1IUl2EvndoSFW5Vf9cUC+u1cdqxxI2moTBYDs=',
};

/** A merge table with a nested list, an incremental cursor and rows in both tables, as tide builds it. */
function issuesSchema(): Schema {
  return {
    name: 'fixture',
    tables: {
      issues: {
        name: 'issues',
        resource: 'issues',
        writeDisposition: 'merge',
        mergeStrategy: 'delete-insert',
        rootKeyPropagation: true,
        seenData: true,
        columnHints: { id: { primaryKey: true, nullable: false }, updated_at: { incremental: true }, closed_by: { dataType: 'text' } },
        columns: {
          id: { name: 'id', dataType: 'bigint', nullable: false, primaryKey: true },
          updated_at: { name: 'updated_at', dataType: 'bigint', nullable: true, incremental: true },
          title: { name: 'title', dataType: 'text', nullable: true },
          _dlt_load_id: { name: '_dlt_load_id', dataType: 'text', nullable: false },
          _dlt_id: { name: '_dlt_id', dataType: 'text', nullable: false, unique: true, rowKey: true },
        },
      },
      issues__labels: {
        name: 'issues__labels',
        parent: 'issues',
        seenData: true,
        columns: {
          name: { name: 'name', dataType: 'text', nullable: true },
          _dlt_root_id: { name: '_dlt_root_id', dataType: 'text', nullable: false, rootKey: true },
          _dlt_parent_id: { name: '_dlt_parent_id', dataType: 'text', nullable: false, parentKey: true },
          _dlt_list_idx: { name: '_dlt_list_idx', dataType: 'bigint', nullable: false },
          _dlt_id: { name: '_dlt_id', dataType: 'text', nullable: false, unique: true, rowKey: true },
        },
      },
    },
  };
}

describe('stored schema: dlt version_hash', () => {
  for (const [name, hash] of Object.entries(DLT_HASHES)) {
    it(`${name}: tide computes dlt's hash`, () => {
      expect(versionHash(fixture(name))).toBe(hash);
    });
  }

  it('column order is part of the hash (dlt hashes column names in order)', () => {
    const doc = fixture('append.dlt-1.31');
    const ev = doc.tables.ev.columns;
    doc.tables.ev.columns = Object.fromEntries(Object.entries(ev).reverse());
    expect(versionHash(doc)).not.toBe(DLT_HASHES['append.dlt-1.31']);
  });

  it("a schema read from dlt 1.31 and written back has dlt's hash (nothing lost, nothing added)", () => {
    for (const name of ['append.dlt-1.31', 'merge-nested.dlt-1.31']) {
      const back = toStoredSchema(fromStoredSchema(fixture(name)));
      expect(back.version_hash).toBe(DLT_HASHES[name]);
      expect(back.previous_hashes).toEqual(fixture(name).previous_hashes);
      expect(back.version).toBe(2);
    }
  });

  it("tide's own schema: the document dlt 1.26.0 and 1.31.0 hash to the same value", () => {
    const doc = toStoredSchema(issuesSchema());
    // computed by dlt's generate_version_hash on this document, both versions
    expect(doc.version_hash).toBe(TIDE_DOC_HASH);
    expect(schemaHash(issuesSchema())).toBe(TIDE_DOC_HASH);
  });
});

const TIDE_DOC_HASH = '8Hz/5fiQXPgw9i4V7BD9s1dKoYPWmtX6RJc/ALmR5sg=';

describe("stored schema: dlt's shape", () => {
  it('has every key dlt requires, the system tables, settings and the root-key propagation', () => {
    const doc = toStoredSchema(issuesSchema(), 3);
    expect(Object.keys(doc).sort()).toEqual(['engine_version', 'name', 'normalizers', 'previous_hashes', 'settings', 'tables', 'version', 'version_hash']);
    expect(doc.version).toBe(3);
    expect(doc.engine_version).toBe(11);
    expect(Object.keys(doc.tables)).toEqual(['_dlt_version', '_dlt_loads', '_dlt_pipeline_state', 'issues', 'issues__labels']);
    expect(doc.normalizers).toEqual({
      names: 'snake_case',
      json: { module: 'dlt.common.normalizers.json.relational', config: { propagation: { tables: { issues: { _dlt_id: '_dlt_root_id' } } } } },
    });
    expect(doc.settings.default_hints.row_key).toEqual(['_dlt_id']);
    expect(doc.tables.issues['x-normalizer']).toEqual({ 'seen-data': true });
    expect(doc.tables.issues['x-merge-strategy']).toBeUndefined();
    expect(doc.tables.issues.columns.updated_at.incremental).toBe(true);
    // a hinted column no value has made yet: a column without a data type, as dlt keeps it
    expect(doc.tables.issues.columns.closed_by).toEqual({ name: 'closed_by', data_type: 'text' });
  });

  it('reads back what it writes', () => {
    const s = issuesSchema();
    const back = fromStoredSchema(toStoredSchema(s));
    expect(back.tables.issues__labels).toEqual(s.tables.issues__labels);
    expect(back.tables.issues.columns).toEqual(s.tables.issues.columns);
    expect(back.tables.issues.columnHints).toEqual({ closed_by: { dataType: 'text' } });
    expect(back.tables.issues.rootKeyPropagation).toBe(true);
    expect(back.tables.issues.mergeStrategy).toBe('delete-insert');
  });

  it("reads dlt's scd2 table: validity columns, active-record timestamp, nesting depth, hint-only columns", () => {
    const s = fromStoredSchema(fixture('scd2-upsert-replace.dlt-1.31'));
    expect(s.tables.dim.scd2).toEqual({ validFrom: '_dlt_valid_from', validTo: '_dlt_valid_to', activeRecordTimestamp: '9999-12-31', boundaryTimestamp: undefined, rowVersionColumn: undefined });
    expect(s.tables.dim.maxTableNesting).toBe(1);
    expect(s.tables.dim.columnHints).toEqual({ deleted: { dataType: 'bool', hardDelete: true }, ghost: { dedupSort: 'desc' } });
    expect(s.tables.up.mergeStrategy).toBe('upsert');
    expect(s.tables.up.rootKeyPropagation).toBe(true);
    expect(s.tables.dim.rootKeyPropagation).toBeUndefined();
    expect(s.tables.rep.writeDisposition).toBe('replace');
    expect(Object.keys(s.tables).sort()).toEqual(['dim', 'dim__l', 'rep', 'up']);
  });

  it("bumps like dlt: a changed content is version + 1 with the old hash first in previous_hashes, an unchanged one is not", () => {
    const s = fromStoredSchema(fixture('merge-nested.dlt-1.31'));
    const before = schemaHash(s);
    expect(before).toBe(DLT_HASHES['merge-nested.dlt-1.31']);
    bumpSchemaVersion(s, before);
    expect(s.version).toBe(2);
    s.tables.issues.columns.body = { name: 'body', dataType: 'text', nullable: true };
    bumpSchemaVersion(s, before);
    expect(s.version).toBe(3);
    expect(s.previousHashes).toEqual([before, ...fixture('merge-nested.dlt-1.31').previous_hashes]);
    expect(s.versionHash).toBe(schemaHash(s));
  });
});
