/**
 * Temporal activities: thin wrappers over `pipeline/`. `extract` stages a load package and returns a
 * reference (never rows), heartbeating its progress; `load` applies the package in one transaction
 * and is idempotent by load id. Errors that retrying cannot fix become non-retryable failures.
 */
import { Context, ApplicationFailure } from '@temporalio/activity';
import { join } from 'node:path';
import type { Pipeline } from '../pipeline/pipeline.ts';
import { pipeline } from '../destinations/default.ts';
import type { PipelineDefinition } from '../pipeline/define.ts';
import type { Destination } from '../pipeline/destination.ts';
import { formatInstant, parseInstant, type IsoInterval } from '../pipeline/interval.ts';
import { tideHome } from '../common/home.ts';
import { totalRows } from '../pipeline/counts.ts';
import type {
  DiscardInput,
  NotifyInput,
  ExtractInput,
  ExtractResult,
  LoadInput,
  LoadResult,
  RunInput,
  RunPlanInput,
  RunPlanResult,
  RunResult,
  ScheduleIntervalInput,
} from '../temporal/payloads.ts';
import { AlreadyLoadedError } from '../pipeline/errors.ts';
import { deliver, notifyEventsOf } from './notify.ts';
import { temporalAddress, temporalNamespace, temporalUiUrl } from '../temporal/connection.ts';
import { componentData, componentsOf, selectResources } from '../pipeline/plan.ts';
import { resolveParams } from '../pipeline/params.ts';
import { DEFAULT_MAX_PARALLEL, packageIdOf } from '../pipeline/decompose.ts';
import { newLoadId } from '../pipeline/load-id.ts';
import type { CheckpointInfo, RunProgress } from '../pipeline/options.ts';
import { toFailure } from './failure.ts';
import { msToTs, tsToMs } from '@temporalio/common/lib/time.js';

export interface ActivityOptions {
  /** One destination (connection pool) shared by every activity of the worker. */
  destination?: Destination;
  /** The local working folder (state is always restored from the destination first). */
  pipelinesDir?: string;
}

/** Runs `fn` on the named pipeline, heartbeating `idle` while it runs (see `createActivities`). */
type WithPipeline = <T>(name: string, idle: Record<string, unknown>, fn: (def: PipelineDefinition, p: Pipeline, ctx: Context) => Promise<T>) => Promise<T>;

/** Builds the activities for a set of pipeline definitions. */
export function createActivities(defs: readonly PipelineDefinition[], opts: ActivityOptions = {}) {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const pipelinesDir = opts.pipelinesDir ?? join(tideHome(), 'worker', 'pipelines');

  const open = (name: string): { def: PipelineDefinition; p: Pipeline } => {
    const def = byName.get(name);
    if (!def) throw ApplicationFailure.nonRetryable(`No pipeline "${name}" on this worker (it has: ${[...byName.keys()].join(', ')})`, 'UnknownPipeline');
    try {
      return { def, p: pipeline({ pipelineName: def.name, datasetName: def.datasetName, destination: def.destination ?? opts.destination, pipelinesDir }) };
    } catch (e) {
      // a bad definition (e.g. a ConfigurationError) fails the activity as the error class says
      throw toFailure(e);
    }
  };

  /**
   * Runs `fn` on the named pipeline with a heartbeat from a timer (a resource waiting on a slow API,
   * or one long load transaction, still shows a live worker; a dead one is noticed at the heartbeat
   * timeout, not at startToClose), typed failures, and the pipeline closed afterwards.
   */
  const withPipeline: WithPipeline = async (name, idle, fn) => {
    const { def, p } = open(name);
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(idle), heartbeatEvery(ctx.info.heartbeatTimeoutMs));
    try {
      return await fn(def, p, ctx);
    } catch (e) {
      throw toFailure(e);
    } finally {
      clearInterval(beat);
      if (!def.destination && !opts.destination) await p.close();
    }
  };

  return {
    scheduleInterval,
    planRun: (input: RunPlanInput) => planRun(withPipeline, input),
    run: (input: RunInput) => run(withPipeline, input),
    extract: (input: ExtractInput) => extract(withPipeline, input),
    load: (input: LoadInput) => load(withPipeline, input),
    notify: (input: NotifyInput) =>
      withPipeline(input.pipeline, { notifying: input.event.event }, async (def, p) => {
        const url = `${temporalUiUrl(temporalAddress())}/namespaces/${encodeURIComponent(temporalNamespace())}/workflows/${encodeURIComponent(input.event.workflowId)}/${input.event.runId}/history`;
        return deliver(def, p, { ...input.event, url });
      }),
    discard: (input: DiscardInput) => withPipeline(input.pipeline, { discarding: true }, (_def, p) => p.discardPackages(input.packages)),
  };
}

/** How a run of the pipeline goes (its definition's decompose options) and its load id. */
function planRun(withPipeline: WithPipeline, input: RunPlanInput): Promise<RunPlanResult> {
  return withPipeline(input.pipeline, { planning: true }, async (def, p) => {
    // bad params (a run started from the Web UI with JSON input, too) fail here, before anything runs
    const params = resolveParams(def.params, input.params, def.name);
    const decompose = def.decompose ?? 'none';
    const data = input.resources?.length || decompose !== 'none' ? selectResources(await def.source(), input.resources) : undefined;
    const components = decompose === 'none' ? [] : componentsOf(data, p.pipelineName);
    const notify = notifyEventsOf(def);
    return {
      loadId: newLoadId(), decompose, maxParallel: def.maxParallel ?? DEFAULT_MAX_PARALLEL, triggerRule: def.triggerRule ?? 'all_success', components,
      ...(def.pool ? { pool: def.pool } : {}),
      ...(def.retries ? { retries: def.retries } : {}),
      ...(def.timeouts ? { timeouts: def.timeouts } : {}),
      ...(notify.length ? { notify } : {}),
      ...(def.params || input.params ? { params: { ...params } } : {}),
    };
  });
}

/** Heartbeats of a run's progress and its resources' checkpoints; `items` as last reported. */
function progressReporter(ctx: Context, packageId?: string) {
  const r = {
    items: 0,
    onProgress: (pr: RunProgress) => {
      r.items = pr.items;
      ctx.heartbeat({ items: pr.items, rows: pr.rows });
    },
    onCheckpoint: (c: CheckpointInfo) => ctx.heartbeat({ ...(packageId ? { packageId } : {}), checkpoint: { [c.resource]: c.value }, kept: c.kept, items: c.items, rows: c.rows }),
  };
  return r;
}

/**
 * Extract and load in one transaction (the fast path: rows COPY'd straight to their tables while
 * the resource runs). A retry after a crash starts over; one after a commit loads nothing twice.
 */
function run(withPipeline: WithPipeline, input: RunInput): Promise<RunResult> {
  return withPipeline(input.pipeline, { waiting: true }, async (def, p, ctx) => {
    const attempt = ctx.info.attempt;
    if (attempt > 1 && (await p.isLoaded(input.loadId))) return { loadId: input.loadId, attempt, applied: false, tables: {}, items: 0 };
    const progress = progressReporter(ctx);
    try {
      const info = await p.run(selectResources(await def.source(), input.resources), {
        ...def.runOptions,
        ...(input.refresh ? { refresh: input.refresh } : {}),
        params: resolveParams(def.params, input.params, def.name),
        interval: input.interval,
        loadId: input.loadId,
        handover: input.handover,
        onProgress: progress.onProgress,
        onCheckpoint: progress.onCheckpoint,
      });
      return { loadId: info.loadId, attempt, applied: info.loadId !== null, tables: info.tables, items: progress.items || totalRows(info.tables) };
    } catch (e) {
      if (e instanceof AlreadyLoadedError) return { loadId: input.loadId, attempt, applied: false, tables: {}, items: progress.items };
      throw e;
    }
  });
}

/**
 * Extract + normalize + stage: the whole source (older workflows), or one component of a
 * decomposed run, resumable from its last checkpoint. Heartbeats `{ items, rows }`.
 */
function extract(withPipeline: WithPipeline, input: ExtractInput): Promise<ExtractResult> {
  return withPipeline(input.pipeline, { waiting: true }, async (def, p, ctx) => {
    const data = selectResources(await def.source(), input.resources);
    const c = input.component;
    const packageId = c && input.loadId ? packageIdOf(input.loadId, c.name) : undefined;
    const progress = progressReporter(ctx, packageId);
    const info = await p.extract(c ? componentData(data, p.pipelineName, c) : data, {
      ...def.runOptions,
      ...(input.refresh ? { refresh: input.refresh } : {}),
      params: resolveParams(def.params, input.params, def.name),
      interval: input.interval,
      loadId: input.loadId,
      packageId,
      handover: input.handover,
      onProgress: progress.onProgress,
      onCheckpoint: progress.onCheckpoint,
    });
    const items = progress.items || totalRows(info.tables);
    return { loadId: info.loadId, attempt: ctx.info.attempt, datasetName: info.datasetName, tables: info.tables, items, ...(info.loadId && packageId ? { packageId } : {}) };
  });
}

/** Applies the staged package(s) of a load in one transaction; a retry after a commit is a no-op. */
function load(withPipeline: WithPipeline, input: LoadInput): Promise<LoadResult> {
  return withPipeline(input.pipeline, { loading: input.loadId }, async (_def, p, ctx) => {
    const r = await p.load(input.loadId, input.packages, input.failed?.map((f) => f.component));
    return { loadId: r.loadId, attempt: ctx.info.attempt, applied: r.applied, tables: r.tables };
  });
}

/**
 * The interval of a cron-scheduled run: `[previous matching time, this one)` of the schedule's
 * spec, read from Temporal (`ListScheduleMatchingTimes`). A time off the spec (a manual trigger)
 * is floored to the last matching time first.
 */
async function scheduleInterval(input: ScheduleIntervalInput): Promise<IsoInterval> {
  const client = Context.current().client;
  const nominal = parseInstant(input.nominal, 'nominal time').getTime();
  const DAY = 86_400_000;
  for (const back of [DAY, 8 * DAY, 32 * DAY, 367 * DAY, 4 * 367 * DAY]) {
    const res = await client.workflowService.listScheduleMatchingTimes({
      namespace: client.options.namespace,
      scheduleId: input.scheduleId,
      startTime: msToTs(nominal - back),
      endTime: msToTs(nominal),
    });
    const times = (res.startTime ?? []).map((t) => tsToMs(t)).filter((t) => t <= nominal).sort((a, b) => a - b);
    if (times.length >= 2) return { start: formatInstant(new Date(times[times.length - 2])), end: formatInstant(new Date(times[times.length - 1])) };
  }
  throw ApplicationFailure.nonRetryable(`Schedule ${input.scheduleId} has no two matching times before ${input.nominal}`, 'NoScheduleInterval');
}

export type TideActivities = ReturnType<typeof createActivities> & { scheduleInterval: typeof scheduleInterval };

/**
 * Every 5 s, or a third of a shorter heartbeat timeout (a definition's `timeouts.heartbeat` of 3 s
 * would otherwise time out every healthy attempt that is between progress heartbeats).
 */
function heartbeatEvery(timeoutMs: number | undefined): number {
  return Math.max(100, Math.min(5_000, (timeoutMs ?? 30_000) / 3));
}
