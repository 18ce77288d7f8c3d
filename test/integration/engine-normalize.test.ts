/**
 * Normalization end to end into Postgres (NM-*): nested tables and their linking columns, root key,
 * naming, variant columns, null-only columns, maxTableNesting, schema evolution, timestamp
 * detection and the devMode dataset suffix. Each pipeline runs at least twice.
 */
import { describe, expect, it } from 'vitest';
import { resource, source } from 'tide';
import type { Pipeline } from 'tide';
import { datasetName, rows, testPipeline } from '../helpers/pipelines.ts';
import { columnTypes, expectCommittedState, tableExists, tablesOf } from '../helpers/state-db.ts';


/** A resource that serves `batches[run-1]` and counts runs in its state. */
function batched(name: string, batches: unknown[][], opts: Record<string, unknown> = {}) {
  return resource(
    function* (ctx) {
      const run = ((ctx.state.run as number) ?? 0) + 1;
      ctx.state.run = run;
      yield batches[run - 1] ?? [];
    },
    { name, ...opts },
  );
}

describe('nested tables', () => {
  it('parent__child rows carry _dlt_parent_id, _dlt_list_idx, _dlt_id; lists of scalars give `value`; nested lists give __list', async () => {
    const r = batched('orders', [
      [
        { id: 1, lines: [{ sku: 'a', qty: 1, tags: ['x', 'y'] }, { sku: 'b', qty: 2, tags: [] }], notes: ['n1'] },
        { id: 2, lines: [], matrix: [[1, 2], [3]] },
      ],
      [{ id: 3, lines: [{ sku: 'c', qty: 3, tags: ['z'] }] }],
    ]);
    const p = testPipeline({ pipelineName: 'nm_nested' });
    const i1 = await p.run(source('shop', [r]));
    expect(i1.tables).toEqual({
      orders: { rows: 2 },
      orders__lines: { rows: 2 },
      orders__lines__tags: { rows: 2 },
      orders__notes: { rows: 1 },
      orders__matrix: { rows: 2 },
      orders__matrix__list: { rows: 3 },
    });
    await p.run(source('shop', [r]));
    expect(await tablesOf(p)).toEqual(
      ['_dlt_loads', '_dlt_pipeline_state', '_dlt_version', 'orders', 'orders__lines', 'orders__lines__tags', 'orders__matrix', 'orders__matrix__list', 'orders__notes'].sort(),
    );
    const ds = p.datasetName;
    const lines = await p.query(
      `SELECT o.id, l.sku, l.qty, l._dlt_list_idx AS idx FROM "${ds}".orders__lines l JOIN "${ds}".orders o ON o._dlt_id = l._dlt_parent_id ORDER BY o.id, l._dlt_list_idx`,
    );
    expect(lines).toEqual([
      { id: 1, sku: 'a', qty: 1, idx: 0 },
      { id: 1, sku: 'b', qty: 2, idx: 1 },
      { id: 3, sku: 'c', qty: 3, idx: 0 },
    ]);
    const tags = await p.query(
      `SELECT l.sku, t.value, t._dlt_list_idx AS idx FROM "${ds}".orders__lines__tags t JOIN "${ds}".orders__lines l ON l._dlt_id = t._dlt_parent_id ORDER BY l.sku, t._dlt_list_idx`,
    );
    expect(tags).toEqual([
      { sku: 'a', value: 'x', idx: 0 },
      { sku: 'a', value: 'y', idx: 1 },
      { sku: 'c', value: 'z', idx: 0 },
    ]);
    const matrix = await p.query(
      `SELECT m._dlt_list_idx AS row, v._dlt_list_idx AS col, v.value FROM "${ds}".orders__matrix__list v JOIN "${ds}".orders__matrix m ON m._dlt_id = v._dlt_parent_id ORDER BY 1, 2`,
    );
    expect(matrix).toEqual([
      { row: 0, col: 0, value: 1 },
      { row: 0, col: 1, value: 2 },
      { row: 1, col: 0, value: 3 },
    ]);
    // the list fields are not columns of the parent; nested rows have no _dlt_load_id; no root key by default (append)
    expect(Object.keys(await columnTypes(p, 'orders')).sort()).toEqual(['_dlt_id', '_dlt_load_id', 'id']);
    expect(await columnTypes(p, 'orders__lines')).toMatchObject({ sku: 'character varying', qty: 'bigint', _dlt_parent_id: 'character varying', _dlt_list_idx: 'bigint', _dlt_id: 'character varying' });
    expect(Object.keys(await columnTypes(p, 'orders__lines')).sort()).toEqual(['_dlt_id', '_dlt_list_idx', '_dlt_parent_id', 'qty', 'sku']);
    // every _dlt_id is 14 chars and unique
    const ids = await p.query<{ id: string }>(`SELECT _dlt_id AS id FROM "${ds}".orders UNION ALL SELECT _dlt_id FROM "${ds}".orders__lines UNION ALL SELECT _dlt_id FROM "${ds}".orders__lines__tags`);
    expect(ids.every((x) => x.id.length === 14)).toBe(true);
    expect(new Set(ids.map((x) => x.id)).size).toBe(ids.length);
    await expectCommittedState(p, { shop: { resources: { orders: { run: 2 } } } }, 2);
  });

  it('source(…, { rootKey: true }) adds _dlt_root_id to every nested table', async () => {
    const r = batched('docs', [[{ id: 1, parts: [{ p: 'a', subs: [{ s: 1 }] }] }], [{ id: 2, parts: [{ p: 'b', subs: [{ s: 2 }, { s: 3 }] }] }]]);
    const p = testPipeline({ pipelineName: 'nm_rootkey' });
    await p.run(source('lib', [r], { rootKey: true }));
    await p.run(source('lib', [r], { rootKey: true }));
    const ds = p.datasetName;
    expect(Object.keys(await columnTypes(p, 'docs__parts__subs'))).toContain('_dlt_root_id');
    expect(Object.keys(await columnTypes(p, 'docs__parts'))).toContain('_dlt_root_id');
    expect(Object.keys(await columnTypes(p, 'docs'))).not.toContain('_dlt_root_id');
    const r2 = await p.query(
      `SELECT d.id, s.s FROM "${ds}".docs__parts__subs s JOIN "${ds}".docs d ON d._dlt_id = s._dlt_root_id ORDER BY s.s`,
    );
    expect(r2).toEqual([
      { id: 1, s: 1 },
      { id: 2, s: 2 },
      { id: 2, s: 3 },
    ]);
  });
});

describe('naming, types and evolution', () => {
  it('odd keys become snake_case identifiers', async () => {
    const r = batched('Odd Keys', [
      [{ 'User ID': 1, camelCase: 'a', channelSURFING: 'b', 'f-1': 'c', 'a+b': 'd', '1st': 'e', 'trail_': 'f', 'x@y': 'g', nested: { 'Inner Key': 'h' } }],
      [{ 'User ID': 2, camelCase: 'a2', channelSURFING: 'b2', 'f-1': 'c2', 'a+b': 'd2', '1st': 'e2', 'trail_': 'f2', 'x@y': 'g2', nested: { 'Inner Key': 'h2' } }],
    ]);
    const p = testPipeline({ pipelineName: 'nm_naming' });
    await p.run(r);
    await p.run(r);
    expect(await tableExists(p, 'odd_keys')).toBe(true);
    expect(await rows(p, 'odd_keys', 'user_id', 'user_id, camel_case, channel_surfing, f_1, axb, _1st, trailx, xay, nested__inner_key')).toEqual([
      { user_id: 1, camel_case: 'a', channel_surfing: 'b', f_1: 'c', axb: 'd', _1st: 'e', trailx: 'f', xay: 'g', nested__inner_key: 'h' },
      { user_id: 2, camel_case: 'a2', channel_surfing: 'b2', f_1: 'c2', axb: 'd2', _1st: 'e2', trailx: 'f2', xay: 'g2', nested__inner_key: 'h2' },
    ]);
    await expectCommittedState(p, { nm_naming: { resources: { 'Odd Keys': { run: 2 } } } }, 2);
  });

  it('a type flip between runs creates a variant column (x__v_text); null-only columns are not created', async () => {
    const r = batched('flip', [
      [{ id: 1, x: 5, empty: null }],
      [{ id: 2, x: 'five', empty: null }, { id: 3, x: '7' }],
      [{ id: 4, x: 8, empty: 'now' }],
    ]);
    const p = testPipeline({ pipelineName: 'nm_variant' });
    await p.run(r);
    expect(await columnTypes(p, 'flip')).toEqual({ id: 'bigint', x: 'bigint', _dlt_load_id: 'character varying', _dlt_id: 'character varying' });
    await p.run(r);
    expect(await columnTypes(p, 'flip')).toEqual({ id: 'bigint', x: 'bigint', _dlt_load_id: 'character varying', _dlt_id: 'character varying', x__v_text: 'character varying' });
    expect(await rows(p, 'flip', 'id', 'id, x, x__v_text')).toEqual([
      { id: 1, x: 5, x__v_text: null },
      { id: 2, x: null, x__v_text: 'five' },
      { id: 3, x: 7, x__v_text: null }, // "7" coerces to bigint
    ]);
    await p.run(r);
    expect((await columnTypes(p, 'flip')).empty).toBe('character varying');
    expect(await rows(p, 'flip', 'id', 'id, x, empty')).toEqual([
      { id: 1, x: 5, empty: null },
      { id: 2, x: null, empty: null },
      { id: 3, x: 7, empty: null },
      { id: 4, x: 8, empty: 'now' },
    ]);
  });

  it('schema evolution: a new column in run 2 is added with ALTER TABLE; old rows get NULL', async () => {
    const r = batched('evolving', [[{ id: 1, a: 'x' }], [{ id: 2, a: 'y', b: 2.5, c: true, d: { e: 'deep' } }]]);
    const p = testPipeline({ pipelineName: 'nm_evolve' });
    await p.run(r);
    expect(Object.keys(await columnTypes(p, 'evolving'))).toEqual(['id', 'a', '_dlt_load_id', '_dlt_id']);
    await p.run(r);
    expect(await columnTypes(p, 'evolving')).toEqual({
      id: 'bigint',
      a: 'character varying',
      _dlt_load_id: 'character varying',
      _dlt_id: 'character varying',
      b: 'double precision',
      c: 'boolean',
      d__e: 'character varying',
    });
    expect(await rows(p, 'evolving', 'id', 'id, a, b, c, d__e')).toEqual([
      { id: 1, a: 'x', b: null, c: null, d__e: null },
      { id: 2, a: 'y', b: 2.5, c: true, d__e: 'deep' },
    ]);
    const versions = await p.query<{ version: string }>(`SELECT version FROM "${p.datasetName}"._dlt_version ORDER BY version`);
    expect(versions.map((v) => Number(v.version))).toEqual([1, 2]);
  });

  it('ISO timestamp strings are stored as timestamp with time zone', async () => {
    const r = batched('times', [
      [{ id: 1, at: '2024-03-05T10:00:00Z', day: '2024-03-05', note: 'not a date' }],
      [{ id: 2, at: '2024-03-06T12:30:00+02:00', day: '2024-03-06', note: 'x' }],
    ]);
    const p = testPipeline({ pipelineName: 'nm_ts' });
    await p.run(r);
    await p.run(r);
    const types = await columnTypes(p, 'times');
    expect(types.at).toBe('timestamp with time zone');
    expect(types.note).toBe('character varying');
    const got = await rows(p, 'times', 'id', 'id, at');
    expect(got.map((x) => (x.at as Date).toISOString())).toEqual(['2024-03-05T10:00:00.000Z', '2024-03-06T10:30:00.000Z']);
  });

  it('maxTableNesting keeps deeper values as json columns (0 ⇒ no nested tables)', async () => {
    const item = (id: number) => ({ id, a: [{ b: [{ c: id }], m: { k: id } }] });
    const one = batched('nest_one', [[item(1)], [item(2)]], { maxTableNesting: 1 });
    const zero = batched('nest_zero', [[item(1)], [item(2)]], { maxTableNesting: 0 });
    const p = testPipeline({ pipelineName: 'nm_depth' });
    await p.run(source('d', [one, zero]));
    await p.run(source('d', [one, zero]));
    expect(await tableExists(p, 'nest_one__a')).toBe(true);
    expect(await tableExists(p, 'nest_one__a__b')).toBe(false);
    expect(await tableExists(p, 'nest_zero__a')).toBe(false);
    expect((await columnTypes(p, 'nest_one__a')).b).toBe('jsonb');
    expect((await columnTypes(p, 'nest_zero')).a).toBe('jsonb');
    // a dict at the nesting limit is kept whole too (dlt counts dict levels like list levels)
    expect((await columnTypes(p, 'nest_one__a')).m).toBe('jsonb');
    expect(await rows(p, 'nest_one__a', "m->>'k'", 'b, m')).toEqual([
      { b: [{ c: 1 }], m: { k: 1 } },
      { b: [{ c: 2 }], m: { k: 2 } },
    ]);
    expect(await rows(p, 'nest_zero', 'id', 'id, a')).toEqual([
      { id: 1, a: [{ b: [{ c: 1 }], m: { k: 1 } }] },
      { id: 2, a: [{ b: [{ c: 2 }], m: { k: 2 } }] },
    ]);
  });

  it('devMode appends a _YYYYMMDDhhmmss suffix to the dataset and never restores state', async () => {
    const base = datasetName('dev');
    const r = batched('dev_items', [[{ id: 1 }], [{ id: 2 }]]);
    const p1 = testPipeline({ pipelineName: 'nm_dev', datasetName: base, devMode: true });
    expect(p1.datasetName).toMatch(new RegExp(`^${base}_\\d{14}$`));
    await p1.run(r);
    await p1.run(r);
    expect(await rows(p1, 'dev_items', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect((p1.state.sources as any).nm_dev.resources.dev_items).toEqual({ run: 2 });
  });
});
