/**
 * Reliability (issue 7, part 4): boundary dedup under pressure. 1M rows share ONE cursor value; the
 * second run sees them all again (plus 10 new rows on the same value): the 1M load once, the 10 new
 * ones load, and the stored state row stays small (integer keys compact to ranges).
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';
import { storedStates } from '../helpers/state-db.ts';

const N = Number(process.env.RELIABILITY_BOUNDARY_ROWS ?? 1_000_000);
const AT = '2026-01-01T00:00:00Z';

describe('reliability: boundary dedup under pressure', () => {
  it(`${N} rows on one cursor value load once across two runs; the state row stays small`, { timeout: 300_000 }, async () => {
    const p = testPipeline({ pipelineName: 'boundary', batchSize: 50_000 });
    try {
      let extra = 0;
      const rows = resource(
        function* () {
          const total = N + extra;
          for (let i = 0; i < total; i += 10_000) {
            const page = [];
            for (let id = i + 1; id <= Math.min(total, i + 10_000); id++) page.push({ id, updated_at: AT, v: id % 97 });
            yield page;
          }
        },
        { name: 'rows', writeDisposition: 'append', primaryKey: 'id', incremental: incremental('updated_at', { initialValue: '2025-01-01T00:00:00Z' }) },
      );
      const t0 = Date.now();
      const r1 = await p.run(rows);
      const t1 = Date.now();
      expect(r1.tables.rows.rows).toBe(N);
      extra = 10;
      const r2 = await p.run(rows);
      const t2 = Date.now();
      expect(r2.tables.rows?.rows ?? 0).toBe(10);
      const counts = await p.query<{ n: number; d: number; mx: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, max(id)::int AS mx FROM "${p.datasetName}"."rows"`);
      expect(counts[0]).toEqual({ n: N + 10, d: N + 10, mx: N + 10 });
      const raw = await p.query<{ bytes: number }>(`SELECT length(state)::int AS bytes FROM "${p.datasetName}"."_dlt_pipeline_state" ORDER BY version DESC LIMIT 1`);
      const stored = (await storedStates(p)).at(-1)!;
      const json = JSON.stringify(stored.state).length;
      const inc = (stored.state as any).sources.boundary.resources.rows.incremental.updated_at;
      expect(inc.last_value).toBe(AT);
      console.log(
        `reliability: ${N} rows on one cursor value: run 1 loaded ${r1.tables.rows.rows} (${((t1 - t0) / 1000).toFixed(1)} s), run 2 loaded ${r2.tables.rows?.rows ?? 0} of ${N + 10} (${((t2 - t1) / 1000).toFixed(1)} s); ` +
          `stored state row ${raw[0].bytes} bytes (decoded JSON ${json} bytes), boundary: ${JSON.stringify({ unique_key_ranges: inc.unique_key_ranges, unique_hashes: inc.unique_hashes?.length })}`,
      );
      expect(raw[0].bytes).toBeLessThan(4096);
    } finally {
      await p.close();
    }
  });
});
