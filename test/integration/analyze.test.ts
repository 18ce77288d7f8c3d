/**
 * Planner statistics after a load that grew a table: without them the next merge's batch deletes
 * scan the whole table (destinations/postgres/load.ts, `analyzeGrown`).
 */
import { describe, expect, it } from 'vitest';
import { testPipeline } from '../helpers/pipelines.ts';

const items = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i, tags: ['a'] }));

describe('statistics of grown tables', () => {
  it('a load of ≥ 10k rows amounting to a tenth of a table analyzes it in the load; a smaller one does not', async () => {
    const p = testPipeline({ pipelineName: 'analyze' });
    const stats = async () =>
      p.query<{ t: string; analyzed: number; tuples: number }>(
        `SELECT c.relname AS t, s.analyze_count::int AS analyzed, c.reltuples::int AS tuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE n.nspname = $1 AND c.relname IN ('items', 'items__tags') ORDER BY 1`,
        [p.datasetName],
      );
    const run = (from: number, n: number) => p.run(items(from, n), { tableName: 'items', writeDisposition: 'merge', primaryKey: 'id' });
    await run(0, 20_000);
    expect(await stats()).toEqual([
      { t: 'items', analyzed: 1, tuples: 20_000 },
      { t: 'items__tags', analyzed: 1, tuples: 20_000 },
    ]);
    await run(20_000, 500); // too small
    await run(0, 10_000); // ≥ 10k rows replacing half the table: more than a tenth of it written
    expect((await stats()).map((s) => s.analyzed)).toEqual([2, 2]);
    await run(30_000, 1_000); // under 10k rows
    expect((await stats()).map((s) => s.analyzed)).toEqual([2, 2]);
  });
});
