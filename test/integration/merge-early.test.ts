/**
 * delete-insert batches merged while the load runs (destinations/postgres/early-merge.ts): a
 * load that writes one root table deletes and inserts batch by batch instead of after the last
 * batch, with its nested tables' rows (delete-insert) or without nested tables (upsert, insert-only). The result must be the whole-load merge's, exactly: each scenario runs
 * once that way and once through the end-of-load path (a second, empty root in the same load turns
 * early merging off), and both must equal the expected rows.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { LoadError, resource, source } from 'tide';
import type { Pipeline } from 'tide';
import { tableLock } from '../../destinations/postgres/transaction.ts';
import { pgUrl, rows, testPipeline } from '../helpers/pipelines.ts';


type Item = Record<string, unknown>;

/** Whether some session holds the advisory lock a load takes on `ds.table` before merging it. */
async function tableLockHeld(ds: string, table: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: pgUrl() });
  await c.connect();
  try {
    const r = await c.query(
      // a bigint advisory key shows as classid (high 32 bits) and objid (low 32 bits), objsubid 1
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND objid::bigint = (hashtext($1)::bigint & 4294967295) AND classid::bigint = ((hashtext($1)::bigint >> 32) & 4294967295)`,
      [tableLock(ds, table)],
    );
    return r.rows[0].n > 0;
  } finally {
    await c.end();
  }
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Runs `initial` then `pages` into merge table `table` (primary key `id`, hardDelete `deleted`),
 * with `batchSize` rows per batch. `early`: the load writes that table only; otherwise a second
 * (empty) resource rides along. Returns whether the table lock was held while the second page was
 * being produced, i.e. whether the first batch was merged before the load's end.
 */
async function mergeRun(
  p: Pipeline,
  table: string,
  initial: Item[],
  pages: Item[][],
  early: boolean,
  strategy: 'delete-insert' | 'upsert' | 'insert-only' = 'delete-insert',
): Promise<boolean> {
  const opts = {
    name: table,
    writeDisposition: { disposition: 'merge' as const, strategy },
    primaryKey: 'id',
    columns: { deleted: { hardDelete: true, dataType: 'bool' as const } },
  };
  const other = resource(() => [], { name: 'other_table' });
  const load = (r: ReturnType<typeof resource>) => p.run(early ? r : source('src', [r, other]));
  await load(resource(() => initial, opts));
  let lockedMidLoad = false;
  await load(
    resource(async function* () {
      for (let i = 0; i < pages.length; i++) {
        if (i === 1) lockedMidLoad = await waitFor(() => tableLockHeld(p.datasetName, table), early ? 5_000 : 300);
        yield pages[i];
      }
    }, opts),
  );
  return lockedMidLoad;
}

describe('merge: delete-insert batch by batch', () => {
  it('repeated keys within and across batches, hard deletes both ways, a late new column: the whole-load result', async () => {
    const initial = [1, 2, 3, 4, 5, 6].map((id) => ({ id, v: `a${id}` }));
    const pages = [
      [{ id: 1, v: 'b1' }, { id: 7, v: 'b7' }, { id: 1, v: 'b1x' }], // repeated in one batch: the last wins
      [{ id: 2, deleted: true }, { id: 3, v: 'b3' }, { id: 7, v: 'b7x', extra: 'e' }], // 7 again, a batch later
      [{ id: 3, deleted: true }, { id: 2, v: 'b2back' }, { id: 8, v: 'b8' }], // 3 inserted then deleted; 2 deleted then back
    ];
    const expected = [
      { id: 1, v: 'b1x', extra: null },
      { id: 2, v: 'b2back', extra: null },
      { id: 4, v: 'a4', extra: null },
      { id: 5, v: 'a5', extra: null },
      { id: 6, v: 'a6', extra: null },
      { id: 7, v: 'b7x', extra: 'e' },
      { id: 8, v: 'b8', extra: null },
    ];
    const early = testPipeline({ pipelineName: 'merge_early', batchSize: 3 });
    expect(await mergeRun(early, 'things', initial, pages, true)).toBe(true);
    expect(await rows(early, 'things', 'id', 'id, v, extra')).toEqual(expected);

    const atEnd = testPipeline({ pipelineName: 'merge_at_end', batchSize: 3 });
    expect(await mergeRun(atEnd, 'things', initial, pages, false)).toBe(false);
    expect(await rows(atEnd, 'things', 'id', 'id, v, extra')).toEqual(expected);
  });

  it('a nested table appearing mid-load: batches before it merged without, the rest with their nested rows, nothing lost', async () => {
    const initial = [1, 2, 3].map((id) => ({ id, v: `a${id}` }));
    const pages = [
      [{ id: 1, v: 'x' }, { id: 4, v: 'y' }],
      [{ id: 2, tags: ['t1', 't2'] }],
      [{ id: 4, v: 'y2', tags: ['t3'] }],
    ];
    const expectedRoots = [
      { id: 1, v: 'x' },
      { id: 2, v: null },
      { id: 3, v: 'a3' },
      { id: 4, v: 'y2' },
    ];
    const expectedTags = [
      { id: 2, value: 't1' },
      { id: 2, value: 't2' },
      { id: 4, value: 't3' },
    ];
    const tags = (p: Pipeline) =>
      p.query(
        `SELECT r.id, t.value FROM "${p.datasetName}".things__tags t JOIN "${p.datasetName}".things r ON r._dlt_id = t._dlt_root_id ORDER BY r.id, t._dlt_list_idx`,
      );
    const early = testPipeline({ pipelineName: 'merge_early_nested', batchSize: 2 });
    expect(await mergeRun(early, 'things', initial, pages, true)).toBe(true);
    expect(await rows(early, 'things', 'id', 'id, v')).toEqual(expectedRoots);
    expect(await tags(early)).toEqual(expectedTags);

    const atEnd = testPipeline({ pipelineName: 'merge_at_end_nested', batchSize: 2 });
    await mergeRun(atEnd, 'things', initial, pages, false);
    expect(await rows(atEnd, 'things', 'id', 'id, v')).toEqual(expectedRoots);
    expect(await tags(atEnd)).toEqual(expectedTags);
  });

  it('upsert: updates, inserts and hard deletes batch by batch, the whole-load result', async () => {
    const initial = [1, 2, 3, 4].map((id) => ({ id, v: `a${id}` }));
    const pages = [[{ id: 1, v: 'u1' }, { id: 5, v: 'u5' }], [{ id: 2, deleted: true }, { id: 6, v: 'u6' }], [{ id: 3, v: 'u3', extra: 'e' }]];
    const expected = [
      { id: 1, v: 'u1', extra: null },
      { id: 3, v: 'u3', extra: 'e' },
      { id: 4, v: 'a4', extra: null },
      { id: 5, v: 'u5', extra: null },
      { id: 6, v: 'u6', extra: null },
    ];
    const early = testPipeline({ pipelineName: 'upsert_early', batchSize: 2 });
    expect(await mergeRun(early, 'things', initial, pages, true, 'upsert')).toBe(true);
    expect(await rows(early, 'things', 'id', 'id, v, extra')).toEqual(expected);
    const atEnd = testPipeline({ pipelineName: 'upsert_at_end', batchSize: 2 });
    expect(await mergeRun(atEnd, 'things', initial, pages, false, 'upsert')).toBe(false);
    expect(await rows(atEnd, 'things', 'id', 'id, v, extra')).toEqual(expected);
  });

  it('upsert: a key repeated in a later batch fails the load like the whole-load upsert, nothing changed', async () => {
    const initial = [1, 2].map((id) => ({ id, v: `a${id}` }));
    // the second batch goes straight to the final table, or (with a flagged row) through the scratch table
    const straight = [[{ id: 1, v: 'x' }, { id: 3, v: 'y' }], [{ id: 3, v: 'again' }, { id: 4, v: 'z' }]];
    const scratch = [[{ id: 1, v: 'x' }, { id: 3, v: 'y' }], [{ id: 3, v: 'again' }, { id: 2, deleted: true }]];
    for (const [early, pages, name] of [
      [true, straight, 'upsert_dup_early'],
      [true, scratch, 'upsert_dup_early_scratch'],
      [false, straight, 'upsert_dup_at_end'],
    ] as const) {
      const p = testPipeline({ pipelineName: name, batchSize: 2 });
      const err = await mergeRun(p, 'things', initial, pages, early, 'upsert').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LoadError);
      expect(err).toMatchObject({ table: 'things', sqlState: '21000' });
      expect(await rows(p, 'things', 'id', 'id, v')).toEqual([
        { id: 1, v: 'a1' },
        { id: 2, v: 'a2' },
      ]);
    }
  });

  it('insert-only: existing keys untouched, the first of a repeated key wins, flagged rows skipped', async () => {
    const initial = [1, 2].map((id) => ({ id, v: `a${id}` }));
    const pages = [[{ id: 1, v: 'x' }, { id: 5, v: 'first' }], [{ id: 5, v: 'second' }, { id: 6, v: 'gone', deleted: true }], [{ id: 7, v: 'new' }]];
    const expected = [
      { id: 1, v: 'a1' },
      { id: 2, v: 'a2' },
      { id: 5, v: 'first' },
      { id: 7, v: 'new' },
    ];
    const early = testPipeline({ pipelineName: 'insert_only_early', batchSize: 2 });
    expect(await mergeRun(early, 'things', initial, pages, true, 'insert-only')).toBe(true);
    expect(await rows(early, 'things', 'id', 'id, v')).toEqual(expected);
    const atEnd = testPipeline({ pipelineName: 'insert_only_at_end', batchSize: 2 });
    expect(await mergeRun(atEnd, 'things', initial, pages, false, 'insert-only')).toBe(false);
    expect(await rows(atEnd, 'things', 'id', 'id, v')).toEqual(expected);
  });

  it('two loads merging into one table at once: one after the other, no key twice', async () => {
    const datasetName = `t_early_conc_${Math.random().toString(36).slice(2, 8)}`;
    const a = testPipeline({ pipelineName: 'early_a', datasetName, batchSize: 5 });
    const b = testPipeline({ pipelineName: 'early_b', datasetName, batchSize: 5 });
    const opts = { name: 'shared', writeDisposition: 'merge' as const, primaryKey: 'id' };
    await a.run(resource(() => [{ id: 0, by: 'init' }], opts));
    const pagesOf = (by: string) =>
      resource(async function* () {
        for (let page = 0; page < 6; page++) {
          yield Array.from({ length: 5 }, (_, i) => ({ id: page * 5 + i, by }));
          await new Promise((r) => setTimeout(r, 10));
        }
      }, opts);
    await Promise.all([a.run(pagesOf('a')), b.run(pagesOf('b'))]);
    const all = await rows(a, 'shared', 'id', 'id, by');
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // the load that committed last replaced every row of the other
    expect(new Set(all.map((r) => r.by)).size).toBe(1);
  });
});

// ------------------------------------------------------------------ roots with nested tables

type Load = { pages: Item[][]; hints?: Record<string, unknown> };

/**
 * Runs `loads` one after the other into merge table `things` (primary key `id`, hardDelete
 * `deleted`, unless a load's `hints` say otherwise). `early`: the load writes that table only;
 * otherwise a second (empty) resource rides along. Returns per load whether its table lock was held
 * while its second page was produced, i.e. whether its first batch was merged early (`expectEarly`:
 * how long to wait for it).
 */
async function familyRun(p: Pipeline, loads: Load[], early: boolean, expectEarly = early): Promise<boolean[]> {
  const other = resource(() => [], { name: 'other_table' });
  const locked: boolean[] = [];
  for (const { pages, hints } of loads) {
    const opts = {
      name: 'things',
      writeDisposition: 'merge' as const,
      primaryKey: 'id',
      columns: { deleted: { hardDelete: true, dataType: 'bool' as const } },
      ...hints,
    } as Parameters<typeof resource>[1];
    let held = false;
    const r = resource(async function* () {
      for (let i = 0; i < pages.length; i++) {
        if (i === 1) held = await waitFor(() => tableLockHeld(p.datasetName, 'things'), expectEarly ? 5_000 : 300);
        yield pages[i];
      }
    }, opts);
    await p.run(early ? r : source('src', [r, other]));
    locked.push(held);
  }
  return locked;
}

/**
 * Every row of `things` and its nested tables with every column, comparable across two pipelines:
 * a root's `_dlt_id` becomes its `id`, a nested row's `<its parent's>/<table>[<list idx>]` (and
 * `_dlt_parent_id`, `_dlt_root_id` the same names, "orphan" when the row they name is gone),
 * `_dlt_load_id` the load's number (1 = first load).
 */
async function familyDump(p: Pipeline): Promise<Record<string, Record<string, unknown>[]>> {
  const ds = p.datasetName;
  const tables = await p.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND (table_name = 'things' OR table_name LIKE 'things\\_\\_%') ORDER BY length(table_name), table_name`,
    [ds],
  );
  const loads = (await p.query<{ load_id: string }>(`SELECT load_id FROM "${ds}"._dlt_loads ORDER BY load_id`)).map((r) => r.load_id);
  const names = new Map<unknown, string>();
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const { t } of tables) {
    const rs = await p.query(`SELECT * FROM "${ds}"."${t}"`);
    for (const r of rs) names.set(r._dlt_id, t === 'things' ? String(r.id) : `${names.get(r._dlt_parent_id) ?? 'orphan'}/${t}[${r._dlt_list_idx}]`);
    const name = (id: unknown) => names.get(id) ?? 'orphan';
    out[t] = rs
      .map((r) => ({
        ...r,
        _dlt_id: name(r._dlt_id),
        ...('_dlt_parent_id' in r && { _dlt_parent_id: name(r._dlt_parent_id) }),
        ...('_dlt_root_id' in r && { _dlt_root_id: name(r._dlt_root_id) }),
        ...('_dlt_load_id' in r && { _dlt_load_id: loads.indexOf(r._dlt_load_id as string) + 1 }),
      }))
      .sort((a, b) => (a._dlt_id < b._dlt_id ? -1 : a._dlt_id > b._dlt_id ? 1 : 0));
  }
  return out;
}

/** `<root id>: <values>` of a nested table, in list order, for a readable expectation. */
async function nestedValues(p: Pipeline, table: string, column = 'value'): Promise<string[]> {
  const rs = await p.query<{ id: number; v: string }>(
    `SELECT r.id, n."${column}" AS v FROM "${p.datasetName}"."${table}" n JOIN "${p.datasetName}".things r ON r._dlt_id = n._dlt_root_id ORDER BY r.id, n._dlt_parent_id, n._dlt_list_idx`,
  );
  return rs.map((r) => `${r.id}: ${r.v}`);
}

/** Index definitions on a table of the dataset that cover `_dlt_root_id`. */
async function rootIdIndexes(p: Pipeline, table: string): Promise<string[]> {
  const rs = await p.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, [p.datasetName, table]);
  return rs.map((r) => r.indexdef).filter((d) => d.includes('_dlt_root_id'));
}

/**
 * Runs `loads` early and through the end-of-load merge; both must leave the same rows, and no nested
 * row without its parent unless `orphans`. Returns the early pipeline.
 */
async function bothWays(name: string, loads: Load[], batchSize: number, expectEarly: boolean[], orphans = false): Promise<Pipeline> {
  const early = testPipeline({ pipelineName: `${name}_early`, batchSize });
  expect(await familyRun(early, loads, true, expectEarly.some(Boolean))).toEqual(expectEarly);
  const atEnd = testPipeline({ pipelineName: `${name}_at_end`, batchSize });
  expect(await familyRun(atEnd, loads, false)).toEqual(loads.map(() => false));
  const dump = await familyDump(early);
  if (!orphans) expect(JSON.stringify(dump)).not.toContain('orphan');
  expect(dump).toEqual(await familyDump(atEnd));
  return early;
}

describe('merge: delete-insert roots with nested tables, batch by batch', () => {
  it('list elements removed, keys repeated across and inside batches, a hard delete, tables and columns growing: the whole-load result', async () => {
    const first: Item[][] = [
      [
        { id: 1, v: 'a1', tags: ['t1', 't2'] },
        { id: 2, v: 'a2', tags: ['t3'] },
      ],
      [
        { id: 3, v: 'a3', tags: ['t4'], parts: [{ n: 'p1', subs: ['s1', 's2'] }] },
        { id: 4, v: 'a4', parts: [{ n: 'p2', subs: ['s3'] }, { n: 'p3' }] },
      ],
      // 3 again in a later batch of the first load: it wins, without the parts of the first 3
      [
        { id: 3, v: 'a3x', tags: ['t5', 't6'] },
        { id: 5, v: 'a5', tags: ['t7'] },
        { id: 6, v: 'a6' },
      ],
    ];
    const second: Item[][] = [
      [
        { id: 1, v: 'b1', tags: ['t1'] }, // an element removed
        { id: 7, v: 'b7', tags: ['t8'] },
      ],
      [
        { id: 2, v: 'b2', tags: [] }, // the list emptied
        { id: 1, v: 'b1x', tags: ['t9'], notes: ['n1'] }, // 1 again, a batch later; a new nested table
      ],
      [
        { id: 4, v: 'b4', parts: [{ n: 'p4', subs: ['s4', 's5'] }] }, // two levels replaced
        { id: 8, v: 'b8', extra: 'e8', notes: ['n2', 'n3'] }, // a new root column
      ],
      // a key twice in one batch: staged from here on
      [
        { id: 5, v: 'first', tags: ['x'] },
        { id: 5, v: 'second', tags: ['t10'] },
      ],
      [
        { id: 6, deleted: true },
        { id: 9, v: 'b9', tags: ['t11'] },
      ],
      // replaces 7, written early by this load
      [
        { id: 7, v: 'b7x', tags: ['t12'] },
        { id: 10, v: 'b10' },
      ],
    ];
    const p = await bothWays('nested_early', [{ pages: first }, { pages: second }], 2, [true, true]);
    expect(await rows(p, 'things', 'id', 'id, v, extra')).toEqual([
      { id: 1, v: 'b1x', extra: null },
      { id: 2, v: 'b2', extra: null },
      { id: 3, v: 'a3x', extra: null },
      { id: 4, v: 'b4', extra: null },
      { id: 5, v: 'second', extra: null },
      { id: 7, v: 'b7x', extra: null },
      { id: 8, v: 'b8', extra: 'e8' },
      { id: 9, v: 'b9', extra: null },
      { id: 10, v: 'b10', extra: null },
    ]);
    expect(await nestedValues(p, 'things__tags')).toEqual(['1: t9', '3: t5', '3: t6', '5: t10', '7: t12', '9: t11']);
    expect(await nestedValues(p, 'things__notes')).toEqual(['1: n1', '8: n2', '8: n3']);
    expect(await nestedValues(p, 'things__parts', 'n')).toEqual(['4: p4']);
    expect(await nestedValues(p, 'things__parts__subs')).toEqual(['4: s4', '4: s5']);
  });

  it('the load that fills an empty merge root leaves its nested tables indexed by _dlt_root_id; a merge that finds no index makes it', async () => {
    const first: Item[][] = [
      [
        { id: 1, v: 'a1', tags: ['t1', 't2'] },
        { id: 2, v: 'a2', tags: ['t3'] },
      ],
      [{ id: 3, v: 'a3', tags: ['t4'] }],
    ];
    const early = testPipeline({ pipelineName: 'nested_index', batchSize: 2 });
    expect(await familyRun(early, [{ pages: first }], true)).toEqual([true]);
    expect(await rootIdIndexes(early, 'things__tags')).toHaveLength(1);
    // a nested table tide did not fill (dlt's, say) has no such index: the first delete of its rows makes it
    await early.query(`DROP INDEX "${early.datasetName}"."things__tags__tide_root"`);
    expect(await rootIdIndexes(early, 'things__tags')).toEqual([]);
    const second: Item[][] = [[{ id: 4, v: 'new', tags: ['t5'] }], [{ id: 2, v: 'b2', tags: ['t6', 't7'] }]];
    expect(await familyRun(early, [{ pages: second }], true)).toEqual([true]);
    expect(await rootIdIndexes(early, 'things__tags')).toHaveLength(1);
    expect(await nestedValues(early, 'things__tags')).toEqual(['1: t1', '1: t2', '2: t6', '2: t7', '3: t4', '4: t5']);
  });

  it('a first load out of key order, a key repeated batches later, numeric and text keys: the whole-load result', async () => {
    for (const [name, id] of [
      ['nested_first_num', (n: number) => n],
      ['nested_first_text', (n: number) => `k${n}`],
    ] as const) {
      const pages: Item[][] = [
        [{ id: id(5), v: 'a5', tags: ['t5'] }, { id: id(6), v: 'a6', tags: ['t6'] }],
        [{ id: id(1), v: 'a1', tags: ['t1'] }, { id: id(2), v: 'a2' }],
        // 6 again (between the keys written so far), then 3 (new, also between)
        [{ id: id(6), v: 'b6', tags: ['u6'] }, { id: id(3), v: 'a3', tags: ['t3'] }],
      ];
      const p = await bothWays(name, [{ pages }], 2, [true]);
      expect(await nestedValues(p, 'things__tags')).toEqual([`${id(1)}: t1`, `${id(3)}: t3`, `${id(5)}: t5`, `${id(6)}: u6`].sort());
    }
  });

  it('a hard delete in the first batch: the whole load staged, the whole-load result', async () => {
    const initial: Item[][] = [[1, 2, 3].map((id) => ({ id, v: `a${id}`, tags: [`t${id}`] }))];
    const pages: Item[][] = [
      [{ id: 1, deleted: true }, { id: 4, v: 'b4', tags: ['t4'] }],
      [{ id: 2, v: 'b2', tags: ['u2'] }],
    ];
    const p = await bothWays('nested_flagged', [{ pages: initial }, { pages }], 2, [false, false]);
    expect(await nestedValues(p, 'things__tags')).toEqual(['2: u2', '3: t3', '4: t4']);
  });

  it('dedupSort, a merge key, upsert, insert-only: the end-of-load merge, the same result', async () => {
    const initial: Item[][] = [[1, 2, 3].map((id) => ({ id, v: `a${id}`, seq: 1, tags: [`t${id}`] }))];
    const pages: Item[][] = [
      [{ id: 1, v: 'b1', seq: 3, tags: ['u1'] }, { id: 4, v: 'b4', seq: 1, tags: ['u4'] }],
      [{ id: 1, v: 'c1', seq: 2, tags: ['w1'] }, { id: 2, v: 'b2', seq: 1 }],
    ];
    const variants: [string, Record<string, unknown>][] = [
      ['nested_dedup', { columns: { seq: { dedupSort: 'desc' } } }],
      ['nested_mk', { mergeKey: 'v' }],
      ['nested_upsert', { writeDisposition: { disposition: 'merge', strategy: 'upsert' }, primaryKey: 'id', columns: {} }],
      ['nested_insert_only', { writeDisposition: { disposition: 'merge', strategy: 'insert-only' }, primaryKey: 'id', columns: {} }],
    ];
    for (const [name, hints] of variants) {
      if (name === 'nested_upsert') {
        // upsert refuses a key twice in one load
        pages[1][0] = { id: 3, v: 'c3', seq: 2, tags: ['w3'] };
      }
      await bothWays(name, [{ pages: initial, hints }, { pages, hints }], 2, [false, false]);
    }
  });

  it('a nested table without the root key (first loaded as append): the end-of-load merge, the same result', async () => {
    const initial: Item[][] = [[1, 2].map((id) => ({ id, v: `a${id}`, tags: [`t${id}`] }))];
    const pages: Item[][] = [[{ id: 1, v: 'b1', tags: ['u1'] }, { id: 3, v: 'b3', tags: ['u3'] }], [{ id: 4, v: 'b4' }]];
    const append = { writeDisposition: 'append', primaryKey: undefined, columns: {} };
    // the whole-load merge finds the appended nested rows by `_dlt_root_id`, which they lack: the
    // replaced root 1 leaves its first tag behind, linked to nothing (as it did before the early merge)
    const p = await bothWays('nested_no_root_key', [{ pages: initial, hints: append }, { pages }], 2, [false, false], true);
    expect(await rows(p, 'things', 'id', 'id, v')).toHaveLength(4);
  });
});
