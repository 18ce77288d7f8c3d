/**
 * What the CLI reads from a dataset, through the destination client: the ledger of loads, the data
 * tables with their row counts, a preview of a table. The exact SQL is asserted (identifiers quoted,
 * values as parameters), then checked against the rows it returns from a real load.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LoadError, postgres, resource, type DestinationClient } from 'tide';
import { datasetName, pgUrl, testPipeline } from '../helpers/pipelines.ts';


/** A pool whose statements are recorded; tide's client is opened on it. */
let pool: pg.Pool;
let statements: { text: string; params?: unknown[] }[] = [];

beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  const query = pool.query.bind(pool) as (text: string, params?: unknown[]) => Promise<pg.QueryResult>;
  (pool as unknown as { query: typeof query }).query = (text, params) => {
    statements.push({ text, params });
    return query(text, params);
  };
});
afterAll(() => pool.end());
afterEach(() => {
  statements = [];
});

async function open(ds: string): Promise<DestinationClient> {
  return postgres({ pool }).open(ds);
}

describe('destination client: loads, table counts, preview', () => {
  it('reads the ledger, the data tables and their first rows of a real load', async () => {
    // a dataset name that needs quoting
    const ds = `${datasetName('read')}.X"y`;
    const p = testPipeline({ pipelineName: 'reader', datasetName: ds });
    const items = resource(() => [{ id: 1, tags: ['a', 'b'] }, { id: 2, tags: [] }, { id: 3 }], { name: 'items' });
    await p.run(items);
    await p.run(items, { interval: { start: '2024-01-01T00:00:00Z', end: '2024-01-02T00:00:00Z' } });
    const c = await open(ds);
    const q = `"${ds.replace(/"/g, '""')}"`;

    statements = [];
    const loads = await c.loads('reader', 5);
    expect(statements).toEqual([
      { text: 'SELECT to_regclass($1) AS t0', params: [`${q}."_dlt_loads"`] },
      {
        text: `SELECT load_id, inserted_at, tide_rows, tide_interval_start, tide_interval_end, tide_failed_components, tide_params FROM ${q}."_dlt_loads" WHERE tide_pipeline_name = $1 ORDER BY load_id DESC LIMIT $2`,
        params: ['reader', 5],
      },
    ]);
    expect(loads).toHaveLength(2);
    expect(loads[0].loadId > loads[1].loadId).toBe(true);
    expect(loads.map((l) => l.rows)).toEqual([5, 5]);
    expect(loads[0].interval).toEqual({ start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-01-02T00:00:00Z') });
    expect(loads[1].interval).toBeUndefined();
    expect(loads[0].insertedAt).toBeInstanceOf(Date);
    expect(await c.loads('reader', 1)).toHaveLength(1);
    expect(await c.loads('someone_else', 5)).toEqual([]);

    statements = [];
    expect(await c.tableCounts()).toEqual([
      { table: 'items', rows: 6 },
      { table: 'items__tags', rows: 4 },
    ]);
    expect(statements).toEqual([
      {
        text: `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt\\_%' ORDER BY table_name`,
        params: [ds],
      },
      { text: `SELECT 0 AS i, count(*) AS n FROM ${q}."items" UNION ALL SELECT 1 AS i, count(*) AS n FROM ${q}."items__tags"`, params: undefined },
    ]);

    statements = [];
    const preview = await c.preview('items__tags', 2);
    expect(statements).toEqual([{ text: `SELECT * FROM ${q}."items__tags" LIMIT $1`, params: [2] }]);
    expect(preview).toHaveLength(2);
    expect(Object.keys(preview[0]).sort()).toEqual(['_dlt_id', '_dlt_list_idx', '_dlt_parent_id', 'value']);
  });

  it('a dataset that does not exist has no loads and no tables', async () => {
    const c = await open(datasetName('none'));
    expect(await c.loads('reader', 5)).toEqual([]);
    expect(await c.tableCounts()).toEqual([]);
  });

  it('errors are typed, not swallowed: a missing table names the statement and the SQL state', async () => {
    const c = await open(datasetName('none'));
    const e = await c.preview('nope', 3).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LoadError);
    expect((e as LoadError).sqlState).toBe('42P01');
    expect((e as LoadError).sql).toMatch(/^SELECT \* FROM "none_[0-9a-f]+"\."nope" LIMIT \$1$/);
    expect((e as LoadError).retryable).toBe(false);
  });
});
