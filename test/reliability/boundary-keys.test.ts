/**
 * Reliability (issue 16, item 4): boundary dedup with keys that do not compact into ranges. 1M rows
 * share ONE cursor value, keyed by strings and by sparse integers (random gaps); the second run sees
 * them all again plus 10 new rows on the same value: the 1M load once, the 10 new ones load.
 *
 * The state size is printed and bounded by what an exact set of these keys needs, not by 1 MB: an
 * exact membership set over n arbitrary keys cannot be smaller than about n·log2(U/n) bits
 * (pipeline/incremental/boundary.ts says why tide keeps it exact), so 1M string keys keep one 12-char
 * hash each (~9 MB stored) and 1M sparse integers one range each. Under 1 MB needs an integer key with
 * consecutive values (test/reliability/boundary.test.ts) or a higher-resolution cursor.
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';
import { storedStates } from '../helpers/state-db.ts';

const N = Number(process.env.RELIABILITY_BOUNDARY_ROWS ?? 1_000_000);
const AT = '2026-01-01T00:00:00Z';
const PAGE = 10_000;

/** Deterministic gaps in [2, 1001] (a small LCG), so the sparse ids are the same in both runs. */
function sparseIds(n: number): number[] {
  const ids: number[] = [];
  let seed = 16;
  let id = 0;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    id += 2 + (seed % 1000);
    ids.push(id);
  }
  return ids;
}

const KINDS = {
  string: (n: number) => Array.from({ length: n }, (_, i) => `k-${(i * 2654435761) % 2 ** 32}-${i}`),
  sparse: sparseIds,
} satisfies Record<string, (n: number) => (string | number)[]>;

describe('reliability: boundary dedup with string and sparse integer keys', () => {
  for (const [kind, keysOf] of Object.entries(KINDS)) {
    it(`${N} rows with ${kind} keys on one cursor value load once across two runs`, { timeout: 600_000 }, async () => {
      const all = keysOf(N + 10);
      const p = testPipeline({ pipelineName: `boundary_${kind}`, batchSize: 50_000 });
      let total = N;
      const rows = resource(
        function* () {
          for (let i = 0; i < total; i += PAGE) yield all.slice(i, Math.min(total, i + PAGE)).map((id, j) => ({ id, updated_at: AT, v: (i + j) % 97 }));
        },
        { name: 'rows', writeDisposition: 'append', primaryKey: 'id', incremental: incremental('updated_at', { initialValue: '2025-01-01T00:00:00Z' }) },
      );
      const t0 = Date.now();
      const r1 = await p.run(rows);
      const t1 = Date.now();
      expect(r1.tables.rows.rows).toBe(N);
      total = N + 10;
      const r2 = await p.run(rows);
      const t2 = Date.now();
      expect(r2.tables.rows?.rows ?? 0).toBe(10);

      // every key exactly once, and exactly the keys of the source
      const ds = p.datasetName;
      const counts = await p.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${ds}"."rows"`);
      expect(counts[0]).toEqual({ n: N + 10, d: N + 10 });
      const missing = await p.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM unnest($1::text[]) AS k(id) WHERE NOT EXISTS (SELECT 1 FROM "${ds}"."rows" r WHERE r.id::text = k.id)`,
        [all.map(String)],
      );
      expect(missing[0].n).toBe(0);
      // the second run's load holds exactly the 10 new keys
      const second = await p.query<{ id: string }>(`SELECT id::text AS id FROM "${ds}"."rows" WHERE _dlt_load_id = (SELECT max(load_id) FROM "${ds}"."_dlt_loads") ORDER BY id`);
      expect(second.map((r) => r.id)).toEqual(all.slice(N).map(String).sort());

      const raw = await p.query<{ bytes: number }>(`SELECT length(state)::int AS bytes FROM "${ds}"."_dlt_pipeline_state" ORDER BY version DESC LIMIT 1`);
      const stored = (await storedStates(p)).at(-1)!;
      const inc = (stored.state as any).sources[`boundary_${kind}`].resources.rows.incremental.updated_at;
      expect(inc.last_value).toBe(AT);
      const hashes: number = inc.unique_hashes?.length ?? 0;
      const ranges: number = inc.unique_key_ranges?.length ?? 0;
      // the boundary holds every key exactly once, in one of the two forms
      if (kind === 'string') expect([hashes, ranges]).toEqual([N + 10, 0]);
      else expect(hashes + ranges).toBe(N + 10);
      const bytes = raw[0].bytes;
      console.log(
        `reliability: ${N} rows with ${kind} keys on one cursor value: run 1 loaded ${r1.tables.rows.rows} (${((t1 - t0) / 1000).toFixed(1)} s), ` +
          `run 2 loaded ${r2.tables.rows?.rows ?? 0} of ${N + 10} (${((t2 - t1) / 1000).toFixed(1)} s); stored state row ${bytes} bytes ` +
          `(${(bytes / 1_048_576).toFixed(2)} MB, ${(bytes / (N + 10)).toFixed(1)} bytes/key; decoded JSON ${JSON.stringify(stored.state).length} bytes), ` +
          `boundary: ${hashes} hashes, ${ranges} ranges`,
      );
      // exact sets cost bytes per key, at most what base64(zlib(JSON)) of one 12-char hash costs (~14 bytes/key); a sparse range less
      expect(bytes / (N + 10)).toBeLessThan(kind === 'string' ? 15 : 8);
    });
  }
});
