/**
 * The exact SQL the merge planner emits for each strategy (Kysely-style: assert the text, then run it
 * against Postgres and check the rows it leaves).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planMerge, type MergePlanInput, type PlanTable } from '../../destinations/postgres/merge.ts';
import { datasetName, pgUrl } from '../helpers/pipelines.ts';

const ds = datasetName('msql');
const root: PlanTable = { name: 'items', final: `"${ds}"."items"`, staging: '"stg_items"', columns: ['id', 'v', 'deleted', '_dlt_load_id', '_dlt_id'], exists: true };
const child: PlanTable = {
  name: 'items__tags',
  final: `"${ds}"."items__tags"`,
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
const ROOT_S = 's."id", s."v", s."deleted", s."_dlt_load_id", s."_dlt_id"';
const TAG_COLS = '"value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"';
const TAG_S = 's."value", s."_dlt_root_id", s."_dlt_parent_id", s."_dlt_list_idx", s."_dlt_id"';

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

async function run(statements: string[]): Promise<{ items: unknown[]; tags: unknown[] }> {
  for (const s of statements) await client.query(s);
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
    expect(sql).toEqual([
      `CREATE TEMP TABLE "tide_del_u1" ON COMMIT DROP AS SELECT d."_dlt_id" FROM ${R} AS d WHERE EXISTS (SELECT 1 FROM "stg_items" AS s WHERE d."id" = s."id") UNION SELECT d."_dlt_id" FROM ${R} AS d WHERE EXISTS (SELECT 1 FROM "stg_items" AS s WHERE d."v" = s."v")`,
      `DELETE FROM ${C} AS d WHERE d."_dlt_root_id" IN (SELECT "_dlt_id" FROM "tide_del_u1")`,
      `DELETE FROM ${R} AS d WHERE d."_dlt_id" IN (SELECT "_dlt_id" FROM "tide_del_u1")`,
      `CREATE TEMP TABLE "tide_ins_u1" ON COMMIT DROP AS SELECT s."_dlt_id" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "v" DESC NULLS LAST, ctid ASC) AS _tide_rn FROM "stg_items") AS s WHERE s._tide_rn = 1 AND s."deleted" IS NOT TRUE`,
      `INSERT INTO ${R} (${ROOT_COLS}) SELECT ${ROOT_S} FROM "stg_items" AS s WHERE s."_dlt_id" IN (SELECT "_dlt_id" FROM "tide_ins_u1")`,
      `INSERT INTO ${C} (${TAG_COLS}) SELECT ${TAG_S} FROM "stg_tags" AS s WHERE s."_dlt_root_id" IN (SELECT "_dlt_id" FROM "tide_ins_u1")`,
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
    expect(sql).toEqual([
      `DELETE FROM ${R} AS d WHERE EXISTS (SELECT 1 FROM "stg_items" AS s WHERE d."id" = s."id")`,
      `INSERT INTO ${R} (${ROOT_COLS}) SELECT ${ROOT_S} FROM "stg_items" AS s WHERE NOT EXISTS (SELECT 1 FROM "stg_items" AS s2 WHERE s2."id" = s."id" AND s2.ctid > s.ctid)`,
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
    expect(sql).toEqual([
      `DELETE FROM ${C} AS d WHERE d."_dlt_root_id" IN (SELECT r."_dlt_id" FROM ${R} AS r WHERE EXISTS (SELECT 1 FROM "stg_items" AS s WHERE r."id" = s."id"))`,
      `DELETE FROM ${R} AS d USING "stg_items" AS s WHERE d."id" = s."id" AND s."deleted" IS TRUE`,
      `INSERT INTO ${R} (${ROOT_COLS}) SELECT ${ROOT_S} FROM "stg_items" AS s WHERE s."deleted" IS NOT TRUE ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v", "deleted" = EXCLUDED."deleted", "_dlt_load_id" = EXCLUDED."_dlt_load_id", "_dlt_id" = EXCLUDED."_dlt_id"`,
      `INSERT INTO ${C} (${TAG_COLS}) SELECT ${TAG_S} FROM "stg_tags" AS s WHERE s."_dlt_root_id" IN (SELECT r."_dlt_id" FROM "stg_items" AS r WHERE r."deleted" IS NOT TRUE)`,
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
    expect(sql).toEqual([
      `UPDATE ${R} AS d SET "v" = s."v", "deleted" = s."deleted", "_dlt_load_id" = s."_dlt_load_id", "_dlt_id" = s."_dlt_id" FROM "stg_items" AS s WHERE d."id" = s."id"`,
      `INSERT INTO ${R} (${ROOT_COLS}) SELECT ${ROOT_S} FROM "stg_items" AS s WHERE NOT EXISTS (SELECT 1 FROM ${R} AS d WHERE d."id" = s."id")`,
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
    expect(sql).toEqual([
      `INSERT INTO ${R} (${ROOT_COLS}) SELECT ${ROOT_S} FROM "stg_items" AS s ON CONFLICT ("id") DO NOTHING`,
      `INSERT INTO ${C} (${TAG_COLS}) SELECT ${TAG_S} FROM "stg_tags" AS s WHERE NOT EXISTS (SELECT 1 FROM ${C} AS d WHERE d."_dlt_id" = s."_dlt_id")`,
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
    expect(sql).toEqual([
      `UPDATE ${R} AS d SET "valid_to" = '2024-01-01T00:00:00.000Z'::timestamptz WHERE d."valid_to" IS NULL AND NOT EXISTS (SELECT 1 FROM "stg_items" AS s WHERE s."_dlt_id" = d."_dlt_id") AND EXISTS (SELECT 1 FROM "stg_items" AS s WHERE d."id" = s."id")`,
      `INSERT INTO ${R} ("id", "v", "deleted", "_dlt_load_id", "_dlt_id", "valid_from", "valid_to") SELECT s."id", s."v", s."deleted", s."_dlt_load_id", s."_dlt_id", '2024-01-01T00:00:00.000Z'::timestamptz, NULL FROM "stg_items" AS s WHERE NOT EXISTS (SELECT 1 FROM ${R} AS d WHERE d."valid_to" IS NULL AND d."_dlt_id" = s."_dlt_id")`,
      `INSERT INTO ${C} ("value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT s."value", s."_dlt_parent_id", s."_dlt_list_idx", s."_dlt_id" FROM "stg_tags" AS s WHERE NOT EXISTS (SELECT 1 FROM ${C} AS d WHERE d."_dlt_id" = s."_dlt_id")`,
    ]);
    await setup({ scd2: true });
    // id 1 unchanged (same hash r1), id 2 changed (new hash), id 3 absent (not retired: merge key)
    await stage(`(1, 'a', null, 'l2', 'r1'), (2, 'b2', null, 'l2', 'h2')`, `('b2tag', null, 'h2', 0, 't7')`);
    for (const s of sql) await client.query(s);
    const r = await client.query(`SELECT id::int, v, to_char(valid_to AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS valid_to FROM ${R} ORDER BY id, valid_from`);
    await client.query('ROLLBACK');
    expect(r.rows).toEqual([
      { id: 1, v: 'a', valid_to: null },
      { id: 2, v: 'b', valid_to: '2024-01-01' },
      { id: 2, v: 'b2', valid_to: null },
      { id: 3, v: 'c', valid_to: null },
    ]);
  });
});
