/**
 * The programmatic client: schedules, backfills, manual runs and run listings on Temporal.
 * The CLI (`tide schedule|backfill|runs`) is a thin layer over it.
 */
import { Client, Connection, WorkflowNotFoundError, ScheduleOverlapPolicy, ScheduleNotFoundError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { PipelineDefinition, ScheduleEvery, ScheduleOverlap, ScheduleSpec } from '../pipeline/define.ts';
import type { IsoInterval } from '../pipeline/interval.ts';
import type { backfill, pipelineRun, scheduledRun } from '../workflows/index.ts';
import { temporalAddress, temporalNamespace, temporalTls, temporalUiUrl, workflowUiUrl } from '../temporal/connection.ts';
import { EVERY_MS, EVERY_OFFSET_MS, splitInterval } from '../temporal/grid.ts';
import {
  BACKFILL_PROGRESS_QUERY,
  RUN_PRIORITY,
  PAUSE_SIGNAL,
  RESUME_SIGNAL,
  SET_PARALLEL_SIGNAL,
  DEFAULT_TASK_QUEUE,
  backfillWorkflowId,
  intervalWorkflowId,
  manualRunWorkflowId,
  pipelineOfScheduleId,
  scheduleId,
  scheduledRunWorkflowId,
} from '../temporal/ids.ts';
import type { BackfillProgress, PipelineRunResult, RunSelection } from '../temporal/payloads.ts';
import { SA, runAttributes, runsQuery } from '../temporal/search-attributes.ts';

export interface TideClientOptions {
  /** Default `TEMPORAL_ADDRESS`, else `localhost:7233`. */
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /** The Web UI base URL, for links (default `http://<host>:<port+1000>`). */
  uiUrl?: string;
}

export interface ScheduleOptions {
  /** Missed runs within this window are caught up after downtime (default '7 days'). */
  catchupWindow?: string;
  /** What happens when a run is still going at the next tick (default BUFFER_ALL: runs queue, none is skipped — Airflow's max_active_runs=1 with catchup). */
  overlap?: ScheduleOverlapPolicy;
  paused?: boolean;
  /** The definition's `sla`: each scheduled interval is watched for a committed load by then. */
  sla?: string;
}

export interface RunRow {
  workflowId: string;
  runId: string;
  kind?: string;
  intervalStart?: Date;
  intervalEnd?: Date;
  status: string;
  rows?: number;
  attempts?: number;
  /** Components of a decomposed run that failed while the others loaded. */
  failed?: string[];
  startTime: Date;
  closeTime?: Date;
  url: string;
}

/** The latest run of one interval (its canonical workflow id). */
export interface IntervalRun {
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TIMED_OUT, TERMINATED, CANCELLED, … */
  status: string;
  startTime: Date;
  closeTime?: Date;
  /** Why a run that did not complete failed. */
  error?: string;
  url: string;
}

/** Execution statuses of a run that ended without completing. */
export const FAILED_STATUSES: ReadonlySet<string> = new Set(['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED']);

const WRAPPERS = new Set(['WorkflowFailedError', 'ActivityFailure', 'ChildWorkflowFailure']);

/** The message of a workflow failure without its wrappers: the workflow's or the activity's own error. */
function innermostMessage(e: unknown): string {
  let x = e as { cause?: unknown; message?: string; name?: string } | undefined;
  while (x && WRAPPERS.has(x.name ?? '') && x.cause && typeof x.cause === 'object') x = x.cause as typeof x;
  return x?.message ?? String(e);
}

const OVERLAP: Record<ScheduleOverlap, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  buffer_all: ScheduleOverlapPolicy.BUFFER_ALL,
  cancel_other: ScheduleOverlapPolicy.CANCEL_OTHER,
  terminate_other: ScheduleOverlapPolicy.TERMINATE_OTHER,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

/** Local midnight (days, weeks: Monday) or the top of the hour, for `every` with a time zone. */
const CALENDAR: Record<ScheduleEvery, object> = {
  hour: { hour: { start: 0, end: 23 }, minute: 0 },
  day: { hour: 0, minute: 0 },
  week: { dayOfWeek: 'MONDAY', hour: 0, minute: 0 },
};

/**
 * The Temporal spec of a tide schedule and its action's input. `every` in UTC is a fixed interval
 * whose run computes its interval from the grid; with a time zone (and for cron) the spec is a
 * calendar and the run asks the schedule for its previous matching time (23- and 25-hour days).
 */
function scheduleSpecOf(pipeline: string, id: string, spec: ScheduleSpec) {
  const when = {
    ...(spec.startAt !== undefined ? { startAt: new Date(spec.startAt) } : {}),
    ...(spec.endAt !== undefined ? { endAt: new Date(spec.endAt) } : {}),
    ...(spec.jitter ? { jitter: spec.jitter as '1m' } : {}),
  };
  if ('every' in spec && !spec.timezone) {
    const offsetMs = EVERY_OFFSET_MS[spec.every];
    return { temporalSpec: { intervals: [{ every: EVERY_MS[spec.every], offset: offsetMs }], ...when }, args: { pipeline, every: spec.every, offsetMs } };
  }
  const calendar = 'every' in spec ? { calendars: [CALENDAR[spec.every]] } : { cronExpressions: [spec.cron] };
  return { temporalSpec: { ...calendar, ...(spec.timezone ? { timezone: spec.timezone } : {}), ...when }, args: { pipeline, scheduleId: id } };
}

export class TideClient {
  readonly client: Client;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly uiUrl: string;
  readonly #connection: Connection;

  private constructor(connection: Connection, opts: Required<Omit<TideClientOptions, 'address'>> & { address: string }) {
    this.#connection = connection;
    this.namespace = opts.namespace;
    this.taskQueue = opts.taskQueue;
    this.uiUrl = opts.uiUrl;
    this.client = new Client({ connection, namespace: opts.namespace });
  }

  static async connect(opts: TideClientOptions = {}): Promise<TideClient> {
    const address = opts.address ?? temporalAddress();
    const namespace = opts.namespace ?? temporalNamespace();
    const connection = await Connection.connect({ address, connectTimeout: 5000, tls: temporalTls() });
    return new TideClient(connection, {
      address,
      namespace,
      taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
      uiUrl: (opts.uiUrl ?? temporalUiUrl(address)).replace(/\/$/, ''),
    });
  }

  async close(): Promise<void> {
    await this.#connection.close();
  }

  // ------------------------------------------------------------------ links
  /** The Web UI page of one run (the latest run when runId is omitted). */
  workflowUrl(workflowId: string, runId?: string): string {
    return workflowUiUrl(this.uiUrl, this.namespace, workflowId, runId);
  }
  /** A Web UI list filtered by a visibility query. */
  filterUrl(query: string): string {
    return `${this.uiUrl}/namespaces/${encodeURIComponent(this.namespace)}/workflows?query=${encodeURIComponent(query)}`;
  }
  /** Ready-made filters of one pipeline's runs. */
  pipelineFilters(pipeline: string): Record<string, string> {
    return {
      all: this.filterUrl(runsQuery(pipeline)),
      scheduled: this.filterUrl(runsQuery(pipeline, 'scheduled')),
      backfill: this.filterUrl(runsQuery(pipeline, 'backfill')),
      failed: this.filterUrl(`${runsQuery(pipeline)} AND ExecutionStatus = 'Failed'`),
    };
  }
  scheduleUrl(pipeline: string): string {
    return `${this.uiUrl}/namespaces/${encodeURIComponent(this.namespace)}/schedules/${encodeURIComponent(scheduleId(pipeline))}`;
  }

  // ------------------------------------------------------------------ schedules
  /** Creates the pipeline's schedule, or updates it when it exists (idempotent). */
  async createSchedule(pipeline: string, spec: ScheduleSpec, opts: ScheduleOptions = {}): Promise<{ scheduleId: string; created: boolean }> {
    const id = scheduleId(pipeline);
    const { temporalSpec, args } = scheduleSpecOf(pipeline, id, spec);
    const action = {
      type: 'startWorkflow' as const,
      workflowType: 'scheduledRun' as unknown as typeof scheduledRun,
      args: [{ ...args, ...(spec.settle ? { settle: spec.settle } : {}), ...(opts.sla ? { sla: opts.sla } : {}) }] as Parameters<typeof scheduledRun>,
      taskQueue: this.taskQueue,
      workflowId: scheduledRunWorkflowId(pipeline),
      typedSearchAttributes: runAttributes(pipeline, 'scheduled'),
      staticSummary: `${pipeline}: scheduled run (${'every' in spec ? `every ${spec.every}` : `cron ${spec.cron}`}${spec.timezone ? ` ${spec.timezone}` : ''})`,
    };
    const policies = {
      catchupWindow: spec.catchupWindow ?? opts.catchupWindow ?? (spec.catchup === false ? '1 minute' : '7 days'),
      overlap: spec.overlap ? OVERLAP[spec.overlap] : (opts.overlap ?? ScheduleOverlapPolicy.BUFFER_ALL),
      pauseOnFailure: false,
    };
    try {
      await this.client.schedule.create({ scheduleId: id, spec: temporalSpec, action, policies, state: { paused: opts.paused ?? false, note: 'created by tide' } });
    } catch (e) {
      if ((e as Error).name !== 'ScheduleAlreadyRunning') throw e;
      const h = this.client.schedule.getHandle(id);
      await h.update((prev) => ({ ...prev, spec: temporalSpec, action, policies }));
      if (opts.paused !== undefined) await (opts.paused ? h.pause('paused by tide') : h.unpause('unpaused by tide'));
      return { scheduleId: id, created: false };
    }
    // catchup from a past startAt: every tick since then, once, when the schedule is created
    const start = spec.startAt === undefined ? undefined : new Date(spec.startAt);
    if (spec.catchup && start && start.getTime() < Date.now()) {
      const end = spec.endAt !== undefined && new Date(spec.endAt).getTime() < Date.now() ? new Date(spec.endAt) : new Date();
      await this.client.schedule.getHandle(id).backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
    }
    return { scheduleId: id, created: true };
  }

  /** tide's schedules; `note` says why one is paused (by `pauseOnFailure`, or by hand). */
  async listSchedules(): Promise<{ pipeline: string; scheduleId: string; paused: boolean; note?: string; next?: Date; spec: string }[]> {
    const out = [];
    for await (const s of this.client.schedule.list()) {
      const pipeline = pipelineOfScheduleId(s.scheduleId);
      if (pipeline === undefined) continue;
      const iv = s.spec?.intervals?.[0];
      out.push({
        pipeline,
        scheduleId: s.scheduleId,
        paused: s.state.paused,
        ...(s.state.paused && s.state.note ? { note: s.state.note } : {}),
        next: s.info.nextActionTimes?.[0],
        spec: [
          iv ? `every ${Number(iv.every) / 3_600_000}h` : s.spec?.calendars?.length ? 'calendar' : '',
          s.spec?.timezone ? `tz ${s.spec.timezone}` : '',
          s.spec?.startAt ? `from ${s.spec.startAt.toISOString()}` : '',
          s.spec?.endAt ? `until ${s.spec.endAt.toISOString()}` : '',
        ]
          .filter(Boolean)
          .join(' '),
      });
    }
    return out;
  }

  #schedule(pipeline: string) {
    return this.client.schedule.getHandle(scheduleId(pipeline));
  }
  async pauseSchedule(pipeline: string): Promise<void> {
    await this.#schedule(pipeline).pause('paused with tide');
  }
  async unpauseSchedule(pipeline: string): Promise<void> {
    await this.#schedule(pipeline).unpause('unpaused with tide');
  }
  /** Runs the schedule now; the run gets the last complete interval (see README: Airflow parity). */
  async triggerSchedule(pipeline: string): Promise<void> {
    await this.#schedule(pipeline).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
  }
  async deleteSchedule(pipeline: string): Promise<boolean> {
    try {
      await this.#schedule(pipeline).delete();
      return true;
    } catch (e) {
      if (e instanceof ScheduleNotFoundError) return false;
      throw e;
    }
  }

  // ------------------------------------------------------------------ runs
  /** Runs one pipeline now on the workers, over an interval or on its cursor state, and waits. */
  async runNow(pipeline: string, interval?: IsoInterval, selection: RunSelection = {}): Promise<PipelineRunResult> {
    return (await this.startRun(pipeline, interval, selection)).result();
  }

  /**
   * Starts a manual run of one pipeline on the workers (over an interval, or on its cursor state)
   * with params, a resource selection or a refresh; the worker validates the params again. The same
   * interval already running (a retry, a backfill): the handle of that run.
   */
  async startRun(pipeline: string, interval?: IsoInterval, selection: RunSelection = {}): Promise<WorkflowHandleWithFirstExecutionRunId<typeof pipelineRun>> {
    const workflowId = interval ? intervalWorkflowId(pipeline, interval) : manualRunWorkflowId(pipeline, Date.now());
    const extra = [
      selection.params && Object.keys(selection.params).length ? `params ${JSON.stringify(selection.params)}` : '',
      selection.resources?.length ? `resources ${selection.resources.join(',')}` : '',
      selection.refresh ? `refresh ${selection.refresh}` : '',
    ].filter(Boolean);
    return this.client.workflow.start('pipelineRun' as unknown as typeof pipelineRun, {
      taskQueue: this.taskQueue,
      workflowId,
      args: [{ pipeline, interval, kind: 'manual', ...selection }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      priority: { priorityKey: RUN_PRIORITY.manual },
      // the same interval already running (a retry, a backfill): wait for that run instead of failing
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      typedSearchAttributes: runAttributes(pipeline, 'manual', interval),
      ...(selection.params ? { memo: { params: selection.params } } : {}),
      staticSummary: `${pipeline}${interval ? ` [${interval.start} → ${interval.end})` : ''} manual${extra.length ? ` (${extra.join('; ')})` : ''}`,
    });
  }

  /**
   * What a running run's activities last reported (their heartbeats: items and rows per table), or
   * undefined when none has yet.
   */
  async runProgress(handle: WorkflowHandle<typeof pipelineRun>): Promise<{ activity: string; items?: number; rows?: Record<string, { rows: number }> }[] | undefined> {
    const d = await handle.describe();
    const out = [];
    for (const a of d.raw.pendingActivities ?? []) {
      const payload = a.heartbeatDetails?.payloads?.[0]?.data;
      let details: { items?: number; rows?: Record<string, { rows: number }> } = {};
      try {
        if (payload) details = JSON.parse(new TextDecoder().decode(payload));
      } catch {
        details = {};
      }
      out.push({ activity: a.activityType?.name ?? '?', items: details.items, rows: details.rows });
    }
    return out.length ? out : undefined;
  }

  /**
   * Starts (or joins, if already running) a backfill of `[from, to)`. `indexes`: only those intervals
   * of the grid, in that order (a planned backfill, see `client/intervals.ts`); `plan` names the plan
   * in the run's summary.
   */
  async startBackfill(opts: { pipeline: string; from: string; to: string; every: ScheduleEvery; parallel?: number; handover?: boolean; indexes?: number[]; plan?: string }): Promise<WorkflowHandle<typeof backfill>> {
    const intervals = splitInterval(opts.from, opts.to, opts.every);
    const from = intervals[0].start;
    const to = intervals[intervals.length - 1].end;
    const only = opts.indexes ? `, ${opts.indexes.length} of ${intervals.length} intervals${opts.plan ? ` (${opts.plan})` : ''}` : '';
    const handle = await this.client.workflow.start('backfill' as unknown as typeof backfill, {
      taskQueue: this.taskQueue,
      workflowId: backfillWorkflowId(opts.pipeline, from, to),
      args: [{ pipeline: opts.pipeline, from, to, every: opts.every, parallel: opts.parallel ?? 1, ...(opts.handover ? { handover: true } : {}), ...(opts.indexes ? { indexes: opts.indexes } : {}) }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: runAttributes(opts.pipeline, 'backfill'),
      staticSummary: `${opts.pipeline}: backfill [${from} → ${to}) every ${opts.every}, parallel ${opts.parallel ?? 1}${only}`,
    });
    // the same backfill already running was attached to: it takes this parallelism from now on
    // (a backfill that already finished takes no signal: nothing to change)
    if (opts.parallel !== undefined) await handle.signal(SET_PARALLEL_SIGNAL, opts.parallel).catch(() => undefined);
    return handle as WorkflowHandle<typeof backfill>;
  }

  /** The backfill of `[from, to)` (running or not), without starting it. */
  backfillHandle(opts: { pipeline: string; from: string; to: string; every: ScheduleEvery }): WorkflowHandle<typeof backfill> {
    const intervals = splitInterval(opts.from, opts.to, opts.every);
    return this.client.workflow.getHandle(backfillWorkflowId(opts.pipeline, intervals[0].start, intervals[intervals.length - 1].end));
  }

  /** Whether a backfill of `[from, to)` on the `every` grid is running now (starting it again attaches to it). */
  async backfillRunning(opts: { pipeline: string; from: string; to: string; every: ScheduleEvery }): Promise<boolean> {
    try {
      return (await this.backfillHandle(opts).describe()).status.name === 'RUNNING';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  /** Pauses a running backfill (the intervals running finish; none starts) or resumes it. */
  async pauseBackfill(handle: WorkflowHandle<typeof backfill>, paused: boolean): Promise<void> {
    await handle.signal(paused ? PAUSE_SIGNAL : RESUME_SIGNAL);
  }

  /**
   * The latest `pipelineRun` of each of the given intervals (by their canonical ids), as Temporal's
   * visibility knows it: running, completed, or failed with the error. Intervals with no run in the
   * history are absent.
   */
  async intervalRuns(pipeline: string, intervals: readonly IsoInterval[]): Promise<Map<string, IntervalRun>> {
    const out = new Map<string, IntervalRun>();
    if (!intervals.length) return out;
    const ids = new Set(intervals.map((iv) => intervalWorkflowId(pipeline, iv)));
    const from = intervals.reduce((m, iv) => (iv.start < m ? iv.start : m), intervals[0].start);
    const to = intervals.reduce((m, iv) => (iv.end > m ? iv.end : m), intervals[0].end);
    const query = `${runsQuery(pipeline)} AND WorkflowType = 'pipelineRun' AND ${SA.intervalStart.name} >= '${from}' AND ${SA.intervalStart.name} < '${to}'`;
    for await (const w of this.client.workflow.list({ query })) {
      if (!ids.has(w.workflowId)) continue;
      const seen = out.get(w.workflowId);
      if (seen && seen.startTime >= w.startTime) continue;
      out.set(w.workflowId, { workflowId: w.workflowId, runId: w.runId, status: w.status.name, startTime: w.startTime, closeTime: w.closeTime, url: this.workflowUrl(w.workflowId, w.runId) });
    }
    // the error of a failed run: its result, read from the history
    await Promise.all(
      [...out.values()]
        .filter((r) => FAILED_STATUSES.has(r.status))
        .map(async (r) => {
          try {
            await this.client.workflow.getHandle(r.workflowId, r.runId, { followRuns: false }).result();
          } catch (e) {
            r.error = innermostMessage(e);
          }
        }),
    );
    return out;
  }

  async backfillProgress(handle: WorkflowHandle<typeof backfill>): Promise<BackfillProgress | undefined> {
    try {
      return await handle.query<BackfillProgress>(BACKFILL_PROGRESS_QUERY);
    } catch {
      return undefined;
    }
  }

  /** Recent runs of a pipeline (interval, status, rows, attempts, link), newest first. */
  async runs(pipeline: string, limit = 20): Promise<RunRow[]> {
    const out: RunRow[] = [];
    for await (const w of this.client.workflow.list({ query: `${runsQuery(pipeline)} AND WorkflowType = 'pipelineRun'`, pageSize: limit })) {
      const sa = w.typedSearchAttributes;
      // attempts: recorded in the memo when the run completes; for a running one, its pending activity's attempt
      const memo = w.memo as { attempts?: { extract: number; load?: number }; failed?: { component: string }[] } | undefined;
      let attempts: number | undefined = memo?.attempts ? Math.max(memo.attempts.extract, memo.attempts.load ?? 0) : undefined;
      if (attempts === undefined && w.status.name === 'RUNNING') {
        try {
          const d = await this.client.workflow.getHandle(w.workflowId, w.runId).describe();
          attempts = d.raw.pendingActivities?.reduce((m, a) => Math.max(m, a.attempt ?? 1), 1);
        } catch {
          attempts = undefined;
        }
      }
      out.push({
        workflowId: w.workflowId,
        runId: w.runId,
        kind: sa.get(SA.kind),
        intervalStart: sa.get(SA.intervalStart),
        intervalEnd: sa.get(SA.intervalEnd),
        status: w.status.name,
        rows: sa.get(SA.rows),
        attempts,
        ...(memo?.failed?.length ? { failed: memo.failed.map((f) => f.component) } : {}),
        startTime: w.startTime,
        closeTime: w.closeTime,
        url: this.workflowUrl(w.workflowId, w.runId),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The definitions' schedules, created or updated. */
  async applySchedules(defs: readonly PipelineDefinition[], opts: ScheduleOptions = {}): Promise<{ pipeline: string; created: boolean }[]> {
    const out = [];
    for (const d of defs) {
      if (!d.schedule) continue;
      const r = await this.createSchedule(d.name, d.schedule, { ...opts, ...(d.sla ? { sla: d.sla } : {}) });
      out.push({ pipeline: d.name, created: r.created });
    }
    return out;
  }
}
