/**
 * Property: random streams loaded incrementally over 2–4 runs on Postgres load every row in range
 * exactly once. Each run the source returns everything it holds so far (old rows again, plus rows that
 * arrived since — some exactly on the previous boundary), sorted ascending, descending or shuffled, in
 * random page sizes; the resource has a primary key (boundary dedup by id, append disposition so a
 * duplicate would show).
 *
 * Reference (dlt semantics, max, closed start): a row is loaded by the first run that sees it iff its
 * cursor ≥ that run's start value (initial value, then the largest cursor loaded so far), and never again.
 * The stored last_value is the largest loaded cursor; unique_hashes hold the ids sitting on it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { incremental, resource } from 'tide';
import type { Pipeline, ResourceContext } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';
import { cursorState, expectedCursor } from '../helpers/incremental-util.ts';


type Item = { id: number; c: number; payload: string };
type Order = 'asc' | 'desc' | 'shuffle';

const runArb = fc.record({
  // rows that arrive before this run; cursor values collide a lot (0..12)
  arrivals: fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 25 }),
  // a late row exactly on the current boundary (max cursor so far), to exercise dedup vs. new ids
  boundaryLate: fc.integer({ min: 0, max: 2 }),
  order: fc.constantFrom<Order>('asc', 'desc', 'shuffle'),
  shuffleKeys: fc.array(fc.integer(), { minLength: 80, maxLength: 80 }),
  pageSizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
});
const caseArb = fc.record({
  initial: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
  runs: fc.array(runArb, { minLength: 2, maxLength: 4 }),
});

function pages<T>(xs: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  for (let i = 0, k = 0; i < xs.length; k++) {
    const n = sizes[k % sizes.length];
    out.push(xs.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('property: incremental with pk over random streams and 2–4 runs', () => {
  it('loads exactly the rows in range, once each; state = max cursor and the ids on it', async () => {
    let caseNo = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ initial, runs }) => {
        caseNo++;
        const held: Item[] = [];
        let nextId = 1;
        let view: Item[][] = [];
        const r = resource(
          function* items(_ctx: ResourceContext) {
            for (const pg of view) yield pg.map((x) => ({ ...x }));
          },
          { primaryKey: 'id', incremental: incremental('c', initial === undefined ? {} : { initialValue: initial }) },
        );
        const p = testPipeline({ pipelineName: 'prop' });
        const expected = new Set<number>();
        let start: number | undefined = initial;
        let maxLoaded: number | undefined;
        try {
          for (const run of runs) {
            const fresh: Item[] = run.arrivals.map((c) => ({ id: nextId++, c, payload: `p${nextId}` }));
            const top = held.reduce<number | undefined>((m, x) => (m === undefined || x.c > m ? x.c : m), undefined);
            if (top !== undefined) for (let i = 0; i < run.boundaryLate; i++) fresh.push({ id: nextId++, c: top, payload: 'late' });
            held.push(...fresh);
            // reference: first sight decides
            for (const x of fresh) if (start === undefined || x.c >= start) expected.add(x.id);
            for (const x of fresh) if (expected.has(x.id)) maxLoaded = maxLoaded === undefined || x.c > maxLoaded ? x.c : maxLoaded;
            if (maxLoaded !== undefined) start = start === undefined || maxLoaded > start ? maxLoaded : start;

            let ordered = [...held];
            if (run.order === 'asc') ordered.sort((a, b) => a.c - b.c || a.id - b.id);
            else if (run.order === 'desc') ordered.sort((a, b) => b.c - a.c || b.id - a.id);
            else ordered = ordered.map((x, i) => [run.shuffleKeys[i % 80] + i / 1000, x] as const).sort((a, b) => a[0] - b[0]).map((e) => e[1]);
            view = pages(ordered, run.pageSizes);
            await p.run(r);
          }
          const got = (await p.query<{ id: number }>(`SELECT id FROM "${p.datasetName}"."items" ORDER BY id`).catch(() => [])).map((x) => x.id);
          const want = [...expected].sort((a, b) => a - b);
          expect(got).toEqual(want); // once each (append: a reload would duplicate)
          const st = cursorState(p, 'prop', 'items', 'c');
          if (want.length === 0) {
            expect(st?.last_value ?? initial ?? null).toEqual(initial ?? null);
          } else {
            const onTop = held.filter((x) => expected.has(x.id) && x.c === maxLoaded).map((x) => x.id);
            expect({ ...st, start_value: undefined }).toEqual({ ...expectedCursor(initial ?? null, maxLoaded, onTop, null), start_value: undefined });
          }
        } finally {
          await p.close().catch(() => undefined);
        }
      }),
      { numRuns: 100, seed: Number(process.env.TIDE_PROP_SEED ?? 20261123) },
    );
    expect(caseNo).toBeGreaterThanOrEqual(100);
  }, 240_000);
});
