/**
 * Decomposed runs on a real Temporal dev server (issue 13, items 3 and 5): one extract activity per
 * component, one load activity committing every component's data, the merged state and one
 * `_dlt_loads` row; `all_done` lets the other components load when one fails; a checkpointed
 * extract that fails goes on from its last checkpoint on the next attempt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { definePipeline, incremental, pipeline, postgres, resource, source, transformer, type PipelineDefinition } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { recordHistory, withWorker } from '../helpers/temporal.ts';

const ORDERS = Array.from({ length: 30 }, (_, i) => ({
  id: i + 1,
  updated_at: `2026-01-${String(1 + (i % 28)).padStart(2, '0')}T00:00:00Z`,
  lines: [{ sku: `a${i}` }, { sku: `b${i}` }],
}));

/**
 * orders (+ the order_notes transformer: one component) and customers; `broken` fails when asked.
 * With `gate`, orders' second page waits (up to 5 s) for customers to have started.
 */
function shop(opts: { broken?: boolean; log?: string[]; gate?: { started: Promise<void>; start: () => void } } = {}) {
  const orders = resource(
    async function* (ctx) {
      const from = String(ctx.incremental!.startValue);
      for (let i = 0; i < ORDERS.length; i += 10) {
        opts.log?.push(`orders ${i}`);
        if (i === 10 && opts.gate) await Promise.race([opts.gate.started, sleep(5000)]);
        await sleep(5);
        yield ORDERS.slice(i, i + 10).filter((o) => o.updated_at >= from);
      }
    },
    { name: 'orders', writeDisposition: 'merge', primaryKey: 'id', incremental: incremental('updated_at', { initialValue: '2026-01-01T00:00:00Z' }) },
  );
  const notes = transformer(
    function* (_ctx, o: (typeof ORDERS)[number]) {
      yield { order_id: o.id, note: `note ${o.id}` };
    },
    { name: 'order_notes', dataFrom: orders },
  );
  const customers = resource(
    async function* (ctx) {
      opts.log?.push('customers');
      opts.gate?.start();
      ctx.state.calls = ((ctx.state.calls as number) ?? 0) + 1;
      yield [{ id: 'c1' }, { id: 'c2' }];
    },
    { name: 'customers', writeDisposition: 'replace' },
  );
  const broken = resource(
    function* () {
      // no cursor field: IncrementalCursorPathMissing, not retryable
      yield [{ id: 1 }];
    },
    { name: 'broken', incremental: incremental('updated_at') },
  );
  return source('shop', opts.broken ? [orders, notes, customers, broken] : [orders, notes, customers]);
}

async function read(d: PipelineDefinition) {
  const ds = d.datasetName!;
  const p = pipeline({ pipelineName: d.name, destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    const q = <T,>(sql: string) => p.query<T>(sql);
    const exists = async (t: string) => (await q<{ r: string | null }>(`SELECT to_regclass('"${ds}"."${t}"')::text AS r`))[0].r !== null;
    const count = async (t: string) => ((await exists(t)) ? (await q<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"."${t}"`))[0].n : null);
    return {
      orders: await count('orders'),
      lines: await count('orders__lines'),
      notes: await count('order_notes'),
      customers: await count('customers'),
      loads: await q<{ load_id: string; tide_rows: number; tide_failed_components: string | null }>(`SELECT load_id, tide_rows, tide_failed_components FROM "${ds}"."_dlt_loads"`),
      stateRows: (await q<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"."_dlt_pipeline_state"`))[0].n,
      staged: (await q<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${ds}_staging' AND table_name NOT IN ('_tide_packages', '_tide_run_log')`))[0].n,
      packages: (await q<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}_staging"."_tide_packages"`))[0].n,
      state: (await p.syncFromDestination('shop')).sources as any,
    };
  } finally {
    await p.close();
  }
}

function def(name: string, extra: Partial<PipelineDefinition>, src = () => shop()): PipelineDefinition {
  return definePipeline({ name: `${name}_${Date.now()}`, datasetName: datasetName('dec'), source: src, ...extra });
}

describe('decomposed runs', () => {
  it("'serialize' extracts each component in its own activity and commits them in one load", async () => {
    const d = def('ser', { decompose: 'serialize' });
    await withWorker([d], async (client) => {
      const res = await client.runNow(d.name);
      expect(res.attempts).toEqual({ extract: 1, load: 1, components: { orders: 1, customers: 1 } });
      expect(res.tables).toEqual({ orders: { rows: 30 }, orders__lines: { rows: 60 }, order_notes: { rows: 30 }, customers: { rows: 2 } });
      // the extract activities are named after their components in the Web UI
      const [run] = await client.runs(d.name, 1);
      const history = await client.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
      const names = scheduled.map((e) => {
        const summary = e.userMetadata?.summary?.data;
        return `${e.activityTaskScheduledEventAttributes!.activityType!.name}${summary ? ` ${JSON.parse(Buffer.from(summary).toString())}` : ''}`;
      });
      expect(names).toEqual(['planRun', 'extract extract orders', 'extract extract customers', 'load']);
      await recordHistory(client, run.workflowId, 'pipelineRun-decomposed');
    });
    const r = await read(d);
    expect(r).toMatchObject({ orders: 30, lines: 60, notes: 30, customers: 2, stateRows: 1, staged: 0, packages: 0 });
    expect(r.loads).toHaveLength(1);
    expect(r.loads[0]).toMatchObject({ tide_rows: 122, tide_failed_components: null });
    expect(r.state.shop.resources.orders.incremental.updated_at.last_value).toBe('2026-01-28T00:00:00Z');
    expect(r.state.shop.resources.customers).toEqual({ calls: 1 });
  });

  it("'parallel' interleaves the components' extracts and gives the rows and state of a 'none' run", async () => {
    const log: string[] = [];
    let start = () => {};
    const gate = { started: new Promise<void>((r) => (start = r)), start: () => start() };
    const par = def('par', { decompose: 'parallel', maxParallel: 2 }, () => shop({ log, gate }));
    const none = def('none', {}, () => shop());
    await withWorker([par, none], async (client) => {
      await client.runNow(par.name);
      await client.runNow(none.name);
    });
    // both components' activities ran at once: customers started before orders' last page (one after
    // the other, orders would have gone on at its second page after the gate's 5 s and finished first)
    expect(log.indexOf('customers')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('customers')).toBeLessThan(log.indexOf('orders 20'));
    const a = await read(par);
    const b = await read(none);
    for (const k of ['orders', 'lines', 'notes', 'customers', 'stateRows'] as const) expect(a[k]).toBe(b[k]);
    expect(a.state).toEqual(b.state);
    expect(a.state.shop.resources.orders.incremental.updated_at.last_value).toBe('2026-01-28T00:00:00Z');
    expect(a.loads).toHaveLength(1);
  });

  it("'all_done': a failed component does not stop the others; its state stays, the run fails naming it", async () => {
    const d = def('done', { decompose: 'serialize', triggerRule: 'all_done' }, () => shop({ broken: true }));
    await withWorker([d], async (client) => {
      const err = await client.runNow(d.name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause.type).toBe('ComponentsFailed');
      expect(cause.message).toMatch(/1 of 3 components failed \(broken: /);
      expect((cause.details?.[0] as any).failed).toEqual([{ component: 'broken', error: expect.stringMatching(/updated_at/) }]);
      const [row] = await client.runs(d.name, 1);
      expect(row.status).toBe('FAILED');
      expect(row.failed).toEqual(['broken']);
    });
    const r = await read(d);
    expect(r).toMatchObject({ orders: 30, lines: 60, notes: 30, customers: 2, stateRows: 1, staged: 0, packages: 0 });
    expect(r.loads).toEqual([expect.objectContaining({ tide_rows: 122, tide_failed_components: 'broken' })]);
    expect(r.state.shop.resources.broken).toBeUndefined();
    expect(r.state.shop.resources.orders.incremental.updated_at.last_value).toBe('2026-01-28T00:00:00Z');
  });

  it("'all_success': a failed component fails the run, nothing loads and the staged packages are dropped", async () => {
    const d = def('succ', { decompose: 'serialize' }, () => shop({ broken: true }));
    await withWorker([d], async (client) => {
      const err = await client.runNow(d.name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause as ActivityFailure;
      expect(activity).toBeInstanceOf(ActivityFailure);
      expect(activity.activityType).toBe('extract');
      expect(activity.cause).toMatchObject({ type: 'IncrementalCursorPathMissing' });
    });
    const r = await read(d);
    expect(r).toMatchObject({ orders: null, customers: null, stateRows: 0, staged: 0, packages: 0 });
    expect(r.loads).toEqual([]);
  });

  it('a checkpointed extract that fails goes on from its last checkpoint: exact rows and state, few pages twice', async () => {
    const served: number[] = [];
    let attempt = 0;
    const pages = resource(
      async function* (ctx) {
        attempt++;
        const from = ctx.resumeFrom === undefined ? 0 : (ctx.resumeFrom as number) + 1;
        for (let page = from; page < 10; page++) {
          served.push(page);
          yield Array.from({ length: 100 }, (_, i) => ({ id: page * 100 + i, at: `2026-02-01T00:${String(page).padStart(2, '0')}:00Z` }));
          // the first attempt dies after page 6 went out, before its checkpoint
          if (attempt === 1 && page === 6) throw new Error('connection reset');
          await ctx.checkpoint(page);
        }
      },
      { name: 'pages', primaryKey: 'id', incremental: incremental('at') },
    );
    const d = def('resume', { decompose: 'serialize' }, () => source('shop', [pages]));
    await withWorker([d], async (client) => {
      const res = await client.runNow(d.name);
      expect(res.attempts.components).toEqual({ pages: 2 });
      expect(res.tables).toEqual({ pages: { rows: 1000 } });
    });
    // pages 0-5 kept by their checkpoints; page 6 served again; nothing else twice
    expect(served).toEqual([0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9]);
    const p = pipeline({ pipelineName: d.name, destination: postgres(pgUrl()), datasetName: d.datasetName!, pipelinesDir: tempDir() });
    try {
      expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id)::int AS lo, max(id)::int AS hi FROM "${d.datasetName}"."pages"`)).toEqual([
        { n: 1000, d: 1000, lo: 0, hi: 999 },
      ]);
      const state = (await p.syncFromDestination('shop')).sources as any;
      expect(state.shop.resources.pages.incremental.at.last_value).toBe('2026-02-01T00:09:00Z');
      expect(await p.query(`SELECT count(*)::int AS n FROM "${d.datasetName}_staging"."_tide_packages"`)).toEqual([{ n: 0 }]);
    } finally {
      await p.close();
    }
  });
});
