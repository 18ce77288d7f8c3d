/**
 * Schema contracts in the normalizer (NM-15), the parts the integration test cannot see row by row:
 * a discarded nested row takes its own nested rows with it while its parent stays (dlt's
 * `should_descend = False`), `_dlt_*` columns always evolve, and contracts resolve and validate as
 * dlt's `expand_schema_contract_settings` does.
 */
import { describe, expect, it } from 'vitest';
import { Normalizer } from '../../pipeline/normalize/index.ts';
import { resolveSchemaContract, validateSchemaContract } from '../../pipeline/contract.ts';
import { DataContractViolation, ResourceDefinitionError } from '../../pipeline/errors.ts';
import type { DiscardedCounts } from '../../pipeline/counts.ts';
import type { Schema } from '../../pipeline/schema.ts';

type Row = Record<string, unknown>;

/** A schema where `t (id)` and `t__tags (t)` exist, as after a first load. */
function existing(): Schema {
  return {
    name: 's',
    tables: {
      t: { name: 't', columns: { id: { name: 'id', dataType: 'bigint', nullable: true } } },
      t__tags: { name: 't__tags', parent: 't', columns: { t: { name: 't', dataType: 'text', nullable: true } } },
    },
  };
}

function normalize(schema: Schema, contract: Parameters<typeof resolveSchemaContract>[0], items: unknown[]) {
  const discarded: DiscardedCounts = {};
  const n = new Normalizer(schema, { loadId: '1700000000.1', resource: 'res', pipeline: 'pipe', contract: resolveSchemaContract(contract, undefined), discarded });
  const rows: [string, Row][] = [];
  for (const item of items) n.normalize(item, 't', (t, r) => rows.push([t, r]));
  const data = rows.map(([t, r]) => [t, Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('_dlt')))]);
  return { data, discarded };
}

describe('schema contract in the normalizer', () => {
  it('discard_row on a nested row: the row and the rows nested in it go, its parent and siblings stay', () => {
    const item = { id: 1, tags: [{ t: 'u' }, { t: 'v', extra: 'x', deeper: [{ a: 1 }] }, { t: 'w' }] };
    const { data, discarded } = normalize(existing(), { columns: 'discard_row' }, [item]);
    expect(data).toEqual([
      ['t', { id: 1 }],
      ['t__tags', { t: 'u' }],
      ['t__tags', { t: 'w' }],
    ]);
    expect(discarded).toEqual({ t__tags: { rows: 1, values: 0 } });
  });

  it('discard_value keeps the nested row without the value; a new nested table under it is a table (discarded as a row)', () => {
    const item = { id: 1, tags: [{ t: 'v', extra: 'x', deeper: [{ a: 1 }] }] };
    const { data, discarded } = normalize(existing(), 'discard_value', [item]);
    expect(data).toEqual([
      ['t', { id: 1 }],
      ['t__tags', { t: 'v' }],
    ]);
    expect(discarded).toEqual({ t__tags: { rows: 0, values: 1 }, t__tags__deeper: { rows: 1, values: 0 } });
  });

  it('freeze names the table, the column and the whole item; the row of a frozen variant too', () => {
    const item = { id: 'one' };
    let err: unknown;
    try {
      normalize(existing(), { data_type: 'freeze' }, [item]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataContractViolation);
    expect(err).toMatchObject({ entity: 'data_type', table: 't', column: 'id', item, resource: 'res', pipeline: 'pipe' });
    expect((err as Error).message).toContain('variant column "id__v_text"');
  });

  it("_dlt_* columns and variants that already exist are no change: 'freeze' lets them through", () => {
    const schema = existing();
    schema.tables.t.columns.id__v_text = { name: 'id__v_text', dataType: 'text', nullable: true, variant: true };
    const { data } = normalize(schema, 'freeze', [{ id: 'one', _dlt_note: 'n' }]);
    expect(data).toEqual([['t', { id__v_text: 'one' }]]);
  });

  it('resolves like dlt: a mode sets all entities, a partial object evolves the rest, all-evolve checks nothing', () => {
    expect(resolveSchemaContract('freeze', 'discard_row')).toEqual({ tables: 'freeze', columns: 'freeze', data_type: 'freeze' });
    expect(resolveSchemaContract({ columns: 'discard_value' }, 'freeze')).toEqual({ tables: 'evolve', columns: 'discard_value', data_type: 'evolve' });
    expect(resolveSchemaContract(undefined, { tables: 'freeze' })).toEqual({ tables: 'freeze', columns: 'evolve', data_type: 'evolve' });
    expect(resolveSchemaContract('evolve', 'freeze')).toBeUndefined();
    expect(resolveSchemaContract(undefined, undefined)).toBeUndefined();
  });

  it('validates modes and entities', () => {
    expect(() => validateSchemaContract('frozen', { what: 'resource "r"', resource: 'r' })).toThrow(ResourceDefinitionError);
    expect(() => validateSchemaContract({ data_types: 'freeze' }, { what: 'resource "r"' })).toThrow(/unknown entity "data_types"/);
    expect(() => validateSchemaContract(['freeze'], { what: 'resource "r"' })).toThrow(/must be a mode or/);
    expect(() => validateSchemaContract({ tables: 'discard_value' }, { what: 'resource "r"' })).not.toThrow();
  });
});
