/**
 * sqlTable / sqlDatabase against a real Postgres source: a source schema of its own per test on the
 * shared server, loaded into a dataset of its own. Types are checked in the destination's catalog,
 * values as Postgres prints them, and what the resource read by the ids a map step saw.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { SqlSourceError, incremental, runDecomposed, sqlDatabase, sqlTable } from 'tide';
import { cleanup, datasetName, pgUrl, testPipeline } from '../helpers/pipelines.ts';

/** A fresh source schema on the shared server, made by `ddl` (`S` stands for its quoted name); dropped after the test. */
async function sourceSchema(ddl: string): Promise<{ schema: string; db: pg.Client }> {
  const schema = datasetName('src');
  const db = new pg.Client({ connectionString: pgUrl() });
  await db.connect();
  cleanup({ end: async () => (await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`), await db.end()) });
  await db.query(`CREATE SCHEMA "${schema}"; ${ddl.replaceAll('S.', `"${schema}".`)}`);
  return { schema, db };
}

/** The destination's column types of `table`, in table order, bookkeeping columns left out. */
async function columnTypes(p: ReturnType<typeof testPipeline>, table: string) {
  return p.query(
    `SELECT column_name AS name, data_type AS type, numeric_precision AS precision, numeric_scale AS scale, is_nullable AS nullable
     FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name NOT LIKE '\\_dlt\\_%' ORDER BY ordinal_position`,
    [p.datasetName, table],
  );
}

/** The ids every run's items had before the incremental filter (what the SELECT returned). */
function seenIds<T extends { addMap(fn: (item: any) => unknown): T }>(r: T): { r: T; seen: number[] } {
  const seen: number[] = [];
  return { r: r.addMap((item: { id: number }) => (seen.push(item.id), item)), seen };
}

const TYPES_DDL = `
CREATE DOMAIN S.price AS numeric(10,2);
CREATE TABLE S.every_type (
  id int8 PRIMARY KEY, small int2, plain int4, big int8, amount numeric(12,3), free numeric, f4 float4, f8 float8, flag bool,
  at_tz timestamptz, naive timestamp, day date, clock time, j json, jb jsonb, tags text[], nums int8[], u uuid, b bytea,
  name text NOT NULL, code varchar(8), cost S.price);
INSERT INTO S.every_type VALUES
  (1, -32768, 2147483647, 9007199254740993, 123456789.125, 1e30, 1.5, 2.25, true,
   '2024-01-02 03:04:05.123456+02', '2024-01-02 03:04:05.654321', '2024-02-29', '13:14:15.5', '{"a": [1, 2]}', '"just a string"',
   '{a,"b c"}', '{1,-2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\xdeadbeef', 'ünïcode	tab', 'X1', 9.5),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '5', NULL, NULL, NULL, NULL, '', NULL, NULL);`;

describe('sqlTable: reflection', () => {
  it('every column type arrives with its reflected destination type and exact values; the primary key and NOT NULL are hints', async () => {
    const { schema } = await sourceSchema(TYPES_DDL);
    const r = await sqlTable({ credentials: pgUrl(), schema, table: 'every_type', writeDisposition: 'merge' });
    expect(r.options.primaryKey).toEqual(['id']);
    const p = testPipeline({ pipelineName: 'sql_types' });
    expect((await p.run(r)).tables).toEqual({ every_type: { rows: 2 } });

    const bigint = { type: 'bigint', precision: 64, scale: 0 };
    const none = { precision: null, scale: null };
    expect(await columnTypes(p, 'every_type')).toEqual([
      { name: 'id', ...bigint, nullable: 'NO' },
      { name: 'small', ...bigint, nullable: 'YES' },
      { name: 'plain', ...bigint, nullable: 'YES' },
      { name: 'big', ...bigint, nullable: 'YES' },
      { name: 'amount', type: 'numeric', precision: 12, scale: 3, nullable: 'YES' },
      { name: 'free', type: 'numeric', ...none, nullable: 'YES' },
      { name: 'f4', type: 'double precision', precision: 53, scale: null, nullable: 'YES' },
      { name: 'f8', type: 'double precision', precision: 53, scale: null, nullable: 'YES' },
      { name: 'flag', type: 'boolean', ...none, nullable: 'YES' },
      { name: 'at_tz', type: 'timestamp with time zone', ...none, nullable: 'YES' },
      { name: 'naive', type: 'timestamp without time zone', ...none, nullable: 'YES' },
      { name: 'day', type: 'date', ...none, nullable: 'YES' },
      { name: 'clock', type: 'time without time zone', ...none, nullable: 'YES' },
      { name: 'j', type: 'jsonb', ...none, nullable: 'YES' },
      { name: 'jb', type: 'jsonb', ...none, nullable: 'YES' },
      { name: 'tags', type: 'jsonb', ...none, nullable: 'YES' },
      { name: 'nums', type: 'jsonb', ...none, nullable: 'YES' },
      { name: 'u', type: 'character varying', ...none, nullable: 'YES' },
      { name: 'b', type: 'bytea', ...none, nullable: 'YES' },
      { name: 'name', type: 'character varying', ...none, nullable: 'NO' },
      { name: 'code', type: 'character varying', ...none, nullable: 'YES' },
      { name: 'cost', type: 'numeric', precision: 10, scale: 2, nullable: 'YES' },
    ]);
    // every value as Postgres prints it: nothing rounded to milliseconds, shifted by a time zone or re-typed
    const values = await p.query(
      `SELECT id, small, plain, big::text, amount::text, free::text, f4, f8, flag, (at_tz AT TIME ZONE 'UTC')::text AS at_tz, naive::text,
              day::text, clock::text, j::text, jb::text, tags::text, nums::text, u, encode(b, 'hex') AS b, name, code, cost::text
       FROM "${p.datasetName}".every_type ORDER BY id`,
    );
    expect(values).toEqual([
      {
        id: 1, small: -32768, plain: 2147483647, big: '9007199254740993', amount: '123456789.125', free: '1000000000000000000000000000000',
        f4: 1.5, f8: 2.25, flag: true, at_tz: '2024-01-02 01:04:05.123456', naive: '2024-01-02 03:04:05.654321', day: '2024-02-29',
        clock: '13:14:15.5', j: '{"a": [1, 2]}', jb: '"just a string"', tags: '["a", "b c"]', nums: '[1, -2]',
        u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', b: 'deadbeef', name: 'ünïcode\ttab', code: 'X1', cost: '9.50',
      },
      {
        id: 2, small: null, plain: null, big: null, amount: null, free: null, f4: null, f8: null, flag: null, at_tz: null, naive: null,
        day: null, clock: null, j: null, jb: '5', tags: null, nums: null, u: null, b: null, name: '', code: null, cost: null,
      },
    ]);
  });

  it('a missing table, an unknown included column and a cursor that is no column are SqlSourceErrors naming them', async () => {
    const { schema } = await sourceSchema(`CREATE TABLE S.t (id int PRIMARY KEY, updated_at timestamptz); INSERT INTO S.t VALUES (1, '2024-01-01Z');`);
    await expect(sqlTable({ credentials: pgUrl(), schema, table: 'nope' })).rejects.toSatisfy(
      (e: unknown) => e instanceof SqlSourceError && e.table === 'nope' && e.message.includes(`"${schema}"."nope" does not exist`),
    );
    await expect(sqlTable({ credentials: pgUrl(), schema, table: 't', includedColumns: ['id', 'ghost'] })).rejects.toSatisfy(
      (e: unknown) => e instanceof SqlSourceError && e.column === 'ghost',
    );
    const p = testPipeline({ pipelineName: 'sql_errors' });
    expect((await p.run(await sqlTable({ credentials: pgUrl(), schema, table: 't' }))).tables).toEqual({ t: { rows: 1 } });
    const bad = await sqlTable({ credentials: pgUrl(), schema, table: 't', incremental: incremental('changed_at', { initialValue: '2024-01-01T00:00:00Z' }) });
    const err = await p.run(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqlSourceError);
    expect(err).toMatchObject({ resource: 't', table: 't', column: 'changed_at' });
    // what the first run loaded is still there
    expect(await p.query(`SELECT id FROM "${p.datasetName}".t`)).toEqual([{ id: 1 }]);
  });
});

const ORDERS_DDL = `
CREATE TABLE S.orders (id int PRIMARY KEY, status text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO S.orders VALUES
  (1, 'new', '2024-01-01 00:00:00Z'), (2, 'new', '2024-01-02 00:00:00Z'), (3, 'paid', '2024-01-03 00:00:00Z'), (4, 'new', '2024-01-03 00:00:00Z');`;

describe('sqlTable: incremental pushed down', () => {
  it('the second run reads only rows at or after the last cursor value (the boundary rows deduplicated), in chunks', async () => {
    const { schema, db } = await sourceSchema(ORDERS_DDL);
    const { r, seen } = seenIds(
      await sqlTable({
        credentials: pgUrl(),
        schema,
        table: 'orders',
        chunkSize: 2,
        writeDisposition: 'merge',
        incremental: incremental('updated_at', { initialValue: '2024-01-02T00:00:00Z' }),
      }),
    );
    const p = testPipeline({ pipelineName: 'sql_inc' });
    expect((await p.run(r)).tables).toEqual({ orders: { rows: 3 } });
    expect(seen).toEqual([2, 3, 4]);

    await db.query(`UPDATE "${schema}".orders SET status = 'shipped', updated_at = '2024-01-05Z' WHERE id = 2;
                    INSERT INTO "${schema}".orders VALUES (5, 'new', '2024-01-04Z'), (6, 'new', '2024-01-01Z')`);
    seen.length = 0;
    expect((await p.run(r)).tables).toEqual({ orders: { rows: 2 } });
    // 3 and 4 sit on the last value (read, then dropped as already loaded); 6 is older: not read at all
    expect(seen).toEqual([3, 4, 5, 2]);
    expect(await p.query(`SELECT id, status FROM "${p.datasetName}".orders ORDER BY id`)).toEqual([
      { id: 2, status: 'shipped' },
      { id: 3, status: 'paid' },
      { id: 4, status: 'new' },
      { id: 5, status: 'new' },
    ]);
    const cursor = (p.state.sources as any).sql_inc.resources.orders.incremental.updated_at;
    expect(cursor.last_value).toBe('2024-01-05T00:00:00+00:00');
    expect(cursor.unique_hashes).toHaveLength(1);
  });

  it('an external interval bounds the SELECT to [start, end) and leaves the cursor state alone', async () => {
    const { schema } = await sourceSchema(ORDERS_DDL);
    const { r, seen } = seenIds(
      await sqlTable({
        credentials: pgUrl(),
        schema,
        table: 'orders',
        incremental: incremental('updated_at', { initialValue: '2024-01-01T00:00:00Z', allowExternalSchedulers: true }),
      }),
    );
    const p = testPipeline({ pipelineName: 'sql_interval' });
    const info = await p.run(r, { interval: { start: '2024-01-02T00:00:00Z', end: '2024-01-03T00:00:00Z' } });
    expect(info.tables).toEqual({ orders: { rows: 1 } });
    expect(seen).toEqual([2]);
    expect((p.state.sources as any)?.sql_interval?.resources?.orders?.incremental).toBeUndefined();
  });

  it("rowOrder 'desc' with lastValueFunc 'min' reads downwards from the start value", async () => {
    const { schema } = await sourceSchema(ORDERS_DDL);
    const { r, seen } = seenIds(
      await sqlTable({
        credentials: pgUrl(),
        schema,
        table: 'orders',
        incremental: incremental('updated_at', { initialValue: '2024-01-02T00:00:00Z', lastValueFunc: 'min', rowOrder: 'desc' }),
      }),
    );
    const p = testPipeline({ pipelineName: 'sql_min' });
    expect((await p.run(r)).tables).toEqual({ orders: { rows: 2 } });
    expect(seen).toEqual([2, 1]);
  });
});

describe('sqlTable: stopping early', () => {
  it('a resource closed after its first chunk (addLimit) rolls back its cursor and disconnects', async () => {
    const { schema, db } = await sourceSchema(ORDERS_DDL);
    const r = (await sqlTable({ credentials: { connectionString: pgUrl(), application_name: `tide_${schema}` }, schema, table: 'orders', chunkSize: 1 })).addLimit(1);
    const p = testPipeline({ pipelineName: 'sql_limit' });
    expect((await p.run(r)).tables).toEqual({ orders: { rows: 1 } });
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [`tide_${schema}`])).rows).toEqual([{ n: 0 }]);
  });
});

describe('sqlDatabase', () => {
  it('one resource per table (tableNames picks and orders them), each its own component of a decomposed run', async () => {
    const { schema } = await sourceSchema(`
      CREATE TABLE S.customers (id int PRIMARY KEY, name text); INSERT INTO S.customers VALUES (1, 'ada'), (2, 'bob');
      CREATE TABLE S.items (order_id int, line int, sku text, PRIMARY KEY (order_id, line)); INSERT INTO S.items VALUES (7, 1, 'x'), (7, 2, 'y');
      CREATE TABLE S.notes (body text); INSERT INTO S.notes VALUES ('hi');
      CREATE VIEW S.v AS SELECT 1 AS one;`);
    const all = await sqlDatabase({ credentials: pgUrl(), schema });
    expect(all.selectedResources.map((r) => [r.name, r.options.primaryKey])).toEqual([
      ['customers', ['id']],
      ['items', ['order_id', 'line']],
      ['notes', undefined],
    ]);
    const withViews = await sqlDatabase({ credentials: pgUrl(), schema, includeViews: true });
    expect(Object.keys(withViews.resources)).toEqual(['customers', 'items', 'notes', 'v']);

    const shop = await sqlDatabase({ credentials: pgUrl(), schema, tableNames: ['items', 'customers'], writeDisposition: 'merge' });
    const p = testPipeline({ pipelineName: 'sql_db' });
    const info = await runDecomposed(() => p.fork(), () => shop, { decompose: 'serialize' });
    expect(info.tables).toEqual({ items: { rows: 2 }, customers: { rows: 2 } });
    expect(await p.query(`SELECT order_id, line, sku FROM "${p.datasetName}".items ORDER BY line`)).toEqual([
      { order_id: 7, line: 1, sku: 'x' },
      { order_id: 7, line: 2, sku: 'y' },
    ]);
    // two components, one package each, committed by one load
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}"._dlt_loads`)).toEqual([{ n: 1 }]);
  });
});
