/**
 * Run notifications: a JSON POST to the definition's webhook and its `onFailure` / `onSuccess`
 * hooks, each delivered once per run and event. Every delivery is recorded by its idempotency key
 * (`<workflow id>/<run id>/<event>`) in the destination: a retried notify activity skips what an
 * earlier attempt delivered. The webhook gets the key as `Idempotency-Key` too.
 */
import type { PipelineDefinition, RunEvent } from '../pipeline/define.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';

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
  const key = `${ev.workflowId}/${ev.runId}/${ev.event}`;
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
