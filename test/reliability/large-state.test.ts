/**
 * Reliability (issue 7, part 5): a source state of 100k keys round-trips through Postgres, and a
 * 2-year daily backfill (730 intervals) completes without hitting Temporal's history limits: the
 * backfill continues-as-new (its run chain is followed through the histories).
 */
import { describe, expect, it } from 'vitest';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { definePipeline, pipeline, postgres, resource, source } from 'tide';
import { datasetName, pgUrl, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { storedStates } from '../helpers/state-db.ts';
import { withWorker } from '../helpers/temporal.ts';

const KEYS = 100_000;

describe('reliability: large state and long backfills', () => {
  it(`a source state of ${KEYS} keys round-trips through Postgres exactly`, { timeout: 120_000 }, async () => {
    const ds = datasetName('big');
    const p = testPipeline({ pipelineName: 'big_state', datasetName: ds });
    const expected: Record<string, unknown> = {};
    for (let k = 0; k < KEYS; k++) expected[`key_${k}`] = k % 3 === 0 ? { at: `2026-01-01T00:00:${String(k % 60).padStart(2, '0')}Z`, n: k } : k % 3 === 1 ? `v${k}` : k;
    const r = resource(
      function* (ctx) {
        Object.assign(ctx.sourceState, { keys: expected });
        yield [{ id: 1 }];
      },
      { name: 'items' },
    );
    try {
      const t0 = Date.now();
      await p.run(source('bigsrc', [r]));
      const t1 = Date.now();
      // a fresh machine: empty working folder, state restored from Postgres
      const fresh = pipeline({ pipelineName: 'big_state', destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
      try {
        const st = await fresh.syncFromDestination('bigsrc');
        const t2 = Date.now();
        expect((st.sources?.bigsrc as any)?.keys).toEqual(expected);
        const raw = await p.query<{ bytes: number }>(`SELECT length(state)::int AS bytes FROM "${ds}"."_dlt_pipeline_state" ORDER BY version DESC LIMIT 1`);
        expect((await storedStates(p)).at(-1)!.state).toMatchObject({ sources: { bigsrc: { keys: expected } } });
        console.log(`reliability: state of ${KEYS} keys: run ${((t1 - t0) / 1000).toFixed(1)} s, restore ${((t2 - t1) / 1000).toFixed(1)} s, stored row ${raw[0].bytes} bytes`);
      } finally {
        await fresh.close();
      }
    } finally {
      await p.close();
    }
  });

  it('a 2-year daily backfill (730 intervals) completes and continues-as-new', { timeout: 600_000 }, async () => {
    const PARALLEL = Number(process.env.RELIABILITY_BACKFILL_PARALLEL ?? 8);
    // tiny source: one row on the first day of each month, nothing on the other days
    const monthly = resource(
      function* (ctx) {
        const s = ctx.interval!.start;
        if (s.day === 1) yield [{ id: s.toFormat('yyyyLL'), month: s.toISODate() }];
      },
      { name: 'monthly', writeDisposition: 'merge', primaryKey: 'id' },
    );
    const def = definePipeline({ name: `long_bf_${Date.now()}`, datasetName: datasetName('lbf'), source: () => source('long', [monthly]) });
    await withWorker([def], async (client) => {
      const t0 = Date.now();
      const h = await client.startBackfill({ pipeline: def.name, from: '2024-01-01', to: '2025-12-31', every: 'day', parallel: PARALLEL });
      const progress = await h.result();
      const ms = Date.now() - t0;
      expect(progress).toMatchObject({ total: 730, done: 730, failed: 0, rows: 24 });
      // follow the run chain: every run but the last continued as new, each history well under the limits
      const runs: { events: number; status: string }[] = [];
      let runId: string | undefined = (h as WorkflowHandleWithFirstExecutionRunId).firstExecutionRunId;
      while (runId) {
        const handle: WorkflowHandle = client.client.workflow.getHandle(h.workflowId, runId);
        const history: temporal.api.history.v1.IHistory = await handle.fetchHistory();
        const events: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
        const can: temporal.api.history.v1.IWorkflowExecutionContinuedAsNewEventAttributes | null | undefined = events.find(
          (e) => e.workflowExecutionContinuedAsNewEventAttributes,
        )?.workflowExecutionContinuedAsNewEventAttributes;
        runs.push({ events: events.length, status: can ? 'continued-as-new' : 'completed' });
        runId = can?.newExecutionRunId ?? undefined;
      }
      expect(runs.length).toBeGreaterThan(1);
      expect(runs.slice(0, -1).every((r) => r.status === 'continued-as-new')).toBe(true);
      expect(Math.max(...runs.map((r) => r.events))).toBeLessThan(10_240); // below the server's warning level
      const reader = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
      try {
        const rows = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${def.datasetName}"."monthly"`);
        expect(rows[0].n).toBe(24);
        const loads = await reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${def.datasetName}"."_dlt_loads"`);
        expect(loads[0].n).toBe(24); // empty intervals load nothing
      } finally {
        await reader.close();
      }
      console.log(
        `reliability: 730-interval daily backfill (parallel ${PARALLEL}) done in ${(ms / 1000).toFixed(1)} s (${(ms / 730).toFixed(0)} ms/interval); ` +
          `${runs.length} runs, history events per run: ${runs.map((r) => r.events).join(', ')}`,
      );
    });
  });
});
