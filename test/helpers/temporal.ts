/** Test helpers for Temporal: the shared dev server, a worker on a task queue of its own. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { postgres, type PipelineDefinition } from 'tide';
import { createWorker } from '../../worker/index.ts';
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

/** Runs `fn` with a worker (own task queue) and a client on it; the worker stops afterwards. */
export async function withWorker<T>(pipelines: PipelineDefinition[], fn: (c: TideClient, taskQueue: string) => Promise<T>): Promise<T> {
  const address = temporalAddress();
  const tq = taskQueue();
  const destination = postgres(pgUrl());
  const { worker, close } = await createWorker({ pipelines, address, taskQueue: tq, destination });
  const client = await TideClient.connect({ address, taskQueue: tq });
  try {
    return await worker.runUntil(fn(client, tq));
  } finally {
    await client.close();
    await close();
    await destination.close();
  }
}
