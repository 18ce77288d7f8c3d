/**
 * Alerts beyond failure and success (issue 15, item 2): `retry` once per failed attempt that
 * Temporal retries, `pauseOnFailure: N` pausing the schedule after N failed runs in a row (said in the
 * event and in `tide schedule list`), `recovered` on the first success after failures, and `sla_miss`
 * once for an interval with no committed load `sla` after its end. A local webhook receives them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import { definePipeline, incremental, resource, source } from 'tide';
import { datasetName } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';
import { eventually, startWebhook, type Webhook } from '../helpers/webhook.ts';

let hook: Webhook;

beforeAll(async () => {
  hook = await startWebhook();
});

afterAll(() => hook?.close());

const events = (name: string) => hook.of(name).map((r) => r.body.event);

describe('alerts', () => {
  it('retry: each failed attempt that will be retried is announced once, with its error and attempt', async () => {
    let attempts = 0;
    const flaky = resource(
      function* () {
        attempts++;
        if (attempts === 1) throw new Error('upstream hiccup');
        yield [{ id: 1 }];
      },
      { name: 'flaky' },
    );
    const def = definePipeline({
      name: `al_retry_${Date.now()}`, datasetName: datasetName('al'), source: () => flaky,
      retries: { extract: { maximumAttempts: 3, initialInterval: '1s' } },
      notify: { webhook: `${hook.base}/hook`, on: ['retry', 'success', 'failure'] },
    });
    await withWorker([def], async (client) => {
      const r = await client.runNow(def.name);
      expect(r.attempts).toEqual({ extract: 2 });
    });
    expect(events(def.name)).toEqual(['retry', 'success']);
    const [retry] = hook.of(def.name);
    expect(retry.body).toMatchObject({ event: 'retry', pipeline: def.name, kind: 'manual', attempts: { activity: 'run', attempt: 1, maximumAttempts: 3 } });
    expect(retry.body.error!.message).toContain('upstream hiccup');
    expect(retry.key).toBe(`${retry.body.workflowId}/${retry.body.runId}/retry/run-1`);
  });

  it('pauseOnFailure: 2 failed runs in a row pause the schedule (event and schedule list say so); the next success is `recovered`', async () => {
    let broken = true;
    const items = resource(
      function* () {
        if (broken) throw new Error('source down');
        yield [{ id: 1 }];
      },
      { name: 'items' },
    );
    const def = definePipeline({
      name: `al_pause_${Date.now()}`, datasetName: datasetName('al'), source: () => items,
      schedule: { every: 'day', pauseOnFailure: 2 },
      retries: { extract: { maximumAttempts: 1 } },
      notify: { webhook: `${hook.base}/hook`, on: ['failure', 'recovered', 'success'] },
    });
    await withWorker([def], async (client) => {
      await client.applySchedules([def]);
      await expect(client.runNow(def.name)).rejects.toBeInstanceOf(WorkflowFailedError);
      expect((await client.listSchedules()).find((s) => s.pipeline === def.name)).toMatchObject({ paused: false });
      await expect(client.runNow(def.name)).rejects.toBeInstanceOf(WorkflowFailedError);
      const [first, second] = hook.of(def.name).map((r) => r.body);
      expect(first).toMatchObject({ event: 'failure', consecutiveFailures: 1 });
      expect(first.schedulePaused).toBeUndefined();
      expect(second).toMatchObject({ event: 'failure', consecutiveFailures: 2, schedulePaused: true });
      const listed = (await client.listSchedules()).find((s) => s.pipeline === def.name)!;
      expect(listed.paused).toBe(true);
      expect(listed.note).toBe(`paused by tide: 2 failed runs in a row (pauseOnFailure: 2); the last: ${second.workflowId}`);

      broken = false;
      const ok = await client.runNow(def.name);
      expect(events(def.name)).toEqual(['failure', 'failure', 'recovered', 'success']);
      const [, , recovered, success] = hook.of(def.name).map((r) => r.body);
      expect(recovered).toMatchObject({ event: 'recovered', consecutiveFailures: 2, loadId: ok.loadId, tables: { items: { rows: 1 } } });
      expect(success.consecutiveFailures).toBeUndefined();
      // a second success is not a recovery
      await client.runNow(def.name);
      expect(events(def.name)).toEqual(['failure', 'failure', 'recovered', 'success', 'success']);
      await client.deleteSchedule(def.name);
    });
  });

  it('sla_miss: a scheduled interval not loaded `sla` after its end is announced once; one loaded in time is not', async () => {
    const slow = resource(
      async function* (ctx) {
        // the SLA watch checks while this run is still extracting
        await new Promise((r) => setTimeout(r, 3000));
        yield [{ id: 1, at: ctx.incremental!.startValue }];
      },
      { name: 'slow', incremental: incremental('at', { initialValue: '2026-01-01T00:00:00.000Z', allowExternalSchedulers: true }) },
    );
    const def = definePipeline({
      name: `al_sla_${Date.now()}`, datasetName: datasetName('al'), source: () => source('s', [slow]),
      schedule: { every: 'day' }, sla: '1h',
      notify: { webhook: `${hook.base}/hook`, on: ['sla_miss'] },
    });
    await withWorker([def], async (client) => {
      await client.applySchedules([def], { paused: true });
      await client.client.schedule.getHandle(`tide/${def.name}`).backfill({ start: new Date('2026-01-04T12:00:00Z'), end: new Date('2026-01-05T12:00:00Z'), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      const interval = { start: '2026-01-04T00:00:00Z', end: '2026-01-05T00:00:00Z' };
      const watchId = `tide/${def.name}/sla/${interval.start}/${interval.end}`;
      const watch = client.client.workflow.getHandle(watchId);
      await eventually(() => watch.describe().then(() => true, () => false), (x) => x);
      expect(await watch.result()).toEqual({ missed: true, due: '2026-01-05T01:00:00.000Z' });
      const got = await eventually(() => hook.of(def.name), (x) => x.length >= 1);
      expect(got.map((r) => r.body)).toEqual([
        { event: 'sla_miss', pipeline: def.name, kind: 'scheduled', interval, sla: { within: '1h', due: '2026-01-05T01:00:00.000Z' }, workflowId: watchId, runId: got[0].body.runId, url: got[0].body.url },
      ]);
      // the interval's run finishes; one watch ran for it
      await eventually(() => client.runs(def.name), (runs) => runs.some((x) => x.status === 'COMPLETED'));
      const watches = [];
      for await (const w of client.client.workflow.list({ query: `WorkflowId = '${watchId}'` })) watches.push(w.status.name);
      expect(watches).toEqual(['COMPLETED']);

      // a loaded interval whose SLA ends a few seconds from now: the watch waits, finds it loaded, says nothing
      const now = Date.now();
      const end = new Date(now - 3_600_000 + 4000).toISOString();
      const start = new Date(now - 2 * 86_400_000).toISOString();
      await client.runNow(def.name, { start, end });
      const h = await client.client.workflow.start('slaWatch', { taskQueue: client.taskQueue, workflowId: `${watchId}-in-time`, args: [{ pipeline: def.name, interval: { start, end }, sla: '1h' }] });
      expect(await h.result()).toEqual({ missed: false, due: new Date(Date.parse(end) + 3_600_000).toISOString() });
      expect(hook.of(def.name)).toHaveLength(1);
      await client.deleteSchedule(def.name);
    });
  });

  it('schema_change: a run that adds a table or a column is announced with what it added; one that adds nothing is not', async () => {
    let run = 0;
    const items = resource(
      function* () {
        run++;
        yield run === 1 ? [{ id: 1 }] : [{ id: run, color: 'red' }];
      },
      { name: 'items' },
    );
    const def = definePipeline({ name: `al_schema_${Date.now()}`, datasetName: datasetName('al'), source: () => items, notify: { webhook: `${hook.base}/hook`, on: ['schema_change'] } });
    await withWorker([def], async (client) => {
      const first = await client.runNow(def.name);
      const second = await client.runNow(def.name);
      await client.runNow(def.name);
      const got = hook.of(def.name).map((r) => r.body);
      expect(got.map((e) => [e.event, e.loadId])).toEqual([['schema_change', first.loadId], ['schema_change', second.loadId]]);
      expect(got[0].schemaChanges!.tables).toContain('items');
      expect(got[1]).toMatchObject({ tables: { items: { rows: 1 } }, schemaChanges: { tables: [], columns: [{ table: 'items', column: 'color', dataType: 'text' }], variants: [] } });
    });
  });

  it('bad alert settings are ConfigurationErrors when the pipeline is defined', () => {
    const base = { name: 'x', source: () => [] };
    expect(() => definePipeline({ ...base, schedule: { every: 'day', pauseOnFailure: 0 } })).toThrow(/pauseOnFailure must be a whole number ≥ 1/);
    expect(() => definePipeline({ ...base, schedule: { every: 'day' }, sla: 'soon' })).toThrow(/sla must be a duration/);
    expect(() => definePipeline({ ...base, sla: '2h' })).toThrow(/the pipeline needs a schedule/);
    expect(() => definePipeline({ ...base, notify: { webhook: 'http://x', on: ['sla_missed' as 'sla_miss'] } })).toThrow(/not "sla_missed"/);
  });
});
