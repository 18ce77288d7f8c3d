/**
 * The wire types: what workflows, activities and the client pass each other through Temporal.
 * Plain JSON only (intervals as ISO-8601 strings). Deterministic (workflows use it).
 */
import type { IsoInterval } from '../pipeline/interval.ts';
import type { ScheduleEvery } from '../pipeline/define.ts';
import type { DiscardedCounts, TableCounts } from '../pipeline/counts.ts';
import type { Decompose, NotifyEvent, RetrySpec, RunEvent, TriggerRule } from '../pipeline/define.ts';
import type { FailedComponent } from '../pipeline/errors.ts';
import type { Component } from '../pipeline/plan.ts';
import type { RefreshMode } from '../pipeline/options.ts';
import type { OutcomeStreak, RunOutcome } from '../pipeline/destination.ts';
import type { SchemaChanges } from '../pipeline/schema.ts';

// workflows reach the engine's pure helpers and types through this module only (they import nothing of pipeline/)
export { addDiscarded, readTableCounts, totalRows } from '../pipeline/counts.ts';
export { eachInLanes } from '../pipeline/parallel.ts';
export { hasSchemaChanges, mergeSchemaChanges } from '../pipeline/schema.ts';
export type { IsoInterval, TableCounts, Decompose, TriggerRule, FailedComponent, Component, RefreshMode, RunEvent, NotifyEvent, SchemaChanges, DiscardedCounts, OutcomeStreak, RunOutcome };

/** What a run's activity reports beyond row counts (absent from results recorded before the report existed). */
export interface SchemaReport {
  /** What the run added to the schema: `{ tables, columns: [{ table, column, dataType }], variants: [...] }`. */
  schemaChanges?: SchemaChanges;
  /** Rows and values the schema contract dropped, per table. */
  discarded?: DiscardedCounts;
}

/** Run params as JSON (`ctx.params`): validated by the worker against the definition (`pipeline/params.ts`). */
export type RunParams = Record<string, string | number | boolean>;

/** What a run was asked for beyond its interval (a manual run: `tide trigger`, the Web UI's JSON input). All optional. */
export interface RunSelection {
  /** The run's params (`definePipeline({ params })`); a `date` is an ISO-8601 string. */
  params?: RunParams;
  /** Only these resources of the source (`Source.withResources`). */
  resources?: string[];
  /** RunOptions.refresh for this run. */
  refresh?: RefreshMode;
}

/** Why a run happened: a schedule tick, one interval of a backfill, or by hand. */
export type RunKind = 'scheduled' | 'backfill' | 'manual';

/** How a run of a pipeline goes, as its definition on the worker says (activity `planRun`). */
export interface RunPlanInput extends RunSelection {
  pipeline: string;
}

export interface RunPlanResult {
  /** The run's load id, decided once: every attempt and every component uses it. */
  loadId: string;
  decompose: Decompose;
  maxParallel: number;
  triggerRule: TriggerRule;
  /** The components to extract (empty with decompose 'none'). */
  components: Component[];
  /** The pool whose task queue serves the extracting activities (`definePipeline({ pool })`). */
  pool?: string;
  /** The definition's retries and timeouts, read at each run's start: a change applies from the next run on. */
  retries?: { extract?: RetrySpec; load?: RetrySpec };
  timeouts?: { extract?: string; load?: string; heartbeat?: string };
  /** The run events the definition is notified of (webhook, hooks). */
  notify?: NotifyEvent[];
  /** The schedule pauses after this many failed runs in a row (`schedule.pauseOnFailure`). */
  pauseOnFailure?: number;
  /** The run's params as validated by the worker, defaults applied (absent from older runs). */
  params?: RunParams;
}

/** Extract and load in one activity and one transaction (decompose 'none'). */
export interface RunInput extends RunSelection {
  pipeline: string;
  interval?: IsoInterval;
  kind?: RunKind;
  loadId: string;
  /** A backfill's last interval with `--handover`: the cursor of the incrementals that take it moves to its end. */
  handover?: boolean;
}

export interface RunResult extends SchemaReport {
  /** null when there was nothing to load */
  loadId: string | null;
  attempt: number;
  /** false when an earlier attempt had committed this load */
  applied: boolean;
  tables: TableCounts;
  items: number;
  /** The step's log lines (pipeline/run-log.ts), formatted, for the run's Web UI details; absent from older runs. */
  log?: string[];
}

export interface ExtractInput extends RunSelection {
  pipeline: string;
  interval?: IsoInterval;
  kind?: RunKind;
  /** A decomposed run's load id and the component this extract stages. */
  loadId?: string;
  component?: Component;
  handover?: boolean;
}

/** What `extract` returns: a reference to the staged package, never its rows. */
export interface ExtractResult extends SchemaReport {
  /** null when there was nothing to load */
  loadId: string | null;
  /** The activity attempt that produced this result (1 = first try). */
  attempt: number;
  datasetName: string;
  tables: TableCounts;
  items: number;
  /** The package staged (a component's), when something was. */
  packageId?: string;
  /** The step's log lines (pipeline/run-log.ts), formatted, for the run's Web UI details; absent from older runs. */
  log?: string[];
}

export interface LoadInput {
  pipeline: string;
  loadId: string;
  /** A decomposed run's packages (default: the one package of `loadId`). */
  packages?: string[];
  /** Components that failed (`triggerRule: 'all_done'`), recorded in the ledger row. */
  failed?: FailedComponent[];
}

/** A run event for the notify activity (the activity adds the Web UI link). */
export interface NotifyInput {
  pipeline: string;
  event: RunEvent;
}

/** How a run ended, recorded once by its key (`<workflow id>/<run id>`). */
export interface RecordOutcomeInput {
  pipeline: string;
  runKey: string;
  outcome: RunOutcome;
}

export interface PauseScheduleInput {
  pipeline: string;
  /** Why, as the schedule's note shows it. */
  note: string;
}

export interface IntervalLoadedInput {
  pipeline: string;
  interval: IsoInterval;
}

/** An SLA watch: `sla_miss` unless `interval` is loaded `sla` after its end. */
export interface SlaWatchInput {
  pipeline: string;
  interval: IsoInterval;
  sla: string;
}

export interface DiscardInput {
  pipeline: string;
  packages: string[];
}

export interface LoadResult {
  loadId: string;
  attempt: number;
  /** false when this load id had already been committed (a retried load) */
  applied: boolean;
  tables: TableCounts;
  /** The step's log lines (pipeline/run-log.ts), formatted, for the run's Web UI details; absent from older runs. */
  log?: string[];
}

/** The input of `scheduleInterval`: a cron schedule and the nominal time of one of its runs. */
export interface ScheduleIntervalInput {
  scheduleId: string;
  nominal: string;
}

export interface PipelineRunInput extends RunSelection {
  pipeline: string;
  interval?: IsoInterval;
  kind?: RunKind;
  /** The last interval of a backfill with `--handover` (RunOptions.handover). */
  handover?: boolean;
}

export interface PipelineRunResult extends SchemaReport {
  pipeline: string;
  interval?: IsoInterval;
  loadId: string | null;
  /** false when the load had been committed by an earlier attempt */
  applied: boolean;
  tables: TableCounts;
  /** All tables' rows together. */
  rows: number;
  /** Attempts each activity took (1 = first try); a direct run counts its one activity as extract. */
  attempts: { extract: number; load?: number; components?: Record<string, number> };
  /** Components of a decomposed run that failed (the run then ended failed, after the others loaded). */
  failed?: FailedComponent[];
}

export interface ScheduledRunInput {
  pipeline: string;
  /** The schedule's grid: a named interval or a length in ms, with its offset from the epoch. */
  every?: ScheduleEvery | number;
  offsetMs?: number;
  /** A cron schedule: the interval comes from the schedule's own matching times. */
  scheduleId?: string;
  /** Late data: also re-run the previous `settle` intervals on each tick (interval replace keeps them exact). */
  settle?: number;
  /** The definition's `sla`: each tick's interval is watched for a committed load by then. */
  sla?: string;
}

/** An interval of a backfill that failed, and why. */
export interface FailedInterval {
  interval: IsoInterval;
  error: string;
}

export interface BackfillInput {
  pipeline: string;
  from: string;
  to: string;
  every: ScheduleEvery | number;
  /** Intervals running at once (default 1). */
  parallel?: number;
  /**
   * The intervals to run, in this order, as indexes into the grid `splitInterval(from, to, every)`
   * (a planned backfill: `--reprocess`, `--backwards`). Absent: every interval, oldest first.
   */
  indexes?: number[];
  /** Continue-as-new state: the next interval index (into `indexes` when given), and the counts so far. */
  next?: number;
  done?: number;
  rows?: number;
  failed?: FailedInterval[];
  /** Children started per run before continuing as new (default 400). */
  childrenPerRun?: number;
  /** Continue-as-new state: paused by a signal. */
  paused?: boolean;
  /** The interval ending at `to` hands the cursor over (RunOptions.handover). */
  handover?: boolean;
}

export interface BackfillProgress {
  total: number;
  done: number;
  running: number;
  failed: number;
  rows: number;
  failedIntervals: FailedInterval[];
  /** Intervals at once now (changed by the setParallel signal); absent from older backfills. */
  parallel?: number;
  paused?: boolean;
}
