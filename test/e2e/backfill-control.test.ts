/**
 * Backfill control (issue 14, item 4) on a real dev server: pause, resume and a new parallelism on a
 * running backfill; cancelling one cancels its running intervals, each of which committed or left
 * nothing. Every interval's run waits at a gate the test opens, so what runs when is the test's.
 */
import { describe, expect, it } from 'vitest';
import { definePipeline, pipeline, postgres, resource, source } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';

/** A gate per interval start: the interval's rows wait for `open(start)`. */
function gated() {
  const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  const gate = (k: string) => {
    let g = gates.get(k);
    if (!g) {
      let open = () => {};
      const promise = new Promise<void>((r) => (open = r));
      gates.set(k, (g = { promise, open }));
    }
    return g;
  };
  const entered: string[] = [];
  const r = resource(
    async function* (ctx) {
      const day = ctx.interval!.start.toISODate()!;
      entered.push(day);
      await gate(day).promise;
      yield [0, 1, 2].map((i) => ({ id: `${day}-${i}`, day, parts: [i, i + 1] }));
    },
    { name: 'events' },
  );
  return { r, entered, open: (day: string) => gate(day).open(), openAll: () => [...gates.values()].forEach((g) => g.open()) };
}

const until = async <T,>(f: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> => {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const v = await f();
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
};

async function perDay(ds: string) {
  const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    const rows = await p.query<{ day: string; n: number }>(`SELECT day, count(*)::int AS n FROM "${ds}"."events" GROUP BY day ORDER BY day`).catch(() => []);
    return Object.fromEntries(rows.map((r) => [r.day, r.n]));
  } finally {
    await p.close();
  }
}

describe('backfill control', () => {
  it('pause stops new intervals, a new parallelism and resume run the rest three at a time', async () => {
    const g = gated();
    const def = definePipeline({ name: `bfc_${Date.now()}`, datasetName: datasetName('bfc'), source: () => source('s', [g.r]) });
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-05-01', to: '2026-05-07', every: 'day', parallel: 1 });
      await until(() => g.entered.length === 1, 'the first interval');
      await client.pauseBackfill(h, true);
      g.open('2026-05-01');
      const paused = await until(async () => {
        const p = await client.backfillProgress(h);
        return p && p.done === 1 && p.running === 0 ? p : undefined;
      }, 'the first interval done');
      expect(paused).toMatchObject({ total: 6, done: 1, running: 0, paused: true, parallel: 1 });
      expect(g.entered).toEqual(['2026-05-01']);
      // attaching to the running backfill with --parallel 3 changes its parallelism
      await client.startBackfill({ pipeline: def.name, from: '2026-05-01', to: '2026-05-07', every: 'day', parallel: 3 });
      await client.pauseBackfill(h, false);
      await until(() => g.entered.length === 4, 'three intervals at once');
      expect(await client.backfillProgress(h)).toMatchObject({ done: 1, running: 3, paused: false, parallel: 3 });
      g.openAll();
      await until(() => g.entered.length === 6 && (g.openAll(), true), 'the last intervals');
      expect(await h.result()).toMatchObject({ total: 6, done: 6, failed: 0, rows: 54 }); // 3 rows + 6 nested rows per interval
    });
    expect(await perDay(def.datasetName!)).toEqual(Object.fromEntries(['01', '02', '03', '04', '05', '06'].map((d) => [`2026-05-${d}`, 3])));
  });

  it('cancelling a backfill cancels its running intervals; each committed or left nothing', async () => {
    const g = gated();
    const def = definePipeline({ name: `bfx_${Date.now()}`, datasetName: datasetName('bfx'), source: () => source('s', [g.r]) });
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-06-01', to: '2026-06-05', every: 'day', parallel: 2 });
      await until(() => g.entered.length === 2, 'two intervals running');
      g.open('2026-06-01');
      await until(async () => (await client.backfillProgress(h))?.done === 1, 'one interval done');
      await h.cancel();
      await expect(h.result()).rejects.toThrow();
      // the running interval's workflow was cancelled with it
      const running = await until(async () => {
        const open: string[] = [];
        for await (const w of client.client.workflow.list({ query: `TidePipeline = '${def.name}' AND WorkflowType = 'pipelineRun' AND ExecutionStatus = 'Running'` })) open.push(w.workflowId);
        return open.length === 0 ? ['none'] : undefined;
      }, 'no running interval');
      expect(running).toEqual(['none']);
      g.openAll();
    });
    const days = await perDay(def.datasetName!);
    // 06-01 committed; the intervals running at the cancel (06-02, and maybe 06-03) each
    // committed all of their rows (their activities were past the point of cancelling) or none;
    // nothing of the intervals never started
    expect([...g.entered.slice(0, 2)].sort()).toEqual(['2026-06-01', '2026-06-02']);
    // 06-03 was started after 06-01 finished; the cancel may reach it before its resource does
    expect(['', '2026-06-03']).toContain(g.entered.slice(2).join(','));
    expect(days['2026-06-01']).toBe(3);
    for (const d of g.entered.slice(1)) expect([undefined, 3]).toContain(days[d]);
    expect(Object.keys(days).filter((d) => !g.entered.includes(d))).toEqual([]);
    expect(g.entered).not.toContain('2026-06-04');
  });
});
