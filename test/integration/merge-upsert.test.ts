/** merge write disposition, upsert and insert-only strategies (MG-15 … MG-18), against real Postgres. */
import { describe, expect, it } from 'vitest';
import { resource, SchemaError, type MergeConfig } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';

type P = ReturnType<typeof testPipeline>;
const count = async (p: P, t: string) => Number((await p.query<{ n: string }>(`SELECT count(*) AS n FROM "${p.datasetName}"."${t}"`))[0].n);
const upsert: MergeConfig = { disposition: 'merge', strategy: 'upsert' };
const insertOnly: MergeConfig = { disposition: 'merge', strategy: 'insert-only' };

describe('merge: upsert', () => {
  it('updates existing keys and inserts new ones, with ON CONFLICT on a unique pk index', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'my_upsert_resource', primaryKey: 'my_primary_key', writeDisposition: upsert });
    await p.run(r([{ my_primary_key: 1, v: 'a' }, { my_primary_key: 2, v: 'b' }]));
    await p.run(r([{ my_primary_key: 2, v: 'b2' }, { my_primary_key: 3, v: 'c' }]));
    expect(await rows(p, 'my_upsert_resource', 'my_primary_key', 'my_primary_key, v')).toEqual([
      { my_primary_key: 1, v: 'a' },
      { my_primary_key: 2, v: 'b2' },
      { my_primary_key: 3, v: 'c' },
    ]);
    const idx = await p.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'my_upsert_resource'`, [p.datasetName]);
    expect(idx.some((i) => /UNIQUE INDEX .* \(my_primary_key\)/.test(i.indexdef))).toBe(true);
    await p.close();
  });

  it('takes the primary key from a column hint too (columns: { id: { primaryKey: true } }), as dlt does', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'hinted_pk', columns: { id: { primaryKey: true } }, writeDisposition: upsert });
    await p.run(r([{ id: 1, v: 'a' }, { id: 2, v: 'b' }]));
    await p.run(r([{ id: 2, v: 'b2' }, { id: 3, v: 'c' }]));
    expect(await rows(p, 'hinted_pk', 'id', 'id, v')).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b2' },
      { id: 3, v: 'c' },
    ]);
  });

  it('compound primary key', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'cp', primaryKey: ['id', 'tx_id'], writeDisposition: upsert });
    await p.run(r([{ id: 1, tx_id: 'a', v: 1 }, { id: 1, tx_id: 'b', v: 1 }]));
    await p.run(r([{ id: 1, tx_id: 'b', v: 2 }, { id: 2, tx_id: 'a', v: 2 }]));
    expect(await rows(p, 'cp', 'id, tx_id', 'id, tx_id, v')).toEqual([
      { id: 1, tx_id: 'a', v: 1 },
      { id: 1, tx_id: 'b', v: 2 },
      { id: 2, tx_id: 'a', v: 2 },
    ]);
    await p.close();
  });

  it('requires a primary key: typed error naming resource and table, nothing written', async () => {
    const p = testPipeline();
    await expect(p.run(resource([{ id: 1 }], { name: 'nopk', writeDisposition: upsert }))).rejects.toSatisfy(
      (e: unknown) => e instanceof SchemaError && e.resource === 'nopk' && e.table === 'nopk',
    );
    await expect(p.run(resource([{ id: 1 }], { name: 'nopk', writeDisposition: insertOnly }))).rejects.toBeInstanceOf(SchemaError);
    expect(await p.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'nopk'`, [p.datasetName])).toEqual([]);
    await p.close();
  });

  it('merge key is ignored with a warning', async () => {
    const warnings: string[] = [];
    const p = testPipeline({ warn: (m) => warnings.push(m) });
    const r = (items: unknown[]) => resource(items, { name: 'mk', primaryKey: 'id', mergeKey: 'day', writeDisposition: upsert });
    await p.run(r([{ id: 1, day: 1 }, { id: 2, day: 1 }]));
    await p.run(r([{ id: 1, day: 1, v: 'x' }]));
    expect(await rows(p, 'mk', 'id', 'id, v')).toEqual([
      { id: 1, v: 'x' },
      { id: 2, v: null },
    ]);
    expect(warnings.some((w) => /mergeKey is ignored/.test(w))).toBe(true);
    await p.close();
  });

  it('hard deletes remove the root and its nested rows', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'hd', primaryKey: 'id', writeDisposition: upsert, columns: { deleted: { hardDelete: true, dataType: 'bool' } } });
    await p.run(r([{ id: 1, kids: [1, 2] }, { id: 2, kids: [3] }, { id: 3 }]));
    await p.run(r([{ id: 1, deleted: true }, { id: 2, deleted: false, kids: [4] }, { id: 3, deleted: null, v: 'u' }]));
    expect(await rows(p, 'hd', 'id', 'id, v')).toEqual([
      { id: 2, v: null },
      { id: 3, v: 'u' },
    ]);
    expect((await rows(p, 'hd__kids', 'value', 'value')).map((x) => x.value)).toEqual([4]);
    await p.close();
  });

  it('nested rows: shorter lists lose elements, a missing list loses all (MG-17)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'parent', primaryKey: 'id', writeDisposition: upsert });
    await p.run(
      r([
        { id: 1, children: [{ c: 1, grand: [1, 2, 3] }] },
        { id: 2, children: [{ c: 2 }] },
        { id: 3, children: [{ c: 3 }] },
      ]),
    );
    expect(await count(p, 'parent__children')).toBe(3);
    expect(await count(p, 'parent__children__grand')).toBe(3);
    await p.run(r([{ id: 1, children: [{ c: 1, grand: [1] }] }, { id: 3 }]));
    expect(await count(p, 'parent')).toBe(3);
    expect((await rows(p, 'parent__children', 'c', 'c')).map((x) => x.c)).toEqual([1, 2]);
    expect((await rows(p, 'parent__children__grand', 'value', 'value')).map((x) => x.value)).toEqual([1]);
    // _dlt_id of the root is the hash of the key: stable across loads
    const ids = await p.query<{ _dlt_id: string }>(`SELECT _dlt_id FROM "${p.datasetName}".parent ORDER BY id`);
    expect(new Set(ids.map((x) => x._dlt_id)).size).toBe(3);
    await p.close();
  });

  it('falls back to UPDATE + INSERT when existing duplicates prevent the unique index', async () => {
    const warnings: string[] = [];
    const p = testPipeline({ warn: (m) => warnings.push(m) });
    await p.run([{ id: 1, v: 'a' }, { id: 1, v: 'a' }, { id: 2, v: 'b' }], { tableName: 'dup' });
    await p.run([{ id: 1, v: 'z' }, { id: 3, v: 'c' }], { tableName: 'dup', writeDisposition: upsert, primaryKey: 'id' });
    expect(await rows(p, 'dup', 'id, v', 'id, v')).toEqual([
      { id: 1, v: 'z' },
      { id: 1, v: 'z' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
    ]);
    await p.close();
  });
});

describe('merge: insert-only', () => {
  it('never updates existing rows; new keys are added (MG-18)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'people', primaryKey: 'id', writeDisposition: insertOnly });
    await p.run(r([{ id: 1, name: 'Alice' }, { id: 2, name: 'Bob' }]));
    await p.run(r([{ id: 1, name: 'Alice2' }, { id: 3, name: 'Charlie' }]));
    expect(await rows(p, 'people', 'id', 'id, name')).toEqual([
      { id: 1, name: 'Alice' },
      { id: 2, name: 'Bob' },
      { id: 3, name: 'Charlie' },
    ]);
    await p.close();
  });

  it('rows flagged by hardDelete are not inserted', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'people', primaryKey: 'id', writeDisposition: insertOnly, columns: { deleted: { hardDelete: true, dataType: 'bool' } } });
    await p.run(r([{ id: 1, deleted: false }, { id: 2 }, { id: 3, deleted: true }]));
    expect(await rows(p, 'people', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    await p.close();
  });

  it('nested: new list elements of an existing parent are inserted', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'parent', primaryKey: 'id', writeDisposition: insertOnly });
    await p.run(r([{ id: 1, name: 'p1', children: [{ c: 1 }, { c: 2 }] }]));
    await p.run(r([{ id: 1, name: 'changed', children: [{ c: 1 }, { c: 2 }, { c: 3 }, { c: 4 }] }]));
    expect(await rows(p, 'parent', 'id', 'id, name')).toEqual([{ id: 1, name: 'p1' }]);
    expect((await rows(p, 'parent__children', 'c', 'c')).map((x) => x.c)).toEqual([1, 2, 3, 4]);
    await p.close();
  });
});
