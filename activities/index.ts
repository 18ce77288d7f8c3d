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
import { tideHome } from '../common/home.ts';
import type {
  DiscardInput,
  IntervalLoadedInput,
  NotifyInput,
  RecordOutcomeInput,
  ExtractInput,
  ExtractResult,
  LoadInput,
  LoadResult,
  RunInput,
  RunPlanInput,
  RunPlanResult,
  RunResult,
} from '../temporal/payloads.ts';
import { AlreadyLoadedError } from '../pipeline/errors.ts';
import { announcingRetry, deliver, notifyEventsOf, runUrl } from './notify.ts';
import { intervalLoaded, pauseSchedule, scheduleInterval } from './schedule.ts';
import { componentData, componentsOf, selectResources } from '../pipeline/plan.ts';
import { resolveParams } from '../pipeline/params.ts';
import { DEFAULT_MAX_PARALLEL, packageIdOf } from '../pipeline/decompose.ts';
import { newLoadId } from '../pipeline/load-id.ts';
import type { CheckpointInfo, RunProgress } from '../pipeline/options.ts';
import { toFailure } from './failure.ts';
import { StepLog } from '../pipeline/run-log.ts';

export interface ActivityOptions {
  /** One destination (connection pool) shared by every activity of the worker. */
  destination?: Destination;
  /** The local working folder (state is always restored from the destination first). */
  pipelinesDir?: string;
  /** Told of every attempt of a run's steps once it ended (the worker's metrics). */
  observer?: (pipeline: string, step: StepLog) => void;
}

/**
 * Runs `fn` on the named pipeline, heartbeating `idle` while it runs (see `createActivities`); with a
 * step log, the pipeline's lines go to it and it is kept with the run.
 */
type WithPipeline = <T>(name: string, idle: Record<string, unknown>, fn: (def: PipelineDefinition, p: Pipeline, ctx: Context) => Promise<T>, log?: StepLog) => Promise<T>;

/** Builds the activities for a set of pipeline definitions. */
export function createActivities(defs: readonly PipelineDefinition[], opts: ActivityOptions = {}) {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const pipelinesDir = opts.pipelinesDir ?? join(tideHome(), 'worker', 'pipelines');

  const open = (name: string, log?: StepLog): { def: PipelineDefinition; p: Pipeline } => {
    const def = byName.get(name);
    if (!def) throw ApplicationFailure.nonRetryable(`No pipeline "${name}" on this worker (it has: ${[...byName.keys()].join(', ')})`, 'UnknownPipeline');
    // warnings still reach the worker's stderr as well
    const lines = log ? { log: log.info, warn: (m: string) => (log.warn(m), process.stderr.write(`tide warning: ${m}\n`)) } : {};
    try {
      return { def, p: pipeline({ pipelineName: def.name, datasetName: def.datasetName, destination: def.destination ?? opts.destination, pipelinesDir, ...lines }) };
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
  const withPipeline: WithPipeline = async (name, idle, fn, log) => {
    const { def, p } = open(name, log);
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(idle), heartbeatEvery(ctx.info.heartbeatTimeoutMs));
    try {
      return await fn(def, p, ctx);
    } catch (e) {
      log?.failed(e);
      log?.close('failed');
      throw toFailure(e);
    } finally {
      clearInterval(beat);
      if (log) await keep(p, ctx, log);
      if (!def.destination && !opts.destination) await p.close();
    }
  };

  /** The step's lines kept with the run; a destination that cannot take them costs the run nothing. */
  const keep = async (p: Pipeline, ctx: Context, log: StepLog): Promise<void> => {
    log.close('done');
    opts.observer?.(p.pipelineName, log);
    // an activity run outside a workflow (a test's mock environment) belongs to no run
    const run = ctx.info.workflowExecution;
    if (!run) return;
    const { workflowId, runId } = run;
    await p.appendRunLog({ workflowId, runId, loadId: log.loadId }, log.lines).catch((e: Error) => process.stderr.write(`tide worker: the log of ${workflowId} was not kept: ${e.message}\n`));
  };

  return {
    scheduleInterval,
    planRun: (input: RunPlanInput) => planRun(withPipeline, input),
    run: (input: RunInput) => run(withPipeline, input),
    extract: (input: ExtractInput) => extract(withPipeline, input),
    load: (input: LoadInput) => load(withPipeline, input),
    notify: (input: NotifyInput) =>
      withPipeline(input.pipeline, { notifying: input.event.event }, (def, p) => deliver(def, p, { ...input.event, url: runUrl(input.event.workflowId, input.event.runId) })),
    recordOutcome: (input: RecordOutcomeInput) =>
      withPipeline(input.pipeline, { recording: input.outcome }, (_def, p) => p.recordOutcome(input.runKey, input.outcome)),
    pauseSchedule,
    intervalLoaded: (input: IntervalLoadedInput) => withPipeline(input.pipeline, { checking: input.interval }, (_def, p) => intervalLoaded(p, input.interval)),
    discard: (input: DiscardInput) => withPipeline(input.pipeline, { discarding: true }, (_def, p) => p.discardPackages(input.packages)),
  };
}

/** How a run of the pipeline goes (its definition's decompose options) and its load id. */
function planRun(withPipeline: WithPipeline, input: RunPlanInput): Promise<RunPlanResult> {
  return withPipeline(input.pipeline, { planning: true }, async (def, p) => {
    // bad params (a run started from the Web UI with JSON input, too) fail here, before anything runs
    const params = resolveParams(def.params, input.params, def.name);
    const decompose = def.decompose ?? 'none';
    const data = input.resources?.length || decompose !== 'none' ? selectResources(await def.source({ params }), input.resources) : undefined;
    const components = decompose === 'none' ? [] : componentsOf(data, p.pipelineName);
    const notify = notifyEventsOf(def);
    return {
      loadId: newLoadId(), decompose, maxParallel: def.maxParallel ?? DEFAULT_MAX_PARALLEL, triggerRule: def.triggerRule ?? 'all_success', components,
      ...(def.pool ? { pool: def.pool } : {}),
      ...(def.retries ? { retries: def.retries } : {}),
      ...(def.timeouts ? { timeouts: def.timeouts } : {}),
      ...(notify.length ? { notify } : {}),
      ...(def.schedule?.pauseOnFailure ? { pauseOnFailure: def.schedule.pauseOnFailure } : {}),
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
  const log = new StepLog('run', Context.current().info.attempt);
  log.loadId = input.loadId;
  return withPipeline(input.pipeline, { waiting: true }, async (def, p, ctx) => {
    const attempt = ctx.info.attempt;
    const done = (r: Omit<RunResult, 'log'>): RunResult => {
      if (!r.applied) log.info(r.loadId ? `load ${r.loadId} was committed by an earlier attempt` : 'nothing new to load');
      log.loaded = r.tables;
      log.items = r.items;
      log.tables(r.tables, 'loaded');
      return { ...r, log: log.close('done') };
    };
    if (attempt > 1 && (await p.isLoaded(input.loadId))) return done({ loadId: input.loadId, attempt, applied: false, tables: {}, items: 0 });
    const progress = progressReporter(ctx);
    try {
      const params = resolveParams(def.params, input.params, def.name);
      const info = await announcingRetry(def, p, ctx, 'extract', input, async () => p.run(selectResources(await def.source({ params }), input.resources), {
        ...def.runOptions,
        ...(input.refresh ? { refresh: input.refresh } : {}),
        params,
        interval: input.interval,
        loadId: input.loadId,
        handover: input.handover,
        onProgress: progress.onProgress,
        onCheckpoint: progress.onCheckpoint,
      }));
      return done({ loadId: info.loadId, attempt, applied: info.loadId !== null, tables: info.tables, items: progress.items, schemaChanges: info.schemaChanges, discarded: info.discarded });
    } catch (e) {
      if (e instanceof AlreadyLoadedError) return done({ loadId: input.loadId, attempt, applied: false, tables: {}, items: progress.items });
      throw e;
    }
  }, log);
}

/**
 * Extract + normalize + stage: the whole source (older workflows), or one component of a
 * decomposed run, resumable from its last checkpoint. Heartbeats `{ items, rows }`.
 */
function extract(withPipeline: WithPipeline, input: ExtractInput): Promise<ExtractResult> {
  const log = new StepLog('extract', Context.current().info.attempt, input.component?.name);
  log.loadId = input.loadId ?? null;
  return withPipeline(input.pipeline, { waiting: true }, async (def, p, ctx) => {
    const params = resolveParams(def.params, input.params, def.name);
    const data = selectResources(await def.source({ params }), input.resources);
    const c = input.component;
    const packageId = c && input.loadId ? packageIdOf(input.loadId, c.name) : undefined;
    const progress = progressReporter(ctx, packageId);
    const info = await announcingRetry(def, p, ctx, 'extract', input, async () => p.extract(c ? componentData(data, p.pipelineName, c) : data, {
      ...def.runOptions,
      ...(input.refresh ? { refresh: input.refresh } : {}),
      params,
      interval: input.interval,
      loadId: input.loadId,
      packageId,
      handover: input.handover,
      onProgress: progress.onProgress,
      onCheckpoint: progress.onCheckpoint,
    }));
    const items = progress.items;
    log.loadId = info.loadId;
    log.items = items;
    log.tables(info.tables, 'staged');
    return {
      loadId: info.loadId, attempt: ctx.info.attempt, datasetName: info.datasetName, tables: info.tables, items, ...(info.loadId && packageId ? { packageId } : {}),
      schemaChanges: info.schemaChanges, discarded: info.discarded, log: log.close('done'),
    };
  }, log);
}

/** Applies the staged package(s) of a load in one transaction; a retry after a commit is a no-op. */
function load(withPipeline: WithPipeline, input: LoadInput): Promise<LoadResult> {
  const log = new StepLog('load', Context.current().info.attempt);
  log.loadId = input.loadId;
  return withPipeline(input.pipeline, { loading: input.loadId }, async (def, p, ctx) => {
    const r = await announcingRetry(def, p, ctx, 'load', {}, () => p.load(input.loadId, input.packages, input.failed?.map((f) => f.component)));
    if (r.applied) {
      log.loaded = r.tables;
      log.tables(r.tables, 'loaded');
    } else log.info(`load ${r.loadId} was committed by an earlier attempt`);
    return { loadId: r.loadId, attempt: ctx.info.attempt, applied: r.applied, tables: r.tables, log: log.close('done') };
  }, log);
}

export type TideActivities = ReturnType<typeof createActivities>;

/**
 * Every 5 s, or a third of a shorter heartbeat timeout (a definition's `timeouts.heartbeat` of 3 s
 * would otherwise time out every healthy attempt that is between progress heartbeats).
 */
function heartbeatEvery(timeoutMs: number | undefined): number {
  return Math.max(100, Math.min(5_000, (timeoutMs ?? 30_000) / 3));
}
