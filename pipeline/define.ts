/**
 * `definePipeline`: what a pipelines module default-exports, for `tide run`, the worker and schedules.
 */
import { ConfigurationError } from './errors.ts';
import type { Resource, Source } from './resource.ts';
import type { RunOptions } from './options.ts';
import type { Destination } from './destination.ts';
import type { SchemaChanges } from './schema.ts';
import { checkParamSpecs, type ParamSpecs } from './params.ts';

export type ScheduleEvery = 'hour' | 'day' | 'week';
/**
 * When a pipeline runs on Temporal. `settle`: on each tick, also re-run the previous N intervals
 * (late-arriving data; interval replace keeps them exact). `timezone` (IANA): `every` ticks at local
 * midnight (days, weeks) and cron reads local time; a day is then 23 or 25 hours across a DST change.
 * `startAt` / `endAt`: the schedule's first and last possible ticks; with `catchup: true` (default
 * false) a `startAt` in the past runs every interval since then when the schedule is created.
 * `catchupWindow`: ticks missed during downtime are run within it (default 7 days; `catchup: false`
 * keeps only a minute). `overlap`: what a tick does while the previous run still runs (default
 * 'buffer_all'). `jitter`: each tick starts up to that much later ('5m'). `pauseOnFailure: N`: after N
 * consecutive failed runs of the pipeline (any kind) the schedule is paused, with a note saying why
 * (shown by `tide schedule list` and in the failure notification); unpausing it starts the count anew.
 */
export type ScheduleSpec = ({ every: ScheduleEvery } | { cron: string }) & {
  settle?: number;
  timezone?: string;
  startAt?: string | Date;
  endAt?: string | Date;
  catchup?: boolean;
  catchupWindow?: string;
  overlap?: ScheduleOverlap;
  jitter?: string;
  pauseOnFailure?: number;
};

export type ScheduleOverlap = 'skip' | 'buffer_one' | 'buffer_all' | 'cancel_other' | 'terminate_other' | 'allow_all';

export interface PipelineDefinition {
  /** The pipeline name (state key, CLI argument, schedule id part). */
  name: string;
  datasetName?: string;
  /**
   * Builds what a run loads: a source, a resource, or data. Called once per run (and by `planRun`),
   * with the run's validated params, so a declarative source can take them (`restApiSource` with a
   * `baseUrl` naming the repository a run was given).
   */
  source: (run: SourceArgs) => Source | Resource | unknown | Promise<Source | Resource | unknown>;
  /** When the pipeline runs on Temporal. */
  schedule?: ScheduleSpec;
  /** Options passed to every run (write disposition, table name …). */
  runOptions?: Omit<RunOptions, 'interval' | 'onProgress' | 'params'>;
  /**
   * The params a run takes (`tide trigger … --param name=value`, the workflow input's `params`),
   * validated before the run starts and handed to resources as `ctx.params` (see `pipeline/params.ts`).
   */
  params?: ParamSpecs;
  destination?: Destination | 'postgres';
  /**
   * How a run is split (dlt's Airflow `decompose`). `'none'` (default): one extract-and-load task, one
   * transaction, the fast path. `'serialize'` / `'parallel'`: one extract task per component (a
   * resource with its transformers), each retried on its own and resumable from its checkpoints,
   * one after another or at most `maxParallel` at once; then one load task commits every component's
   * data, the merged state and one `_dlt_loads` row together.
   */
  decompose?: Decompose;
  /** Components extracted at once with `decompose: 'parallel'` (default 4). */
  maxParallel?: number;
  /**
   * `'all_success'` (default): a component that fails (after its retries) fails the run and nothing
   * loads. `'all_done'`: the other components still load (data and state), the failed one's state
   * stays as it was, and the run ends failed, naming it.
   */
  triggerRule?: TriggerRule;
  /**
   * A pool of workers' capacity this pipeline's extracts share with the other pipelines of the pool
   * (one API, one source database): its extract activities run on the pool's task queue, which
   * `tide worker --pool NAME=N[,rate=R/s]` serves N at a time (and at most R per second).
   */
  pool?: string;
  /**
   * Alerts: a JSON POST to `webhook` for the run events in `on` (default `['failure']`), sent by an
   * activity once per run and event (header `Idempotency-Key: <workflow id>/<run id>/<event>`; a
   * retry event's key also names the failed activity attempt).
   */
  notify?: { webhook?: string; on?: NotifyEvent[] };
  /** Called on the worker after a run failed (its retries exhausted); a hook that throws never fails the run. */
  onFailure?: (event: RunEvent) => void | Promise<void>;
  /** Called on the worker after a run committed. */
  onSuccess?: (event: RunEvent) => void | Promise<void>;
  /**
   * A scheduled interval is due loaded this long after its end ('2h'); when it has no committed load
   * by then, `sla_miss` is sent once (checked by a workflow the scheduled run starts; read when the
   * schedule is created or updated).
   */
  sla?: string;
  /** Retry policies of the extracting (`run` / `extract`) and `load` activities; unset fields keep tide's defaults. */
  retries?: { extract?: RetrySpec; load?: RetrySpec };
  /** Start-to-close timeouts of the extracting and load activities, and their heartbeat timeout ('2h', '30s', …). */
  timeouts?: { extract?: string; load?: string; heartbeat?: string };
}

/** What `definePipeline({ source })` is called with. */
export interface SourceArgs {
  /** The run's params, validated, defaults applied (`{}` when the pipeline declares none). */
  params: Readonly<Record<string, string | number | boolean>>;
}

/** An activity retry policy: attempts (1 = no retry), first wait, its growth and its cap ('1s', '1m', …). */
export interface RetrySpec {
  maximumAttempts?: number;
  initialInterval?: string;
  backoffCoefficient?: number;
  maximumInterval?: string;
}

export type Decompose = 'none' | 'serialize' | 'parallel';

/**
 * Run events a pipeline can be notified of. `failure`: a run failed, its retries exhausted.
 * `success`: a run committed. `retry`: an attempt of a run's extracting or load activity failed and
 * will be retried. `sla_miss`: an interval had no committed load `sla` after its end. `recovered`:
 * the first run that committed after failed ones. `schema_change`: a run's load changed the schema
 * (new tables, columns or variant columns).
 */
export type NotifyEvent = 'failure' | 'success' | 'retry' | 'sla_miss' | 'recovered' | 'schema_change';

/** What a notification carries. */
export interface RunEvent {
  event: NotifyEvent;
  pipeline: string;
  kind?: string;
  interval?: { start: string; end: string };
  loadId?: string | null;
  /** rows per table of the committed load */
  tables?: Record<string, { rows: number }>;
  error?: { type?: string; message: string; resource?: string; table?: string; column?: string };
  attempts?: Record<string, unknown>;
  /** failure, recovered: failed runs of the pipeline in a row (up to this one; before this one for recovered) */
  consecutiveFailures?: number;
  /** failure: this failure paused the pipeline's schedule (`schedule.pauseOnFailure`) */
  schedulePaused?: boolean;
  /** schema_change: the tables, columns and variant columns the run's load added */
  schemaChanges?: SchemaChanges;
  /** sla_miss: the SLA and the time by which the interval was due */
  sla?: { within: string; due: string };
  /** the run in the Temporal Web UI */
  url?: string;
  workflowId: string;
  runId: string;
}
export type TriggerRule = 'all_success' | 'all_done';

/** Declares a pipeline for the CLI and the Temporal worker. */
export function definePipeline(def: PipelineDefinition): Readonly<PipelineDefinition> {
  if (!def?.name || typeof def.name !== 'string') throw new ConfigurationError('definePipeline() needs a name');
  if (typeof def.source !== 'function') throw new ConfigurationError(`definePipeline("${def.name}") needs source: () => source | resource | data`);
  if (def.schedule && !('every' in def.schedule) && !('cron' in def.schedule)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule is { every: 'hour' | 'day' | 'week' } or { cron }`);
  }
  if (def.schedule && 'every' in def.schedule && !['hour', 'day', 'week'].includes(def.schedule.every)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule.every must be 'hour', 'day' or 'week', got "${def.schedule.every}"`);
  }
  if (def.schedule?.settle !== undefined && !(Number.isInteger(def.schedule.settle) && def.schedule.settle >= 0)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule.settle must be a whole number ≥ 0, got ${def.schedule.settle}`);
  }
  if (def.pool !== undefined && !(typeof def.pool === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(def.pool))) {
    throw new ConfigurationError(`definePipeline("${def.name}"): pool must be a name of letters, digits, '_', '.' or '-', got ${JSON.stringify(def.pool)}`);
  }
  checkDecompose(def);
  checkPolicy(def);
  checkNotify(def);
  if (def.schedule) checkSchedule(def.name, def.schedule);
  checkParamSpecs(def.name, def.params);
  return Object.freeze({ ...def });
}

function checkDecompose(def: PipelineDefinition): void {
  const where = `definePipeline("${def.name}")`;
  if (def.decompose !== undefined && !['none', 'serialize', 'parallel'].includes(def.decompose)) {
    throw new ConfigurationError(`${where}: decompose must be 'none', 'serialize' or 'parallel', got "${def.decompose}"`);
  }
  if (def.maxParallel !== undefined && !(Number.isInteger(def.maxParallel) && def.maxParallel >= 1)) {
    throw new ConfigurationError(`${where}: maxParallel must be a whole number ≥ 1, got ${def.maxParallel}`);
  }
  if (def.triggerRule !== undefined && !['all_success', 'all_done'].includes(def.triggerRule)) {
    throw new ConfigurationError(`${where}: triggerRule must be 'all_success' or 'all_done', got "${def.triggerRule}"`);
  }
}

const DURATION = /^\d+(\.\d+)?\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/;

/** `what` (the option, named as the error shows it) is unset or a duration such as '30s', '5m', '2h'. */
function checkDuration(what: string, v: unknown): void {
  if (v !== undefined && !(typeof v === 'string' && DURATION.test(v.trim()))) throw new ConfigurationError(`${what} must be a duration such as '30s', '5m', '2h' or '7 days', got ${JSON.stringify(v)}`);
}

function checkPolicy(def: PipelineDefinition): void {
  const where = `definePipeline("${def.name}")`;
  const duration = (what: string, v: unknown) => checkDuration(`${where}: ${what}`, v);
  for (const [k, r] of Object.entries(def.retries ?? {}) as [string, RetrySpec | undefined][]) {
    if (!['extract', 'load'].includes(k)) throw new ConfigurationError(`${where}: retries has extract and load, not "${k}"`);
    if (r?.maximumAttempts !== undefined && !(Number.isInteger(r.maximumAttempts) && r.maximumAttempts >= 1)) {
      throw new ConfigurationError(`${where}: retries.${k}.maximumAttempts must be a whole number ≥ 1, got ${r.maximumAttempts}`);
    }
    if (r?.backoffCoefficient !== undefined && !(r.backoffCoefficient >= 1)) throw new ConfigurationError(`${where}: retries.${k}.backoffCoefficient must be ≥ 1, got ${r.backoffCoefficient}`);
    duration(`retries.${k}.initialInterval`, r?.initialInterval);
    duration(`retries.${k}.maximumInterval`, r?.maximumInterval);
  }
  for (const [k, v] of Object.entries(def.timeouts ?? {})) {
    if (!['extract', 'load', 'heartbeat'].includes(k)) throw new ConfigurationError(`${where}: timeouts has extract, load and heartbeat, not "${k}"`);
    duration(`timeouts.${k}`, v);
  }
}

function checkSchedule(name: string, s: ScheduleSpec): void {
  const where = `definePipeline("${name}"): schedule`;
  if (s.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s.timezone });
    } catch {
      throw new ConfigurationError(`${where}.timezone "${s.timezone}" is not an IANA time zone (e.g. 'Europe/Berlin')`);
    }
  }
  for (const k of ['startAt', 'endAt'] as const) {
    const v = s[k];
    if (v !== undefined && Number.isNaN(new Date(v).getTime())) throw new ConfigurationError(`${where}.${k} is not a date: ${JSON.stringify(v)}`);
  }
  for (const k of ['catchupWindow', 'jitter'] as const) checkDuration(`${where}.${k}`, s[k]);
  if (s.pauseOnFailure !== undefined && !(Number.isInteger(s.pauseOnFailure) && s.pauseOnFailure >= 1)) {
    throw new ConfigurationError(`${where}.pauseOnFailure must be a whole number ≥ 1 (failed runs in a row), got ${JSON.stringify(s.pauseOnFailure)}`);
  }
  if (s.overlap !== undefined && !['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'].includes(s.overlap)) {
    throw new ConfigurationError(`${where}.overlap must be skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all, got "${s.overlap}"`);
  }
}

export const NOTIFY_EVENTS: readonly NotifyEvent[] = ['failure', 'success', 'retry', 'sla_miss', 'recovered', 'schema_change'];

function checkNotify(def: PipelineDefinition): void {
  const where = `definePipeline("${def.name}")`;
  const n = def.notify;
  if (n?.webhook !== undefined && !/^https?:\/\//.test(n.webhook)) throw new ConfigurationError(`${where}: notify.webhook must be an http(s) URL, got ${JSON.stringify(n.webhook)}`);
  for (const e of n?.on ?? []) if (!NOTIFY_EVENTS.includes(e)) throw new ConfigurationError(`${where}: notify.on has ${NOTIFY_EVENTS.join(', ')}, not "${e}"`);
  for (const h of ['onFailure', 'onSuccess'] as const) if (def[h] !== undefined && typeof def[h] !== 'function') throw new ConfigurationError(`${where}: ${h} must be a function`);
  checkDuration(`${where}: sla`, def.sla);
  if (def.sla !== undefined && !def.schedule) throw new ConfigurationError(`${where}: sla applies to scheduled intervals: the pipeline needs a schedule`);
}
