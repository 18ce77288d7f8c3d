/**
 * Run priorities (issue 15, item 4): with extracts backlogged on a task queue, a manual run's
 * (priority key 1) is served before those of backfill intervals (key 3) started earlier. The
 * pipeline's pool queue holds the extracts: a first worker runs the workflows (no worker polls the
 * pool's queue) until all four runs wait for their extract; then a pool worker that runs one extract
 * at a time drains the backlog.
 */
import { describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { definePipeline, postgres, resource } from 'tide';
import { NativeConnection, Worker } from '@temporalio/worker';
import { registerSearchAttributes, workflowBundle } from '../../worker/index.ts';
import { createActivities } from '../../activities/index.ts';
import { TideClient } from '../../client/temporal.ts';
import { intervalWorkflowId, poolTaskQueue, RUN_PRIORITY } from '../../temporal/ids.ts';
import { datasetName, pgUrl } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';

// among equal priorities the backlog is served in no fixed order: with six intervals ahead, a manual
// run without its priority comes first only one time in seven
const DAYS = ['01', '02', '03', '04', '05', '06'];

/** The run's extract activity is scheduled (and not started: no worker polls the pool's queue yet). */
async function waitsForExtract(h: WorkflowHandle): Promise<boolean> {
  return (await h.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'run') ?? false;
}

function list(client: TideClient, pipeline: string): WorkflowHandle[] {
  const out = [];
  for (const day of DAYS) out.push(client.client.workflow.getHandle(intervalWorkflowId(pipeline, { start: `2026-01-${day}T00:00:00Z`, end: `2026-01-${day}T12:00:00Z` })));
  return out;
}

describe('run priorities', () => {
  it('a manual run queued after six backfill intervals is served first', async () => {
    const served: string[] = [];
    const items = resource(
      function* (ctx) {
        served.push(ctx.interval ? `backfill ${ctx.interval.start.toISODate()}` : 'manual');
        yield [{ id: 1 }];
      },
      { name: 'items' },
    );
    const def = definePipeline({ name: `prio_${Date.now()}`, datasetName: datasetName('prio'), source: () => items, pool: 'prio' });
    const address = temporalAddress();
    const tq = taskQueue();
    const client = await TideClient.connect({ address, taskQueue: tq });
    const destination = postgres(pgUrl());
    try {
      for (const day of DAYS) {
        const interval = { start: `2026-01-${day}T00:00:00Z`, end: `2026-01-${day}T12:00:00Z` };
        await client.client.workflow.start('pipelineRun', {
          taskQueue: tq, workflowId: intervalWorkflowId(def.name, interval), args: [{ pipeline: def.name, interval, kind: 'backfill' }], priority: { priorityKey: RUN_PRIORITY.backfill },
        });
      }
      const manual = await client.startRun(def.name);
      await registerSearchAttributes(address, 'default');
      const connection = await NativeConnection.connect({ address });
      const activities = createActivities([def], { destination });
      try {
        // the workflows and the main queue's activities; the extracts wait on the pool's queue
        const workflows = await Worker.create({ connection, taskQueue: tq, workflowBundle: await workflowBundle(), activities });
        const extracts = await Worker.create({ connection, taskQueue: poolTaskQueue(tq, 'prio'), activities, maxConcurrentActivityTaskExecutions: 1 });
        await workflows.runUntil(async () => {
          const handles = [...list(client, def.name), manual];
          while ((await Promise.all(handles.map(waitsForExtract))).some((w) => !w)) await new Promise((r) => setTimeout(r, 200));
          expect(served).toEqual([]);
          await extracts.runUntil(async () => {
            await manual.result();
            while (served.length < DAYS.length + 1) await new Promise((r) => setTimeout(r, 200));
          });
        });
      } finally {
        await connection.close();
      }
      expect(served[0]).toBe('manual');
      expect(served.slice(1).sort()).toEqual(DAYS.map((d) => `backfill 2026-01-${d}`));
    } finally {
      await client.close();
      await destination.close();
    }
  });
});
