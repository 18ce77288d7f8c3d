/** merge write disposition, scd2 strategy (MG-19 … MG-28, PP-11, PP-12), against real Postgres. */
import { describe, expect, it } from 'vitest';
import { resource, source, ResourceDefinitionError, type MergeConfig } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';

type P = ReturnType<typeof testPipeline>;
/** a timestamptz column as UTC text with microseconds (NULL stays null) */
const utc = (c: string) => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ${c}`;
const table = (p: P, t: string, cols: string, order: string) => p.query(`SELECT ${cols} FROM "${p.datasetName}"."${t}" ORDER BY ${order}`);
const count = async (p: P, t: string) => Number((await p.query<{ n: string }>(`SELECT count(*) AS n FROM "${p.datasetName}"."${t}"`))[0].n);

const scd2 = (extra: Partial<MergeConfig> = {}): MergeConfig => ({ disposition: 'merge', strategy: 'scd2', ...extra });

const TS1 = '2024-04-09 18:27:53.734235';
const TS2 = '2024-04-09 22:13:07.943703';
const TS3 = '2024-04-10 06:45:22.847403';
const iso = (t: string) => `${t.replace(' ', 'T')}Z`;

describe('merge: scd2', () => {
  it('dim_customer over three loads (seed tables, exact timestamps)', async () => {
    const p = testPipeline();
    const dim = (ts: string, items: unknown[]) => resource(items, { name: 'dim_customer', writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    await p.run(
      dim(TS1, [
        { customer_key: 1, c1: 'foo', c2: 1 },
        { customer_key: 2, c1: 'bar', c2: 2 },
      ]),
    );
    const cols = `${utc('_dlt_valid_from')}, ${utc('_dlt_valid_to')}, customer_key, c1, c2`;
    const order = '_dlt_valid_from, customer_key';
    expect(await table(p, 'dim_customer', cols, order)).toEqual([
      { _dlt_valid_from: TS1, _dlt_valid_to: null, customer_key: 1, c1: 'foo', c2: 1 },
      { _dlt_valid_from: TS1, _dlt_valid_to: null, customer_key: 2, c1: 'bar', c2: 2 },
    ]);
    await p.run(
      dim(TS2, [
        { customer_key: 1, c1: 'foo_updated', c2: 1 },
        { customer_key: 2, c1: 'bar', c2: 2 },
      ]),
    );
    expect(await table(p, 'dim_customer', cols, order)).toEqual([
      { _dlt_valid_from: TS1, _dlt_valid_to: TS2, customer_key: 1, c1: 'foo', c2: 1 },
      { _dlt_valid_from: TS1, _dlt_valid_to: null, customer_key: 2, c1: 'bar', c2: 2 },
      { _dlt_valid_from: TS2, _dlt_valid_to: null, customer_key: 1, c1: 'foo_updated', c2: 1 },
    ]);
    await p.run(dim(TS3, [{ customer_key: 1, c1: 'foo_updated', c2: 1 }]));
    expect(await table(p, 'dim_customer', cols, order)).toEqual([
      { _dlt_valid_from: TS1, _dlt_valid_to: TS2, customer_key: 1, c1: 'foo', c2: 1 },
      { _dlt_valid_from: TS1, _dlt_valid_to: TS3, customer_key: 2, c1: 'bar', c2: 2 },
      { _dlt_valid_from: TS2, _dlt_valid_to: null, customer_key: 1, c1: 'foo_updated', c2: 1 },
    ]);
    // validity columns go last, _dlt_id is the row hash (not unique)
    const colsInDb = await p.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'dim_customer' ORDER BY ordinal_position`,
      [p.datasetName],
    );
    expect(colsInDb.map((c) => c.column_name).slice(-2)).toEqual(['_dlt_valid_from', '_dlt_valid_to']);
    const t = p.schema()!.tables.dim_customer;
    expect(t.columns._dlt_id.x_row_version).toBe(true);
    expect(t.columns._dlt_id.unique).toBeFalsy();
    await p.close();
  });

  it('natural key as merge key: absent keys are not retired (seed case 1)', async () => {
    const p = testPipeline();
    const dim = (ts: string, items: unknown[]) => resource(items, { name: 'dim_customer', mergeKey: 'customer_key', writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    await p.run(
      dim(TS1, [
        { customer_key: 1, c1: 'foo', c2: 1 },
        { customer_key: 2, c1: 'bar', c2: 2 },
      ]),
    );
    await p.run(dim(TS2, [{ customer_key: 1, c1: 'foo_updated', c2: 1 }]));
    const cols = `${utc('_dlt_valid_from')}, ${utc('_dlt_valid_to')}, customer_key, c1, c2`;
    expect(await table(p, 'dim_customer', cols, '_dlt_valid_from, customer_key')).toEqual([
      { _dlt_valid_from: TS1, _dlt_valid_to: TS2, customer_key: 1, c1: 'foo', c2: 1 },
      { _dlt_valid_from: TS1, _dlt_valid_to: null, customer_key: 2, c1: 'bar', c2: 2 },
      { _dlt_valid_from: TS2, _dlt_valid_to: null, customer_key: 1, c1: 'foo_updated', c2: 1 },
    ]);
    // reverting to a former version creates yet another version (MG-23)
    await p.run(dim(TS3, [{ customer_key: 1, c1: 'foo', c2: 1 }]));
    expect(await count(p, 'dim_customer')).toBe(4);
    expect(await table(p, 'dim_customer', `customer_key, c1, ${utc('_dlt_valid_from')}`, 'customer_key, _dlt_valid_from')).toEqual([
      { customer_key: 1, c1: 'foo', _dlt_valid_from: TS1 },
      { customer_key: 1, c1: 'foo_updated', _dlt_valid_from: TS2 },
      { customer_key: 1, c1: 'foo', _dlt_valid_from: TS3 },
      { customer_key: 2, c1: 'bar', _dlt_valid_from: TS1 },
    ]);
    await p.close();
  });

  it('date column as merge key: retire only within the partitions of the load (seed case 2)', async () => {
    const p = testPipeline();
    const L1 = '2024-01-02 03:03:35.854305';
    const L2 = '2024-01-03 03:01:11.943703';
    const L3 = '2024-01-03 10:30:05.750356';
    const some = (ts: string, items: unknown[]) => resource(items, { name: 'some_data', mergeKey: 'date', writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    await p.run(some(L1, [{ date: '2024-01-01', name: 'a' }, { date: '2024-01-01', name: 'b' }]));
    await p.run(some(L2, [{ date: '2024-01-02', name: 'c' }, { date: '2024-01-02', name: 'd' }]));
    await p.run(some(L3, [{ date: '2024-01-01', name: 'a' }, { date: '2024-01-01', name: 'bb' }]));
    const cols = `${utc('_dlt_valid_from')}, ${utc('_dlt_valid_to')}, date::text AS date, name`;
    expect(await table(p, 'some_data', cols, '_dlt_valid_from, name')).toEqual([
      { _dlt_valid_from: L1, _dlt_valid_to: null, date: '2024-01-01', name: 'a' },
      { _dlt_valid_from: L1, _dlt_valid_to: L3, date: '2024-01-01', name: 'b' },
      { _dlt_valid_from: L2, _dlt_valid_to: null, date: '2024-01-02', name: 'c' },
      { _dlt_valid_from: L2, _dlt_valid_to: null, date: '2024-01-02', name: 'd' },
      { _dlt_valid_from: L3, _dlt_valid_to: null, date: '2024-01-01', name: 'bb' },
    ]);
    await p.close();
  });

  it('compound merge keys are compared column by column (PP-12 fixed)', async () => {
    const p = testPipeline();
    const r = (ts: string, items: unknown[]) => resource(items, { name: 'ck', mergeKey: ['k1', 'k2'], writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    await p.run(r(TS1, [{ k1: 'a', k2: 'bc', v: 1 }, { k1: 'x', k2: 'y', v: 1 }]));
    // ("ab","c") concatenates like ("a","bc") in dlt and would retire it
    await p.run(r(TS2, [{ k1: 'ab', k2: 'c', v: 2 }]));
    expect(await table(p, 'ck', `k1, k2, ${utc('_dlt_valid_to')}`, 'k1, k2')).toEqual([
      { k1: 'a', k2: 'bc', _dlt_valid_to: null },
      { k1: 'ab', k2: 'c', _dlt_valid_to: null },
      { k1: 'x', k2: 'y', _dlt_valid_to: null },
    ]);
    // a changed row of one compound key retires only that key's version
    await p.run(r(TS3, [{ k1: 'a', k2: 'bc', v: 3 }]));
    expect(await table(p, 'ck', `k1, k2, v, ${utc('_dlt_valid_to')}`, 'k1, k2, v')).toEqual([
      { k1: 'a', k2: 'bc', v: 1, _dlt_valid_to: TS3 },
      { k1: 'a', k2: 'bc', v: 3, _dlt_valid_to: null },
      { k1: 'ab', k2: 'c', v: 2, _dlt_valid_to: null },
      { k1: 'x', k2: 'y', v: 1, _dlt_valid_to: null },
    ]);
    await p.close();
  });

  it('a record back after retirement is inserted again; nested rows are shared (MG-22, PP-11)', async () => {
    const p = testPipeline();
    const r = (ts: string, items: unknown[]) => resource(items, { name: 'dim', writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    const rec = { nk: 1, c1: 'foo', children: [{ x: 1 }, { x: 2 }, { x: 3 }] };
    await p.run(r(TS1, [rec]));
    await p.run(r(TS2, [{ nk: 2, c1: 'bar' }]));
    await p.run(r(TS3, [rec]));
    expect(await table(p, 'dim', `nk, ${utc('_dlt_valid_from')}, ${utc('_dlt_valid_to')}`, '_dlt_valid_from, nk')).toEqual([
      { nk: 1, _dlt_valid_from: TS1, _dlt_valid_to: TS2 },
      { nk: 2, _dlt_valid_from: TS2, _dlt_valid_to: TS3 },
      { nk: 1, _dlt_valid_from: TS3, _dlt_valid_to: null },
    ]);
    expect(await count(p, 'dim__children')).toBe(3);
    // nested tables: no validity columns, _dlt_id unique, linked by _dlt_parent_id to the versioned root
    const cols = await p.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'dim__children'`, [p.datasetName]);
    expect(cols.map((c) => c.column_name).sort()).toEqual(['_dlt_id', '_dlt_list_idx', '_dlt_parent_id', 'x']);
    const joined = await p.query(
      `SELECT d.nk, count(*)::int AS n FROM "${p.datasetName}".dim d JOIN "${p.datasetName}".dim__children c ON c._dlt_parent_id = d._dlt_id WHERE d._dlt_valid_to IS NULL GROUP BY d.nk`,
    );
    expect(joined).toEqual([{ nk: 1, n: 3 }]);
    await p.close();
  });

  it('nested change makes a new version; nested tables are insert-only by _dlt_id (MG-20, MG-27)', async () => {
    const p = testPipeline();
    const r = (ts: string, items: unknown[]) => resource(items, { name: 'dim', writeDisposition: scd2({ boundaryTimestamp: iso(ts) }) });
    await p.run(r(TS1, [{ nk: 1, c2: { nc1: 'foo' }, tags: ['a', 'b'] }]));
    await p.run(r(TS2, [{ nk: 1, c2: { nc1: 'foo_🚀updated' }, tags: ['a', 'b', 'c'] }]));
    expect(await table(p, 'dim', `nk, c2__nc1, ${utc('_dlt_valid_to')}`, '_dlt_valid_from')).toEqual([
      { nk: 1, c2__nc1: 'foo', _dlt_valid_to: TS2 },
      { nk: 1, c2__nc1: 'foo_🚀updated', _dlt_valid_to: null },
    ]);
    // old version keeps its 2 tags, new version has 3
    expect(await count(p, 'dim__tags')).toBe(5);
    await p.close();
  });

  it('activeRecordTimestamp marks active rows with a high timestamp (MG-24)', async () => {
    const p = testPipeline();
    const r = (ts: string, items: unknown[]) =>
      resource(items, { name: 'dim', writeDisposition: scd2({ boundaryTimestamp: iso(ts), activeRecordTimestamp: '9999-12-31', validityColumnNames: ['ValidFrom', 'ValidTo'] }) });
    await p.run(r(TS1, [{ nk: 1, v: 'a' }, { nk: 2, v: 'b' }]));
    await p.run(r(TS2, [{ nk: 1, v: 'a2' }, { nk: 2, v: 'b' }]));
    expect(await table(p, 'dim', `nk, v, ${utc('valid_from')}, ${utc('valid_to')}`, 'valid_from, nk')).toEqual([
      { nk: 1, v: 'a', valid_from: TS1, valid_to: TS2 },
      { nk: 2, v: 'b', valid_from: TS1, valid_to: '9999-12-31 00:00:00.000000' },
      { nk: 1, v: 'a2', valid_from: TS2, valid_to: '9999-12-31 00:00:00.000000' },
    ]);
    await p.close();
  });

  it('boundary timestamp defaults to the load time; an earlier boundary is applied as given (MG-25)', async () => {
    const p = testPipeline();
    const r = (items: unknown[], cfg: Partial<MergeConfig> = {}) => resource(items, { name: 'dim', writeDisposition: scd2(cfg) });
    const info = await p.run(r([{ nk: 1 }]));
    const rowsNow = await p.query<{ f: Date }>(`SELECT _dlt_valid_from AS f FROM "${p.datasetName}".dim`);
    expect(rowsNow[0].f.getTime()).toBe(Math.floor(Number(info.loadId) * 1000));
    await p.run(r([{ nk: 2 }], { boundaryTimestamp: '2020-01-01T00:00:00Z' }));
    expect(await table(p, 'dim', `nk, ${utc('_dlt_valid_from')}, ${utc('_dlt_valid_to')}`, 'nk')).toEqual([
      { nk: 1, _dlt_valid_from: expect.stringMatching(/^20\d\d-/), _dlt_valid_to: '2020-01-01 00:00:00.000000' },
      { nk: 2, _dlt_valid_from: '2020-01-01 00:00:00.000000', _dlt_valid_to: null },
    ]);
    await p.close();
  });

  it('user row version column: identical data keeps the rows, one change adds one version, no orphans (MG-26)', async () => {
    const p = testPipeline();
    const data = (changed: boolean) =>
      Array.from({ length: 10 }, (_, i) => ({ id: i, v: changed && i === 3 ? 'x' : 'v', row_hash: changed && i === 3 ? `h${i}x` : `h${i}`, items: [{ n: i }] }));
    const r = (ts: string, changed: boolean) => resource(data(changed), { name: 'tab', writeDisposition: scd2({ boundaryTimestamp: iso(ts), rowVersionColumnName: 'row_hash' }) });
    await p.run(r(TS1, false));
    await p.run(r(TS2, false));
    expect(await count(p, 'tab')).toBe(10);
    expect(await count(p, 'tab__items')).toBe(10);
    await p.run(r(TS3, true));
    expect(await count(p, 'tab')).toBe(11);
    expect(await count(p, 'tab__items')).toBe(11);
    expect(await table(p, 'tab', `id, v, ${utc('_dlt_valid_to')}`, 'id, _dlt_valid_from')).toContainEqual({ id: 3, v: 'v', _dlt_valid_to: TS3 });
    const orphans = await p.query(
      `SELECT count(*)::int AS n FROM "${p.datasetName}".tab__items c WHERE NOT EXISTS (SELECT 1 FROM "${p.datasetName}".tab t WHERE t._dlt_id = c._dlt_parent_id)`,
    );
    expect(orphans).toEqual([{ n: 0 }]);
    await p.close();
  });

  it('rootKey source propagates _dlt_root_id to scd2 nested tables (PP-13)', async () => {
    const p = testPipeline();
    const r = resource([{ nk: 1, a: [{ b: [1, 2] }] }], { name: 'dim', writeDisposition: scd2({ boundaryTimestamp: iso(TS1) }) });
    await p.run(source('src', [r], { rootKey: true }));
    const n = await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}".dim__a__b g JOIN "${p.datasetName}".dim d ON d._dlt_id = g._dlt_root_id`);
    expect(n).toEqual([{ n: 2 }]);
    await p.close();
  });

  it('invalid timestamps fail with a typed error naming resource, table and column, before anything is written', async () => {
    const p = testPipeline();
    await expect(p.run(resource([{ nk: 1 }], { name: 'dim', writeDisposition: scd2({ boundaryTimestamp: 'not a date' }) }))).rejects.toSatisfy(
      (e: unknown) => e instanceof ResourceDefinitionError && e.resource === 'dim' && e.table === 'dim' && e.column === '_dlt_valid_to',
    );
    await expect(p.run(resource([{ nk: 1 }], { name: 'dim', writeDisposition: scd2({ activeRecordTimestamp: '31.12.9999' }) }))).rejects.toBeInstanceOf(
      ResourceDefinitionError,
    );
    const t = await p.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'dim'`, [p.datasetName]);
    expect(t).toEqual([]);
    await p.close();
  });
});
