/**
 * Run notifications: a JSON POST to the definition's webhook and its `onFailure` / `onSuccess`
 * hooks, each delivered once per run and event. Every delivery is recorded by its idempotency key
 * (`<workflow id>/<run id>/<event>`, a retry's also naming the failed attempt) in the destination: a
 * retried notify activity skips what an earlier attempt delivered. The webhook gets the key as
 * `Idempotency-Key` too.
 */
import { ApplicationFailure, type Context } from '@temporalio/activity';
import type { PipelineDefinition, RunEvent } from '../pipeline/define.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { activityOptionsFor } from '../temporal/retry.ts';
import { temporalAddress, temporalNamespace, temporalUiUrl, workflowUiUrl } from '../temporal/connection.ts';
import { toFailure } from './failure.ts';
import { TideError } from '../pipeline/errors.ts';

/** The events a definition wants, by channel: the webhook's `on` (default failure) and the hooks. */
export function notifyEventsOf(def: PipelineDefinition): RunEvent['event'][] {
  const out = new Set<RunEvent['event']>(def.notify?.webhook ? (def.notify.on ?? ['failure']) : []);
  if (def.onFailure) out.add('failure');
  if (def.onSuccess) out.add('success');
  return [...out].sort();
}

const WEBHOOK_TIMEOUT_MS = 10_000;

/** Delivers `ev` on each channel of `def` not yet delivered; a channel that fails throws (the activity retries). */
export async function deliver(def: PipelineDefinition, p: Pipeline, ev: RunEvent): Promise<string[]> {
  const attempt = ev.event === 'retry' ? `/${(ev.attempts as { activity?: string })?.activity}-${(ev.attempts as { attempt?: number })?.attempt}` : '';
  const key = `${ev.workflowId}/${ev.runId}/${ev.event}${attempt}`;
  const delivered: string[] = [];
  const once = async (channel: string, send: () => Promise<void>) => {
    if (await p.wasNotified(`${key}:${channel}`)) return;
    await send();
    await p.markNotified(`${key}:${channel}`);
    delivered.push(channel);
  };
  const webhook = def.notify?.webhook;
  if (webhook && (def.notify?.on ?? ['failure']).includes(ev.event)) {
    await once('webhook', async () => {
      const res = await fetch(webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(ev),
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`webhook ${webhook} answered ${res.status}`);
    });
  }
  const hook = ev.event === 'failure' ? def.onFailure : def.onSuccess;
  if (hook) await once(ev.event === 'failure' ? 'onFailure' : 'onSuccess', async () => hook(ev));
  return delivered;
}

/** A run's page in the Temporal Web UI. */
export function runUrl(workflowId: string, runId: string): string {
  return workflowUiUrl(temporalUiUrl(temporalAddress()), temporalNamespace(), workflowId, runId);
}

/**
 * Runs an extracting or load activity's work; when it fails and Temporal will try again (a
 * retryable failure, attempts left), sends the `retry` event first: one delivery attempt, so a
 * notifier that is down never holds the retry back.
 */
export async function announcingRetry<T>(def: PipelineDefinition, p: Pipeline, ctx: Context, step: 'extract' | 'load', run: Pick<RunEvent, 'kind' | 'interval'>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    const failure = toFailure(e);
    const max = activityOptionsFor(step, def).retry.maximumAttempts ?? 0;
    const retried = !(failure instanceof ApplicationFailure && failure.nonRetryable) && (max === 0 || ctx.info.attempt < max);
    const exec = ctx.info.workflowExecution;
    if (exec && retried && (def.notify?.on ?? []).includes('retry') && def.notify?.webhook) {
      const { workflowId, runId } = exec;
      const ev: RunEvent = {
        event: 'retry', pipeline: def.name, ...(run.kind ? { kind: run.kind } : {}), ...(run.interval ? { interval: run.interval } : {}), workflowId, runId,
        error: errorOf(e),
        attempts: { activity: ctx.info.activityType, attempt: ctx.info.attempt, maximumAttempts: max },
        url: runUrl(workflowId, runId),
      };
      await deliver(def, p, ev).catch(() => undefined);
    }
    throw e;
  }
}

/** An error as an event carries it: its type, message and, for tide's errors, where it happened. */
function errorOf(e: unknown): NonNullable<RunEvent['error']> {
  const where = e instanceof TideError ? { resource: e.resource, table: e.table, column: e.column } : {};
  const defined = Object.fromEntries(Object.entries(where).filter(([, v]) => v !== undefined));
  return { type: (e as Error)?.name, message: (e as Error)?.message ?? String(e), ...defined };
}
