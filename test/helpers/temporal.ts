/** Test helpers for Temporal: the shared dev server, a worker on a task queue of its own. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { postgres, type PipelineDefinition } from 'tide';
import { createWorker, type WorkerOptions } from '../../worker/index.ts';
import { TideClient } from '../../client/temporal.ts';
import { pgUrl } from './pipelines.ts';

export function temporalAddress(): string {
  const a = inject('temporalAddress');
  if (!a) throw new Error(inject('temporalError'));
  return a;
}

export function taskQueue(prefix = 'tq'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Runs `fn` with a worker (own task queue) and a client on it; the worker stops afterwards. `metricsUrl`: with `opts.metrics`. */
export async function withWorker<T>(
  pipelines: PipelineDefinition[],
  fn: (c: TideClient, taskQueue: string, worker: { metricsUrl?: string }) => Promise<T>,
  opts: Partial<WorkerOptions> = {},
): Promise<T> {
  const address = temporalAddress();
  const tq = taskQueue();
  const destination = postgres(pgUrl());
  const { worker, close, metricsUrl } = await createWorker({ pipelines, address, taskQueue: tq, destination, ...opts });
  const client = await TideClient.connect({ address, taskQueue: tq });
  try {
    return await worker.runUntil(fn(client, tq, { metricsUrl }));
  } finally {
    await client.close();
    await close();
    await destination.close();
  }
}

/**
 * With RECORD_HISTORIES=1, saves a workflow's history under test/e2e/histories/ so the replay test
 * can check later versions of the workflow code against it (determinism).
 */
export async function recordHistory(c: TideClient, workflowId: string, name: string): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
  const history = await c.client.workflow.getHandle(workflowId).fetchHistory();
  const dir = new URL('../e2e/histories/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${name}.json`, dir), historyToJSON(history));
}
