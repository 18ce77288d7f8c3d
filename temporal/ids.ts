/**
 * The names tide gives things on Temporal: task queue, workflow ids, schedule ids, query names.
 * Every path (schedule, backfill, manual run, CLI) builds them here, so they meet on the same ids.
 * Deterministic (workflows use it).
 */
import type { IsoInterval } from '../pipeline/interval.ts';

/** The task queue of tide's workers unless told otherwise. */
export const DEFAULT_TASK_QUEUE = 'tide';

/**
 * Task-queue priority by kind of run (Temporal's `priorityKey`, 1 first): when workers are busy a
 * manual run is served before a scheduled one, a scheduled one before a backfill interval. A server
 * without priorities serves them first come, first served.
 */
export const RUN_PRIORITY = { manual: 1, scheduled: 2, backfill: 3 } as const;

/** The task queue of a pool's extract activities, next to the workflows' task queue `taskQueue`. */
export function poolTaskQueue(taskQueue: string, pool: string): string {
  return `${taskQueue}/pool/${pool}`;
}

const PREFIX = 'tide/';

/** The canonical id of one interval's run: the same interval never runs twice at once. */
export function intervalWorkflowId(pipeline: string, interval: IsoInterval): string {
  return `${PREFIX}${pipeline}/${interval.start}/${interval.end}`;
}

/** A backfill of `[from, to)`: starting the same backfill again joins the running one. */
export function backfillWorkflowId(pipeline: string, from: string, to: string): string {
  return `${PREFIX}${pipeline}/backfill/${from}/${to}`;
}

/** A run on cursor state (no interval), started by hand at `atMs`. */
export function manualRunWorkflowId(pipeline: string, atMs: number): string {
  return `${PREFIX}${pipeline}/manual/${atMs}`;
}

/** The SLA watch of one scheduled interval: started once, whatever runs the interval. */
export function slaWorkflowId(pipeline: string, interval: IsoInterval): string {
  return `${PREFIX}${pipeline}/sla/${interval.start}/${interval.end}`;
}

/** The pipeline's one schedule. */
export function scheduleId(pipeline: string): string {
  return `${PREFIX}${pipeline}`;
}

/** The pipeline of a tide schedule id; undefined for a schedule tide did not create. */
export function pipelineOfScheduleId(id: string): string | undefined {
  return id.startsWith(PREFIX) ? id.slice(PREFIX.length) : undefined;
}

/** The id prefix of the runs the schedule starts (Temporal appends the nominal time). */
export function scheduledRunWorkflowId(pipeline: string): string {
  return `${PREFIX}${pipeline}/scheduled`;
}

/** The query a backfill answers with its progress. */
export const BACKFILL_PROGRESS_QUERY = 'progress';
/** Signals of a running backfill (also sendable from the Web UI): its parallelism, pause, resume. */
export const SET_PARALLEL_SIGNAL = 'setParallel';
export const PAUSE_SIGNAL = 'pause';
export const RESUME_SIGNAL = 'resume';
