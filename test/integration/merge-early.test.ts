/**
 * delete-insert batches merged while the load runs (destinations/postgres/early-merge.ts): a
 * load that writes one root table without nested tables deletes and inserts batch by batch instead
 * of after the last batch. The result must be the whole-load merge's, exactly: each scenario runs
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

  it('a nested table appearing mid-load: batches before it merged early, the rest at the end, nothing lost', async () => {
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
