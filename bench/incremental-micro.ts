/**
 * Micro-benchmark: 1M items through Incremental.process() in pages of 1000 with primary-key dedup.
 * Run: node --import tsx bench/incremental-micro.ts
 * Prints items/s and the JSON size of the resulting cursor state for several cursor distributions.
 */
import { incremental, Incremental, type IncrementalOptions } from '../pipeline/incremental/index.ts';

const N = 1_000_000;
const PAGE = 1000;

interface Case {
  name: string;
  row: (i: number) => Record<string, unknown>;
  opts?: IncrementalOptions;
}

const cases: Case[] = [
  { name: 'int cursor, ascending, unique', row: (i) => ({ id: i, updated_at: i, name: 'x' }) },
  { name: 'int cursor, 100 rows per value', row: (i) => ({ id: i, updated_at: Math.floor(i / 100), name: 'x' }) },
  {
    name: 'ISO string cursor (Z), 10 rows per second',
    row: (i) => ({ id: i, updated_at: new Date(1_700_000_000_000 + Math.floor(i / 10) * 1000).toISOString(), name: 'x' }),
  },
  { name: 'all 1M rows at one cursor value (int pk)', row: (i) => ({ id: i, updated_at: 42, name: 'x' }) },
  { name: 'all 1M rows at one cursor value (string pk)', row: (i) => ({ id: `k${i}`, updated_at: 42, name: 'x' }) },
];

function bench(c: Case): void {
  const pages: Record<string, unknown>[][] = [];
  for (let i = 0; i < N; i += PAGE) {
    const p: Record<string, unknown>[] = new Array(PAGE);
    for (let j = 0; j < PAGE; j++) p[j] = c.row(i + j);
    pages.push(p);
  }
  const resourceState: Record<string, unknown> = {};
  const warnings: string[] = [];
  const ctx = { pipelineName: 'bench', sourceName: 'bench', resourceName: 'items', resourceState, warn: (m: string) => warnings.push(m) };
  const def = incremental('updated_at', { primaryKey: 'id', ...c.opts });
  const run = () => {
    const inc = Incremental.bind(def, ctx);
    let kept = 0;
    const t0 = performance.now();
    for (const p of pages) kept += inc.process(p).length;
    const t1 = performance.now();
    const json = JSON.stringify(resourceState); // materialises lazy dedup state (hashing / ranges)
    const t2 = performance.now();
    return { kept, ms: t1 - t0, persistMs: t2 - t1, bytes: json.length };
  };
  const r1 = run();
  const r2 = run(); // same data again: everything must be deduplicated / filtered
  const fmt = (r: typeof r1) =>
    `${String(r.kept).padStart(7)} kept, ${Math.round((N / (r.ms + r.persistMs)) * 1000).toLocaleString('en-US').padStart(11)} items/s ` +
    `(process ${r.ms.toFixed(0)} ms + state serialise ${r.persistMs.toFixed(0)} ms), state ${(r.bytes / 1024).toFixed(1)} KiB`;
  console.log(`${c.name}\n  run 1: ${fmt(r1)}\n  run 2: ${fmt(r2)}${warnings.length ? `\n  warnings: ${warnings.length}` : ''}`);
}

for (const c of cases) bench(c);
