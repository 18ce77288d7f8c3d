/**
 * A run's alerts, deterministic like every workflow module: its outcome recorded (for
 * `pauseOnFailure` and `recovered`), its schedule paused after failures, its events sent, and the SLA
 * watch of a scheduled interval. A notifier that keeps failing never changes a run's outcome.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { TideActivities } from '../activities/index.ts';
import type { OutcomeStreak, PipelineRunInput, RunEvent, RunOutcome, RunPlanResult, SlaWatchInput } from '../temporal/payloads.ts';
import { activityRetryPolicy } from '../temporal/retry.ts';

const { notify, recordOutcome, pauseSchedule, intervalLoaded } = proxyActivities<TideActivities>({ startToCloseTimeout: '1 minute', retry: activityRetryPolicy(5) });

/**
 * A failed run: recorded (when the pipeline pauses on failures or is told of recoveries), its
 * schedule paused on every `pauseOnFailure`-th failure in a row, then the failure event, which says both.
 */
export async function reportFailure(plan: RunPlanResult, event: RunEvent): Promise<void> {
  const streak = await recordQuietly(plan, event.pipeline, 'failure');
  const n = plan.pauseOnFailure;
  let paused = false;
  if (streak && n && streak.consecutiveFailures % n === 0) {
    const note = `paused by tide: ${streak.consecutiveFailures} failed runs in a row (pauseOnFailure: ${n}); the last: ${event.workflowId}`;
    paused = await pauseSchedule({ pipeline: event.pipeline, note }).catch(() => false);
  }
  await notifyQuietly(plan, { ...event, ...(streak ? { consecutiveFailures: streak.consecutiveFailures } : {}), ...(paused ? { schedulePaused: true } : {}) });
}

/** A committed run: recorded as above; the first success after failures is also `recovered`. */
export async function reportSuccess(plan: RunPlanResult, event: RunEvent): Promise<void> {
  const streak = await recordQuietly(plan, event.pipeline, 'success');
  if (streak?.previous === 'failure') await notifyQuietly(plan, { ...event, event: 'recovered', consecutiveFailures: streak.failuresBefore });
  await notifyQuietly(plan, event);
}

/** The run's outcome recorded, when anything reads it; undefined when not (or the record failed). */
async function recordQuietly(plan: RunPlanResult, pipeline: string, outcome: RunOutcome): Promise<OutcomeStreak | undefined> {
  if (!plan.pauseOnFailure && !plan.notify?.includes('recovered')) return undefined;
  const { workflowId, runId } = workflowInfo();
  return recordOutcome({ pipeline, runKey: `${workflowId}/${runId}`, outcome }).catch(() => undefined);
}

/** Sends a run event when the definition wants it; a notifier that keeps failing never fails the run. */
export async function notifyQuietly(plan: RunPlanResult, event: RunEvent): Promise<void> {
  if (!plan.notify?.includes(event.event)) return;
  try {
    await notify({ pipeline: event.pipeline, event });
  } catch {
    // its attempts are in the history; the run's outcome stands
  }
}

export function runEvent(input: PipelineRunInput, event: RunEvent['event']): RunEvent {
  const info = workflowInfo();
  return { event, pipeline: input.pipeline, kind: input.kind, ...(input.interval ? { interval: input.interval } : {}), workflowId: info.workflowId, runId: info.runId };
}

/** The failure event of a run whose activity failed after its retries: the error's type and where. */
export function failureEvent(input: PipelineRunInput, e: unknown): RunEvent {
  const cause = activityCause(e);
  const app = cause instanceof ApplicationFailure ? cause : undefined;
  const where = (app?.details?.[0] ?? {}) as { resource?: string; table?: string; column?: string };
  return {
    ...runEvent(input, 'failure'),
    error: { type: app?.type ?? (cause as Error)?.name, message: (cause as Error)?.message ?? String(cause), ...pick(where) },
    ...(e instanceof ActivityFailure ? { attempts: { activity: e.activityType } } : {}),
  };
}

function pick(w: { resource?: string; table?: string; column?: string }) {
  return { ...(w.resource ? { resource: w.resource } : {}), ...(w.table ? { table: w.table } : {}), ...(w.column ? { column: w.column } : {}) };
}

/** What failed inside an activity failure (the activity's own error), or the error itself. */
export function activityCause(e: unknown): unknown {
  return e instanceof ActivityFailure ? (e.cause ?? e) : e;
}

/**
 * Waits until `sla` after the interval's end, then sends `sla_miss` (once: this workflow's id is the
 * interval's) unless the interval is loaded by then, by whatever run.
 */
export async function slaWatch(input: SlaWatchInput): Promise<{ missed: boolean; due: string }> {
  const due = Date.parse(input.interval.end) + msToNumber(input.sla as '1 hour');
  if (due > Date.now()) await sleep(due - Date.now());
  const dueIso = new Date(due).toISOString();
  if (await intervalLoaded({ pipeline: input.pipeline, interval: input.interval })) return { missed: false, due: dueIso };
  const info = workflowInfo();
  const event: RunEvent = { event: 'sla_miss', pipeline: input.pipeline, kind: 'scheduled', interval: input.interval, sla: { within: input.sla, due: dueIso }, workflowId: info.workflowId, runId: info.runId };
  await notify({ pipeline: input.pipeline, event }).catch(() => undefined);
  return { missed: true, due: dueIso };
}
