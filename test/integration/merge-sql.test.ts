/**
 * The exact SQL the merge planner builds with Kysely for each strategy (assert the text, then run it
 * against Postgres and check the rows it leaves).
 */
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDeleteInsertBatch, planDeleteNestedBatch, planMerge, planReplaceBatch, planReplaceRootBatch, planUpsertBatch, type MergePlanInput, type PlanTable } from '../../destinations/postgres/merge.ts';
import { datasetName, pgUrl } from '../helpers/pipelines.ts';

const ds = datasetName('msql');
const root: PlanTable = { name: 'items', schema: ds, staging: '"stg_items"', columns: ['id', 'v', 'deleted', '_dlt_load_id', '_dlt_id'], exists: true };
const child: PlanTable = {
  name: 'items__tags',
  schema: ds,
  staging: '"stg_tags"',
  columns: ['value', '_dlt_root_id', '_dlt_parent_id', '_dlt_list_idx', '_dlt_id'],
  exists: true,
  parent: 'items',
  link: '_dlt_root_id',
};
const base = { root, nested: [child], primaryKey: ['id'], mergeKey: [] as string[], uid: 'u1' };
const R = `"${ds}"."items"`;
const C = `"${ds}"."items__tags"`;
const ROOT_COLS = '"id", "v", "deleted", "_dlt_load_id", "_dlt_id"';
const ROOT_S = '"s"."id" as "id", "s"."v" as "v", "s"."deleted" as "deleted", "s"."_dlt_load_id" as "_dlt_load_id", "s"."_dlt_id" as "_dlt_id"';
const TAG_COLS = '"value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"';
const TAG_S = '"s"."value" as "value", "s"."_dlt_root_id" as "_dlt_root_id", "s"."_dlt_parent_id" as "_dlt_parent_id", "s"."_dlt_list_idx" as "_dlt_list_idx", "s"."_dlt_id" as "_dlt_id"';

let client: pg.Client;

/** Final rows: items 1 (tags a, b), 2 (tag c), 3; staged: 1 updated twice (v 'x' < 'y'), 2 deleted, 4 new (tag d). */
async function setup(opts: { scd2?: boolean } = {}): Promise<void> {
  await client.query('BEGIN');
  await client.query(`CREATE SCHEMA "${ds}"`);
  const vcols = opts.scd2 ? ', valid_from timestamptz, valid_to timestamptz' : '';
  await client.query(`CREATE TABLE ${R} (id bigint, v varchar, deleted boolean, _dlt_load_id varchar, _dlt_id varchar${vcols})`);
  await client.query(`CREATE TABLE ${C} (value varchar, _dlt_root_id varchar, _dlt_parent_id varchar, _dlt_list_idx bigint, _dlt_id varchar)`);
  await client.query(`CREATE TEMP TABLE stg_items (LIKE ${R}) ON COMMIT DROP`);
  await client.query(`CREATE TEMP TABLE stg_tags (LIKE ${C}) ON COMMIT DROP`);
  await client.query(`INSERT INTO ${R} (id, v, _dlt_load_id, _dlt_id${opts.scd2 ? ', valid_from' : ''}) VALUES (1, 'a', 'l1', 'r1'${opts.scd2 ? ", '2020-01-01Z'" : ''}), (2, 'b', 'l1', 'r2'${opts.scd2 ? ", '2020-01-01Z'" : ''}), (3, 'c', 'l1', 'r3'${opts.scd2 ? ", '2020-01-01Z'" : ''})`);
  await client.query(`INSERT INTO ${C} VALUES ('a', 'r1', 'r1', 0, 't1'), ('b', 'r1', 'r1', 1, 't2'), ('c', 'r2', 'r2', 0, 't3')`);
}

async function stage(sql: string, tags = ''): Promise<void> {
  await client.query(`INSERT INTO stg_items (id, v, deleted, _dlt_load_id, _dlt_id) VALUES ${sql}`);
  if (tags) await client.query(`INSERT INTO stg_tags VALUES ${tags}`);
}

async function run(statements: CompiledQuery[]): Promise<{ items: unknown[]; tags: unknown[] }> {
  for (const s of statements) await client.query(s.sql, s.parameters as unknown[]);
  const items = (await client.query(`SELECT id::int, v FROM ${R} ORDER BY id, v`)).rows;
  const tags = (await client.query(`SELECT value FROM ${C} ORDER BY value`)).rows.map((r) => r.value);
  await client.query('ROLLBACK');
  return { items, tags };
}

beforeAll(async () => {
  client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

describe('merge SQL', () => {
  it('delete-insert with nested tables, merge key, hard delete and dedup sort', async () => {
    const input: MergePlanInput = {
      ...base,
      strategy: 'delete-insert',
      mergeKey: ['v'],
      hardDelete: { column: 'deleted', bool: true },
      dedupSort: { column: 'v', order: 'desc' },
    };
    const sql = planMerge(input);
    expect(sql.map((q) => q.sql)).toEqual([
      `create temporary table "tide_del_u1" on commit drop as select "d"."_dlt_id" as "_dlt_id" from ${R} as "d" where exists (select 1 as "one" from "stg_items" as "s" where "d"."id" = "s"."id") union select "d"."_dlt_id" as "_dlt_id" from ${R} as "d" where exists (select 1 as "one" from "stg_items" as "s" where "d"."v" = "s"."v")`,
      `delete from ${C} as "d" where "d"."_dlt_root_id" in (select "_dlt_id" from "tide_del_u1")`,
      `delete from ${R} as "d" where "d"."_dlt_id" in (select "_dlt_id" from "tide_del_u1")`,
      `create temporary table "tide_ins_u1" on commit drop as select "s"."_dlt_id" as "_dlt_id" from (select *, row_number() over (partition by "id" order by "v" desc nulls last, ctid asc) as "_tide_rn" from "stg_items" as "r") as "s" where "s"."_tide_rn" = 1 and "s"."deleted" is not true`,
      `insert into ${R} (${ROOT_COLS}) select ${ROOT_S} from "stg_items" as "s" where "s"."_dlt_id" in (select "_dlt_id" from "tide_ins_u1")`,
      `insert into ${C} (${TAG_COLS}) select ${TAG_S} from "stg_tags" as "s" where "s"."_dlt_root_id" in (select "_dlt_id" from "tide_ins_u1")`,
    ]);
    await setup();
    await stage(`(1, 'x', null, 'l2', 'n1'), (1, 'y', null, 'l2', 'n2'), (2, 'b2', true, 'l2', 'n3'), (4, 'd', null, 'l2', 'n4')`, `('lost', 'n1', 'n1', 0, 'tx'), ('y1', 'n2', 'n2', 0, 'ty'), ('d1', 'n4', 'n4', 0, 'td')`);
    expect(await run(sql)).toEqual({
      items: [
        { id: 1, v: 'y' },
        { id: 3, v: 'c' },
        { id: 4, v: 'd' },
      ],
      tags: ['d1', 'y1'],
    });
  });

  it('delete-insert, root only: one DELETE per key, dedup by anti-join (last occurrence wins)', async () => {
    const sql = planMerge({ ...base, nested: [], strategy: 'delete-insert' });
    expect(sql.map((q) => q.sql)).toEqual([
      `delete from ${R} as "d" where exists (select 1 as "one" from "stg_items" as "s" where "d"."id" = "s"."id")`,
      `insert into ${R} (${ROOT_COLS}) select ${ROOT_S} from "stg_items" as "s" where not exists (select 1 as "one" from "stg_items" as "s2" where "s2"."id" = "s"."id" and "s2"."ctid" > "s"."ctid")`,
    ]);
    await setup();
    await stage(`(1, 'first', null, 'l2', 'n1'), (1, 'mid', null, 'l2', 'n2'), (1, 'last', null, 'l2', 'n3'), (7, 'only', null, 'l2', 'n4')`);
    expect((await run(sql)).items).toEqual([
      { id: 1, v: 'last' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
      { id: 7, v: 'only' },
    ]);
  });

  it('upsert with ON CONFLICT, hard delete and nested replacement', async () => {
    const sql = planMerge({ ...base, strategy: 'upsert', hardDelete: { column: 'deleted', bool: true }, uniquePk: true });
    expect(sql.map((q) => q.sql)).toEqual([
      `delete from ${C} as "d" where "d"."_dlt_root_id" in (select "r"."_dlt_id" as "_dlt_id" from ${R} as "r" where exists (select 1 as "one" from "stg_items" as "s" where "r"."id" = "s"."id"))`,
      `delete from ${R} as "d" using "stg_items" as "s" where "d"."id" = "s"."id" and "s"."deleted" is true`,
      `insert into ${R} (${ROOT_COLS}) select ${ROOT_S} from "stg_items" as "s" where "s"."deleted" is not true on conflict ("id") do update set "v" = "excluded"."v", "deleted" = "excluded"."deleted", "_dlt_load_id" = "excluded"."_dlt_load_id", "_dlt_id" = "excluded"."_dlt_id"`,
      `insert into ${C} (${TAG_COLS}) select ${TAG_S} from "stg_tags" as "s" where "s"."_dlt_root_id" in (select "r"."_dlt_id" as "_dlt_id" from "stg_items" as "r" where "r"."deleted" is not true)`,
    ]);
    await setup();
    await client.query(`CREATE UNIQUE INDEX ON ${R} (id)`);
    await stage(`(1, 'a2', null, 'l2', 'r1'), (2, null, true, 'l2', 'r2'), (4, 'd', false, 'l2', 'r4')`, `('a2', 'r1', 'r1', 0, 't1'), ('d', 'r4', 'r4', 0, 't4')`);
    expect(await run(sql)).toEqual({
      items: [
        { id: 1, v: 'a2' },
        { id: 3, v: 'c' },
        { id: 4, v: 'd' },
      ],
      tags: ['a2', 'd'],
    });
  });

  it('upsert without a unique index: UPDATE then INSERT … NOT EXISTS', async () => {
    const sql = planMerge({ ...base, nested: [], strategy: 'upsert', uniquePk: false });
    expect(sql.map((q) => q.sql)).toEqual([
      `update ${R} as "d" set "v" = "s"."v", "deleted" = "s"."deleted", "_dlt_load_id" = "s"."_dlt_load_id", "_dlt_id" = "s"."_dlt_id" from "stg_items" as "s" where "d"."id" = "s"."id"`,
      `insert into ${R} (${ROOT_COLS}) select ${ROOT_S} from "stg_items" as "s" where not exists (select 1 as "one" from ${R} as "d" where "d"."id" = "s"."id")`,
    ]);
    await setup();
    await stage(`(2, 'b2', null, 'l2', 'r2'), (5, 'e', null, 'l2', 'r5')`);
    expect((await run(sql)).items).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b2' },
      { id: 3, v: 'c' },
      { id: 5, v: 'e' },
    ]);
  });

  it('insert-only', async () => {
    const sql = planMerge({ ...base, strategy: 'insert-only', uniquePk: true });
    expect(sql.map((q) => q.sql)).toEqual([
      `insert into ${R} (${ROOT_COLS}) select ${ROOT_S} from "stg_items" as "s" on conflict ("id") do nothing`,
      `insert into ${C} (${TAG_COLS}) select ${TAG_S} from "stg_tags" as "s" where not exists (select 1 as "one" from ${C} as "d" where "d"."_dlt_id" = "s"."_dlt_id")`,
    ]);
    await setup();
    await client.query(`CREATE UNIQUE INDEX ON ${R} (id)`);
    await stage(`(1, 'changed', null, 'l2', 'r1'), (6, 'f', null, 'l2', 'r6')`, `('a', 'r1', 'r1', 0, 't1'), ('new', 'r1', 'r1', 2, 't9')`);
    expect(await run(sql)).toEqual({
      items: [
        { id: 1, v: 'a' },
        { id: 2, v: 'b' },
        { id: 3, v: 'c' },
        { id: 6, v: 'f' },
      ],
      tags: ['a', 'b', 'c', 'new'],
    });
  });

  it('scd2 with a merge key: NOT EXISTS retire and insert, nested insert-only', async () => {
    const input: MergePlanInput = {
      ...base,
      primaryKey: [],
      mergeKey: ['id'],
      strategy: 'scd2',
      root: { ...root, columns: ['id', 'v', 'deleted', '_dlt_load_id', '_dlt_id', 'valid_from', 'valid_to'] },
      nested: [{ ...child, columns: ['value', '_dlt_parent_id', '_dlt_list_idx', '_dlt_id'], link: '_dlt_parent_id' }],
      scd2: { validFrom: 'valid_from', validTo: 'valid_to', boundary: '2024-01-01T00:00:00.000Z', versionColumn: '_dlt_id', chainNested: false },
    };
    const sql = planMerge(input);
    expect(sql.map((q) => q.sql)).toEqual([
      `update ${R} as "d" set "valid_to" = $1::timestamptz where "d"."valid_to" is null and not exists (select 1 as "one" from "stg_items" as "s" where "s"."_dlt_id" = "d"."_dlt_id") and exists (select 1 as "one" from "stg_items" as "s" where "d"."id" = "s"."id")`,
      `insert into ${R} (${ROOT_COLS}, "valid_from", "valid_to") select ${ROOT_S}, $1::timestamptz as "valid_from", null as "valid_to" from "stg_items" as "s" where not exists (select 1 as "one" from ${R} as "d" where "d"."valid_to" is null and "d"."_dlt_id" = "s"."_dlt_id")`,
      `insert into ${C} ("value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") select "s"."value" as "value", "s"."_dlt_parent_id" as "_dlt_parent_id", "s"."_dlt_list_idx" as "_dlt_list_idx", "s"."_dlt_id" as "_dlt_id" from "stg_tags" as "s" where not exists (select 1 as "one" from ${C} as "d" where "d"."_dlt_id" = "s"."_dlt_id")`,
    ]);
    await setup({ scd2: true });
    // id 1 unchanged (same hash r1), id 2 changed (new hash), id 3 absent (not retired: merge key)
    await stage(`(1, 'a', null, 'l2', 'r1'), (2, 'b2', null, 'l2', 'h2')`, `('b2tag', null, 'h2', 0, 't7')`);
    expect(sql.map((q) => q.parameters)).toEqual([['2024-01-01T00:00:00.000Z'], ['2024-01-01T00:00:00.000Z'], []]);
    for (const s of sql) await client.query(s.sql, s.parameters as unknown[]);
    const r = await client.query(`SELECT id::int, v, to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_to FROM ${R} ORDER BY id, valid_from`);
    await client.query('ROLLBACK');
    expect(r.rows).toEqual([
      { id: 1, v: 'a', valid_to: null },
      { id: 2, v: 'b', valid_to: '2024-01-01' },
      { id: 2, v: 'b2', valid_to: null },
      { id: 3, v: 'c', valid_to: null },
    ]);
  });

  it('batches merged while the load runs: delete-insert, the straight replace, upsert', async () => {
    const final = { schema: ds, name: 'items' };
    const di = planDeleteInsertBatch({ final, batch: 'stg_items', columns: ['id', 'v'], key: 'id', keyType: 'bigint', keys: [1, 4], hardDelete: { column: 'deleted', bool: true }, repeatsKeys: true });
    expect(di.map((q) => q.sql)).toEqual([
      `delete from ${R} as "d" where "d"."id" = any($1::bigint[])`,
      `insert into ${R} ("id", "v") select "s"."id" as "id", "s"."v" as "v" from (select distinct on ("b"."id") * from "stg_items" as "b" order by "b"."id", ctid desc) as "s" where "s"."deleted" is not true`,
    ]);
    expect(di.map((q) => q.parameters)).toEqual([[[1, 4]], []]);
    const replace = planReplaceBatch({ final, key: 'id', keyType: 'bigint', keys: [2], upsert: true, loadId: 'l1' });
    expect(replace.sql).toBe(`with "gone" as (delete from ${R} as "d" where "d"."id" = any($1::bigint[]) returning "d"."_dlt_load_id" as "l") select count(*) filter (where "l" = $2)::int as "repeated" from "gone"`);
    const up = planUpsertBatch({ final, batch: 'stg_items', columns: ['id', 'v', '_dlt_load_id'], key: 'id', insertOnly: false });
    expect(up.map((q) => q.sql)).toEqual([
      `with "w" as (insert into ${R} ("id", "v", "_dlt_load_id") select "s"."id" as "id", "s"."v" as "v", "s"."_dlt_load_id" as "_dlt_load_id" from "stg_items" as "s" on conflict ("id") do update set "v" = "excluded"."v", "_dlt_load_id" = "excluded"."_dlt_load_id" where "items"."_dlt_load_id" is distinct from "excluded"."_dlt_load_id" returning 1 as "one") select (select count(*) from "w")::int as "written", (select count(*)::int as "n" from "stg_items" as "s") as "live"`,
    ]);

    // delete-insert batch: 1 staged twice (the later row wins), 4 new but flagged as a delete
    await setup();
    await stage(`(1, 'x', null, 'l2', 'n1'), (1, 'y', null, 'l2', 'n2'), (4, 'd', true, 'l2', 'n4')`);
    expect((await run(di)).items).toEqual([
      { id: 1, v: 'y' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
    ]);
    // the straight replace counts rows of this load it deleted (l1: a key repeated in the load)
    await setup();
    const gone = await client.query(replace.sql, replace.parameters as unknown[]);
    await client.query('ROLLBACK');
    expect(gone.rows).toEqual([{ repeated: 1 }]);
    // upsert batch: 1 updated, 5 new; 3 was written by this load already (l2): left alone and counted
    await setup();
    await client.query(`CREATE UNIQUE INDEX ON ${R} (id)`);
    await client.query(`UPDATE ${R} SET _dlt_load_id = 'l2' WHERE id = 3`);
    await stage(`(1, 'a2', null, 'l2', 'r1'), (3, 'again', null, 'l2', 'r3'), (5, 'e', null, 'l2', 'r5')`);
    const counts = await client.query(up[0].sql, up[0].parameters as unknown[]);
    expect(counts.rows).toEqual([{ written: 2, live: 3 }]);
    expect((await run([])).items).toEqual([
      { id: 1, v: 'a2' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
      { id: 5, v: 'e' },
    ]);
  });

  it('batches of a root with nested tables: the replaced roots return their ids, their nested rows go by _dlt_root_id', async () => {
    const final = { schema: ds, name: 'items' };
    const roots = planReplaceRootBatch({ final, key: 'id', keyType: 'bigint', keys: [1, 4] });
    expect(roots.sql).toBe(`delete from ${R} as "d" where "d"."id" = any($1::bigint[]) returning "d"."_dlt_id" as "_dlt_id"`);
    expect(roots.parameters).toEqual([[1, 4]]);
    const nested = planDeleteNestedBatch({ final: { schema: ds, name: 'items__tags' }, ids: ['r1'], idType: 'varchar' });
    expect(nested.sql).toBe(`delete from ${C} as "d" where "d"."_dlt_root_id" = any($1::varchar[])`);
    // 1 replaced (tags a, b go), 4 not there: only r1 comes back
    await setup();
    const gone = await client.query(roots.sql, roots.parameters as unknown[]);
    expect(gone.rows).toEqual([{ _dlt_id: 'r1' }]);
    const ids = gone.rows.map((r) => r._dlt_id);
    const del = planDeleteNestedBatch({ final: { schema: ds, name: 'items__tags' }, ids, idType: 'varchar' });
    expect(await run([del])).toEqual({ items: [{ id: 2, v: 'b' }, { id: 3, v: 'c' }], tags: ['c'] });
  });
});
