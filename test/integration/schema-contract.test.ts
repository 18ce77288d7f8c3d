/**
 * Schema contracts (`schemaContract` on a resource, a source, a run) and the schema changes every run
 * reports. Expected rows are those dlt 1.26 loads from the same inputs (test/interop/schema_contract_dlt.py
 * prints them): a first run creates `items (id, name)`, a second run brings a new column, a variant, a
 * new nested table and a new root table.
 */
import { describe, expect, it } from 'vitest';
import { resource, source, DataContractViolation, type Pipeline, type SchemaContract } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';
import { columnNames, loadIds, storedStates, tablesOf } from '../helpers/state-db.ts';

const FIRST = [
  { id: 1, name: 'a' },
  { id: 2, name: 'b' },
];
const SECOND = [
  { id: 3, name: 'c' },
  { id: 4, name: 'd', extra: 'x' },
  { id: 'five', name: 'e' },
  { id: 6, name: 'f', extra: 'y' },
  { id: 7, name: 'g', tags: [{ t: 'u' }] },
];

type Where = 'resource' | 'source' | 'run';

/** The second run's data under `contract` set `where`; the first run always evolves. */
async function secondRun(p: Pipeline, contract: SchemaContract, where: Where, second: unknown[] = SECOND, withOther = true) {
  await p.run(source('src', [resource(FIRST, { name: 'items' })]));
  firstRunBookkeeping.set(p, await bookkeeping(p));
  const onResource = where === 'resource' ? { schemaContract: contract } : {};
  const resources = [resource(second, { name: 'items', ...onResource })];
  if (withOther) resources.push(resource([{ k: 1 }], { name: 'other', ...onResource }));
  const src = source('src', resources, where === 'source' ? { schemaContract: contract } : {});
  return p.run(src, where === 'run' ? { schemaContract: contract } : {});
}

const items = (p: Pipeline, cols = 'id, name') => p.query(`SELECT ${cols} FROM "${p.datasetName}".items ORDER BY name`);
const FIRST_ROWS = [
  { id: 1, name: 'a' },
  { id: 2, name: 'b' },
];

/** The ledger, the stored states and schema versions of a dataset. */
async function bookkeeping(p: Pipeline) {
  const versions = await p.query(`SELECT version, version_hash FROM "${p.datasetName}"._dlt_version ORDER BY inserted_at`);
  return { loads: await loadIds(p), states: await storedStates(p), versions, state: structuredClone(p.state) };
}
const firstRunBookkeeping = new WeakMap<Pipeline, unknown>();

/** What the dataset holds after the first run: nothing of a failed second run is in it. */
async function expectOnlyFirstRun(p: Pipeline): Promise<void> {
  expect(await items(p)).toEqual(FIRST_ROWS);
  expect(await columnNames(p, 'items')).toEqual(['id', 'name', '_dlt_load_id', '_dlt_id']);
  expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual(['items']);
  const before = firstRunBookkeeping.get(p) as Awaited<ReturnType<typeof bookkeeping>>;
  expect(before.loads).toHaveLength(1);
  expect(await bookkeeping(p)).toEqual(before);
}

describe('schema contract modes (second run: a new column, a variant, a new nested and a new root table)', () => {
  it('evolve: everything loads, and the run reports the new tables, the new column and the variant', async () => {
    const p = testPipeline({ pipelineName: 'contract_evolve' });
    const info = await secondRun(p, 'evolve', 'resource');
    expect(await items(p, 'id, name, extra, id__v_text')).toEqual([
      { id: 1, name: 'a', extra: null, id__v_text: null },
      { id: 2, name: 'b', extra: null, id__v_text: null },
      { id: 3, name: 'c', extra: null, id__v_text: null },
      { id: 4, name: 'd', extra: 'x', id__v_text: null },
      { id: null, name: 'e', extra: null, id__v_text: 'five' },
      { id: 6, name: 'f', extra: 'y', id__v_text: null },
      { id: 7, name: 'g', extra: null, id__v_text: null },
    ]);
    expect(await p.query(`SELECT t FROM "${p.datasetName}".items__tags`)).toEqual([{ t: 'u' }]);
    expect(await p.query(`SELECT k FROM "${p.datasetName}".other`)).toEqual([{ k: 1 }]);
    expect(info.schemaChanges).toEqual({
      tables: ['items__tags', 'other'],
      columns: [{ table: 'items', column: 'extra', dataType: 'text' }],
      variants: [{ table: 'items', column: 'id__v_text', dataType: 'text' }],
    });
    expect(info.discarded).toEqual({});
  });

  it('discard_row: rows that would add a column or a variant go, and rows of new tables', async () => {
    const p = testPipeline({ pipelineName: 'contract_discard_row' });
    const info = await secondRun(p, 'discard_row', 'resource');
    expect(await items(p)).toEqual([...FIRST_ROWS, { id: 3, name: 'c' }, { id: 7, name: 'g' }]);
    expect(await columnNames(p, 'items')).toEqual(['id', 'name', '_dlt_load_id', '_dlt_id']);
    expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual(['items']);
    expect(info.tables).toEqual({ items: { rows: 2 } });
    expect(info.discarded).toEqual({ items: { rows: 3, values: 0 }, items__tags: { rows: 1, values: 0 }, other: { rows: 1, values: 0 } });
    expect(info.schemaChanges).toEqual({ tables: [], columns: [], variants: [] });
  });

  it('discard_value: values that would add a column or a variant go, the rows stay; rows of new tables go', async () => {
    const p = testPipeline({ pipelineName: 'contract_discard_value' });
    const info = await secondRun(p, 'discard_value', 'resource');
    expect(await items(p)).toEqual([
      ...FIRST_ROWS,
      { id: 3, name: 'c' },
      { id: 4, name: 'd' },
      { id: null, name: 'e' },
      { id: 6, name: 'f' },
      { id: 7, name: 'g' },
    ]);
    expect(await columnNames(p, 'items')).toEqual(['id', 'name', '_dlt_load_id', '_dlt_id']);
    expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual(['items']);
    expect(info.discarded).toEqual({ items: { rows: 0, values: 3 }, items__tags: { rows: 1, values: 0 }, other: { rows: 1, values: 0 } });
  });

  it('freeze: a new column fails the run with DataContractViolation naming table, column and item; nothing is written', async () => {
    const p = testPipeline({ pipelineName: 'contract_freeze_column' });
    const err = await secondRun(p, 'freeze', 'resource', SECOND.slice(0, 2), false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataContractViolation);
    expect(err).toMatchObject({ entity: 'columns', table: 'items', column: 'extra', resource: 'items', pipeline: 'contract_freeze_column', item: { id: 4, name: 'd', extra: 'x' }, retryable: false });
    expect((err as Error).message).toContain('column "extra"');
    await expectOnlyFirstRun(p);
  });

  it('freeze: a variant (data_type), a new nested table and a new root table each fail the run', async () => {
    const cases: [unknown[], boolean, Record<string, unknown>][] = [
      [[{ id: 3, name: 'c' }, { id: 'five', name: 'e' }], false, { entity: 'data_type', table: 'items', column: 'id', item: { id: 'five', name: 'e' } }],
      [[{ id: 7, name: 'g', tags: [{ t: 'u' }] }], false, { entity: 'tables', table: 'items__tags', item: { id: 7, name: 'g', tags: [{ t: 'u' }] } }],
      [[{ id: 3, name: 'c' }], true, { entity: 'tables', table: 'other', resource: 'other', item: { k: 1 } }],
    ];
    for (const [second, withOther, expected] of cases) {
      const p = testPipeline({ pipelineName: 'contract_freeze' });
      const err = await secondRun(p, 'freeze', 'resource', second, withOther).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataContractViolation);
      expect(err).toMatchObject(expected);
      await expectOnlyFirstRun(p);
    }
  });

  it('per entity: { columns: discard_row } keeps variants and new tables; { data_type: discard_value } keeps new columns', async () => {
    const p = testPipeline({ pipelineName: 'contract_cols_dr' });
    const info = await secondRun(p, { columns: 'discard_row' }, 'resource');
    expect(await items(p, 'id, name, id__v_text')).toEqual([
      { id: 1, name: 'a', id__v_text: null },
      { id: 2, name: 'b', id__v_text: null },
      { id: 3, name: 'c', id__v_text: null },
      { id: null, name: 'e', id__v_text: 'five' },
      { id: 7, name: 'g', id__v_text: null },
    ]);
    expect(await p.query(`SELECT t FROM "${p.datasetName}".items__tags`)).toEqual([{ t: 'u' }]);
    expect(await p.query(`SELECT k FROM "${p.datasetName}".other`)).toEqual([{ k: 1 }]);
    expect(info.discarded).toEqual({ items: { rows: 2, values: 0 } });
    expect(info.schemaChanges.variants).toEqual([{ table: 'items', column: 'id__v_text', dataType: 'text' }]);

    const q = testPipeline({ pipelineName: 'contract_dtype_dv' });
    const info2 = await secondRun(q, { data_type: 'discard_value' }, 'resource');
    expect(await items(q, 'id, name, extra')).toEqual([
      { id: 1, name: 'a', extra: null },
      { id: 2, name: 'b', extra: null },
      { id: 3, name: 'c', extra: null },
      { id: 4, name: 'd', extra: 'x' },
      { id: null, name: 'e', extra: null },
      { id: 6, name: 'f', extra: 'y' },
      { id: 7, name: 'g', extra: null },
    ]);
    expect(await columnNames(q, 'items')).not.toContain('id__v_text');
    expect(info2.discarded).toEqual({ items: { rows: 0, values: 1 } });
  });
});

describe('schema contract: first run and precedence', () => {
  it("'freeze' on a first run: the table is new, so the run fails and creates nothing", async () => {
    const p = testPipeline({ pipelineName: 'contract_first_freeze' });
    const err = await p.run(resource(FIRST, { name: 'items', schemaContract: 'freeze' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'DataContractViolation', entity: 'tables', table: 'items', item: FIRST[0] });
    expect(await tablesOf(p)).not.toContain('items');
    expect(await loadIds(p)).toEqual([]);
  });

  it("{ columns: 'freeze' }: a new table's columns evolve during the run that creates it, then are frozen", async () => {
    const p = testPipeline({ pipelineName: 'contract_first_cols' });
    const r = (data: unknown[]) => resource(data, { name: 'items', schemaContract: { columns: 'freeze' } });
    const info = await p.run(r([{ id: 1 }, { id: 2, name: 'b' }]));
    expect(info.schemaChanges).toEqual({ tables: ['items'], columns: [], variants: [] });
    await p.run(r([{ id: 3 }]));
    expect(await items(p)).toEqual([{ id: 2, name: 'b' }, { id: 1, name: null }, { id: 3, name: null }]);
    await expect(p.run(r([{ id: 4, extra: 'z' }]))).rejects.toMatchObject({ name: 'DataContractViolation', entity: 'columns', column: 'extra' });
  });

  it("'discard_row' on a first run: every row of the new table goes; no table is created (the load holds only the schema, as dlt's)", async () => {
    const p = testPipeline({ pipelineName: 'contract_first_discard' });
    const info = await p.run(resource(FIRST, { name: 'items', schemaContract: 'discard_row' }));
    expect(await loadIds(p)).toEqual([info.loadId]);
    expect(info.tables).toEqual({});
    expect(info.schemaChanges).toEqual({ tables: [], columns: [], variants: [] });
    expect(info.discarded).toEqual({ items: { rows: 2, values: 0 } });
    expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual([]);
  });

  it("a resource's contract wins over its source's (whole, not per entity); a run's wins over both", async () => {
    // source freeze, resource evolve: the resource's
    const a = testPipeline({ pipelineName: 'contract_prec_a' });
    await a.run(source('src', [resource(FIRST, { name: 'items' })]));
    await a.run(source('src', [resource([{ id: 4, name: 'd', extra: 'x' }], { name: 'items', schemaContract: 'evolve' })], { schemaContract: 'freeze' }));
    expect(await items(a, 'id, extra')).toEqual([{ id: 1, extra: null }, { id: 2, extra: null }, { id: 4, extra: 'x' }]);

    // source freeze, resource { data_type: discard_value }: columns evolve (the source's freeze does not fill in)
    const b = testPipeline({ pipelineName: 'contract_prec_b' });
    await b.run(source('src', [resource(FIRST, { name: 'items' })]));
    const data = [{ id: 'five', name: 'e', extra: 'x' }];
    await b.run(source('src', [resource(data, { name: 'items', schemaContract: { data_type: 'discard_value' } })], { schemaContract: 'freeze' }));
    expect(await items(b, 'id, name, extra')).toEqual([{ id: 1, name: 'a', extra: null }, { id: 2, name: 'b', extra: null }, { id: null, name: 'e', extra: 'x' }]);

    // resource evolve, run freeze: the run's
    const c = testPipeline({ pipelineName: 'contract_prec_c' });
    await c.run(source('src', [resource(FIRST, { name: 'items' })]));
    const run = c.run(source('src', [resource([{ id: 4, name: 'd', extra: 'x' }], { name: 'items', schemaContract: 'evolve' })]), { schemaContract: 'freeze' });
    await expect(run).rejects.toBeInstanceOf(DataContractViolation);
    expect(await items(c)).toEqual(FIRST_ROWS);
  });

  it('a bad contract is a ResourceDefinitionError naming the resource', () => {
    expect(() => resource(FIRST, { name: 'items', schemaContract: 'strict' as never })).toThrow(/resource "items": schemaContract must be one of evolve, freeze, discard_row, discard_value/);
    expect(() => resource(FIRST, { name: 'items', schemaContract: { table: 'freeze' } as never })).toThrow(/unknown entity "table"/);
    expect(() => source('s', [], { schemaContract: { columns: 'nope' } as never })).toThrow(/source "s": schemaContract "columns" must be one of/);
  });
});
