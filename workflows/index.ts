/**
 * tide's workflows. Deterministic code only: no I/O, no clock, no randomness; activities are
 * imported as types.
 *
 * - `pipelineRun`: one run of a pipeline over an optional data interval: activity `extract`, then
 *   activity `load` (idempotent by load id).
 * - `scheduledRun`: started by a Temporal Schedule; derives `[previous tick, this tick)` from the
 *   schedule's nominal time and runs the interval as a child with the canonical id.
 * - `backfill`: splits a range into intervals and runs them as children, at most `parallel` at once,
 *   continuing-as-new before its history grows large.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  continueAsNew,
  isCancellation,
  defineQuery,
  defineSignal,
  executeChild,
  getCurrentDetails,
  patched,
  proxyActivities,
  proxySinks,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { TideActivities } from '../activities/index.ts';
import { intervalEndingAt, nominalTime, splitInterval } from '../temporal/grid.ts';
import { BACKFILL_PROGRESS_QUERY, PAUSE_SIGNAL, RESUME_SIGNAL, RUN_PRIORITY, SET_PARALLEL_SIGNAL, intervalWorkflowId, poolTaskQueue, scheduleId, slaWorkflowId } from '../temporal/ids.ts';
import {
  addDiscarded,
  eachInLanes,
  hasSchemaChanges,
  mergeSchemaChanges,
  readTableCounts,
  totalRows,
  type SchemaReport,
  type BackfillInput,
  type Component,
  type FailedComponent,
  type LoadResult,
  type RunPlanResult,
  type IsoInterval,
  type TableCounts,
  type BackfillProgress,
  type ExtractResult,
  type PipelineRunInput,
  type PipelineRunResult,
  type RunKind,
  type RunSelection,
  type ScheduledRunInput,
  type SlaWatchInput,
} from '../temporal/payloads.ts';
import { activityOptionsFor, activityRetryPolicy } from '../temporal/retry.ts';
import { SCHEDULED_START_TIME, resultAttributes, runAttributes } from '../temporal/search-attributes.ts';
import type { TideSinks } from '../temporal/sinks.ts';
import { activityCause, failureEvent, notifyQuietly, reportFailure, reportSuccess, runEvent, slaWatch } from './alerts.ts';

export { slaWatch } from './alerts.ts';

const { tideMetrics } = proxySinks<TideSinks>();

// run, extract and load heartbeat every 5 s from a timer: a killed worker's attempt is retried after 30 s
// (activityOptionsFor: tide's defaults, with a definition's retries and timeouts over them)
const { extract } = proxyActivities<TideActivities>(activityOptionsFor('extract'));
const { scheduleInterval } = proxyActivities<TideActivities>({
  startToCloseTimeout: '1 minute',
  retry: activityRetryPolicy(5),
});
const { load, discard } = proxyActivities<TideActivities>(activityOptionsFor('load'));
const { planRun } = proxyActivities<TideActivities>({
  startToCloseTimeout: '5 minutes',
  retry: activityRetryPolicy(5),
});

/** Workflows started before decompose existed replay their extract → load; new ones plan first. */
const RUN_PLAN_PATCH = 'tide-run-plan';

/**
 * One run. Decompose 'none': one activity extracts and loads in one transaction. 'serialize' /
 * 'parallel': one extract activity per component, then one load activity commits them all.
 */
async function runPipeline(input: PipelineRunInput): Promise<PipelineRunResult> {
  if (!patched(RUN_PLAN_PATCH)) return stagedRun(input);
  const plan = await planRun({ pipeline: input.pipeline, ...selectionOf(input) });
  // the params as the worker validated them (defaults applied): in the memo from the start
  if (plan.params) upsertMemo({ params: plan.params });
  let result: PipelineRunResult;
  try {
    result = plan.decompose === 'none' ? await directRun(input, plan) : await decomposedRun(input, plan);
  } catch (e) {
    // a run cancelled (its backfill was) is not a failure to report
    if (!isCancellation(e)) await reportFailure(plan, failureEvent(input, e));
    throw e;
  }
  if (result.failed?.length) {
    await reportFailure(plan, { ...runEvent(input, 'failure'), loadId: result.loadId, tables: result.tables, error: { type: 'ComponentsFailed', message: result.failed.map((f) => `${f.component}: ${f.error}`).join('; ') } });
  } else await reportSuccess(plan, { ...runEvent(input, 'success'), loadId: result.loadId, tables: result.tables, attempts: result.attempts });
  if (result.loadId && result.schemaChanges && hasSchemaChanges(result.schemaChanges)) {
    await notifyQuietly(plan, { ...runEvent(input, 'schema_change'), loadId: result.loadId, tables: result.tables, schemaChanges: result.schemaChanges });
  }
  upsertSearchAttributes(resultAttributes(result.rows, result.loadId, result.schemaChanges && hasSchemaChanges(result.schemaChanges)));
  upsertMemo({
    summary: summarize(input.pipeline, input.interval, result.tables, result.loadId, result.failed) + summarizeSchema(result),
    tables: result.tables, attempts: result.attempts, failed: result.failed ?? [], ...reportOf(result),
  });
  if (result.failed?.length) {
    throw ApplicationFailure.nonRetryable(
      `${input.pipeline}: ${result.failed.length} of ${plan.components.length} components failed (${result.failed.map((f) => `${f.component}: ${f.error}`).join('; ')}); the others ${result.loadId ? `loaded in ${result.loadId}` : 'had nothing to load'}`,
      'ComponentsFailed',
      result,
    );
  }
  return result;
}

/** One run (runPipeline), told to the worker's metrics when it ends (no command: replay-safe). */
export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const ended = (status: 'completed' | 'failed' | 'cancelled') =>
    tideMetrics.runFinished({ pipeline: input.pipeline, kind: input.kind ?? 'manual', status, durationMs: Date.now() - workflowInfo().runStartTime.getTime() });
  try {
    const result = await runPipeline(input);
    ended('completed');
    return result;
  } catch (e) {
    ended(isCancellation(e) ? 'cancelled' : 'failed');
    showLog([`${input.pipeline}: run failed: ${failureMessage(e)} (all its lines: tide runs ${input.pipeline} --logs ${workflowInfo().runId})`]);
    throw e;
  }
}

/** Adds a step's log lines to the run's details in the Web UI (its "current details"; no command). */
function showLog(lines: string[] | undefined): void {
  if (!lines?.length) return;
  const shown = getCurrentDetails().replace(/^```\n|\n```$/g, '');
  setCurrentDetails(`\`\`\`\n${[...(shown ? [shown] : []), ...lines].join('\n')}\n\`\`\``);
}

/** The params, resources and refresh of a run, as its activities take them (only those given). */
function selectionOf(input: PipelineRunInput, plan?: RunPlanResult): RunSelection {
  const params = plan?.params ?? input.params;
  return { ...(params ? { params } : {}), ...(input.resources ? { resources: input.resources } : {}), ...(input.refresh ? { refresh: input.refresh } : {}) };
}

/** A run's load activity, with the definition's retries and timeouts. */
function loading(plan: RunPlanResult) {
  return proxyActivities<TideActivities>(activityOptionsFor('load', plan));
}

/** Where a run's extracting activities go: the pool's task queue, when the pipeline has a pool. */
function extracting(plan: RunPlanResult, summary?: string) {
  return proxyActivities<TideActivities>({
    ...activityOptionsFor('extract', plan),
    ...(plan.pool ? { taskQueue: poolTaskQueue(workflowInfo().taskQueue, plan.pool) } : {}),
    ...(summary ? { summary } : {}),
  });
}

async function directRun(input: PipelineRunInput, plan: RunPlanResult): Promise<PipelineRunResult> {
  const { run } = extracting(plan);
  const r = await run({ pipeline: input.pipeline, interval: input.interval, kind: input.kind, loadId: plan.loadId, ...(input.handover ? { handover: true } : {}), ...selectionOf(input, plan) });
  showLog(r.log);
  const tables = readTableCounts(r.tables);
  return { pipeline: input.pipeline, interval: input.interval, loadId: r.loadId, applied: r.applied, tables, rows: totalRows(tables), attempts: { extract: r.attempt }, ...reportOf(r) };
}

/** The schema report of an activity's result, when it has one (results recorded before it existed have none). */
function reportOf(r: SchemaReport): SchemaReport {
  return { ...(r.schemaChanges ? { schemaChanges: r.schemaChanges } : {}), ...(r.discarded ? { discarded: r.discarded } : {}) };
}

/** The components' reports together: each change once, the discarded counts added up. */
function reportOfAll(results: SchemaReport[]): SchemaReport {
  const out: SchemaReport = {};
  for (const r of results) {
    if (r.schemaChanges) out.schemaChanges = out.schemaChanges ? mergeSchemaChanges(out.schemaChanges, r.schemaChanges) : r.schemaChanges;
    if (r.discarded) out.discarded = addDiscarded(out.discarded ?? {}, r.discarded);
  }
  return out;
}

/** The extract activity of one component, named after it in the Web UI. */
async function extractComponent(input: PipelineRunInput, plan: RunPlanResult, component: Component): Promise<ExtractResult> {
  const { extract: ex } = extracting(plan, `extract ${component.name}`);
  const r = await ex({ pipeline: input.pipeline, interval: input.interval, kind: input.kind, loadId: plan.loadId, component, ...(input.handover ? { handover: true } : {}), ...selectionOf(input, plan) });
  showLog(r.log);
  return r;
}

type ComponentOutcome = { component: Component; result?: ExtractResult; error?: string; failure?: unknown };

/** Extracts the components, at most `limit` at once; unless `keepGoing`, the first failure starts nothing new. */
async function extractComponents(input: PipelineRunInput, plan: RunPlanResult, only?: Set<string>): Promise<ComponentOutcome[]> {
  const todo = plan.components.filter((c) => !only || only.has(c.name));
  const limit = plan.decompose === 'parallel' ? plan.maxParallel : 1;
  const outcomes = await eachInLanes(todo, limit, plan.triggerRule === 'all_done', (component) => extractComponent(input, plan, component));
  return outcomes.map((o) => (o.error === undefined ? { component: o.item, result: o.result } : { component: o.item, error: failureMessage(o.error), failure: o.error }));
}

function failureMessage(e: unknown): string {
  const cause = activityCause(e);
  return (cause as Error)?.message ?? String(cause);
}

async function decomposedRun(input: PipelineRunInput, plan: RunPlanResult): Promise<PipelineRunResult> {
  let outcomes = await extractComponents(input, plan);
  const failed = outcomes.flatMap((o) => (o.error !== undefined ? [{ component: o.component.name, error: o.error }] : []));
  const packagesOf = (os: ComponentOutcome[]) => os.flatMap((o) => (o.result?.packageId ? [o.result.packageId] : []));
  if (failed.length && plan.triggerRule !== 'all_done') {
    await discard({ pipeline: input.pipeline, packages: packagesOf(outcomes) });
    // the component's own activity failure, as a direct run's would be
    throw outcomes.find((o) => o.failure !== undefined)!.failure;
  }
  const attempts: PipelineRunResult['attempts'] = { extract: Math.max(0, ...outcomes.map((o) => o.result?.attempt ?? 0)), components: {} };
  for (const o of outcomes) if (o.result) attempts.components![o.component.name] = o.result.attempt;
  let loaded: LoadResult | undefined;
  // a package that is gone (its staging emptied by a server restart) is extracted again, then loaded
  for (let round = 0; packagesOf(outcomes).length && !loaded; round++) {
    try {
      loaded = await loading(plan).load({ pipeline: input.pipeline, loadId: plan.loadId, packages: packagesOf(outcomes), failed });
      showLog(loaded.log);
    } catch (e) {
      if (round >= 2 || !isPackageGone(e)) throw e;
      // whatever is left of this run's packages goes; every component is extracted afresh
      await discard({ pipeline: input.pipeline, packages: packagesOf(outcomes) });
      const again = new Set(outcomes.filter((o) => o.result?.packageId).map((o) => o.component.name));
      const redone = await extractComponents(input, { ...plan, triggerRule: 'all_success' }, again);
      outcomes = outcomes.map((o) => redone.find((r) => r.component === o.component) ?? o);
      const stillFailed = redone.find((r) => r.error !== undefined);
      if (stillFailed) throw ApplicationFailure.nonRetryable(`${input.pipeline}: component ${stillFailed.component.name} failed when extracted again: ${stillFailed.error}`, 'ComponentFailed');
    }
  }
  if (loaded) attempts.load = loaded.attempt;
  const tables = readTableCounts(loaded?.tables ?? {});
  const loadId = loaded ? plan.loadId : null;
  const report = reportOfAll(outcomes.flatMap((o) => (o.result ? [o.result] : [])));
  return { pipeline: input.pipeline, interval: input.interval, loadId, applied: loaded?.applied ?? false, tables, rows: totalRows(tables), attempts, ...(failed.length ? { failed } : {}), ...report };
}

function isPackageGone(e: unknown): boolean {
  return e instanceof ActivityFailure && e.cause instanceof ApplicationFailure && e.cause.type === 'PackageGoneError';
}

/** Runs of workflows started before the run plan: extract (stage) → load. */
async function stagedRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const ex: ExtractResult = await extract({ pipeline: input.pipeline, interval: input.interval, kind: input.kind });
  let applied = false;
  let tables = readTableCounts(ex.tables);
  const attempts: PipelineRunResult['attempts'] = { extract: ex.attempt };
  if (ex.loadId) {
    const r = await load({ pipeline: input.pipeline, loadId: ex.loadId });
    applied = r.applied;
    attempts.load = r.attempt;
    tables = Object.keys(r.tables).length ? readTableCounts(r.tables) : tables;
  }
  const rows = totalRows(tables);
  upsertSearchAttributes(resultAttributes(rows, ex.loadId));
  upsertMemo({ summary: summarize(input.pipeline, input.interval, tables, ex.loadId), tables, attempts });
  return { pipeline: input.pipeline, interval: input.interval, loadId: ex.loadId, applied, tables, rows, attempts };
}

function summarize(pipeline: string, interval: IsoInterval | undefined, tables: TableCounts, loadId: string | null, failed?: FailedComponent[]): string {
  const iv = interval ? ` [${interval.start} → ${interval.end})` : '';
  const t = Object.entries(tables)
    .map(([k, v]) => `${k}: ${v.rows}`)
    .join(', ');
  const partial = failed?.length ? `; FAILED: ${failed.map((f) => f.component).join(', ')}` : '';
  return `${pipeline}${iv}: ${loadId ? `load ${loadId}, ${t || 'no rows'}` : 'nothing new'}${partial}`;
}

/** The schema part of a run's Web UI summary: what it added and what its contract dropped (empty when neither). */
function summarizeSchema(r: SchemaReport): string {
  const c = r.schemaChanges;
  const parts: string[] = [];
  if (c?.tables.length) parts.push(`new tables ${c.tables.join(', ')}`);
  if (c?.columns.length) parts.push(`new columns ${c.columns.map((x) => `${x.table}.${x.column} (${x.dataType})`).join(', ')}`);
  if (c?.variants.length) parts.push(`new variant columns ${c.variants.map((x) => `${x.table}.${x.column} (${x.dataType})`).join(', ')}`);
  const dropped = Object.entries(r.discarded ?? {}).map(([t, d]) => `${t}: ${d.rows} rows, ${d.values} values`);
  if (dropped.length) parts.push(`discarded by the schema contract ${dropped.join('; ')}`);
  return parts.length ? `; schema: ${parts.join('; ')}` : '';
}

function childOptions(pipeline: string, interval: IsoInterval, kind: RunKind, handover = false) {
  return {
    workflowId: intervalWorkflowId(pipeline, interval),
    args: [{ pipeline, interval, kind, ...(handover ? { handover } : {}) }] as [PipelineRunInput],
    // a cancelled backfill or scheduled run cancels its running interval (a backfill continues as new
    // only when none runs)
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    priority: { priorityKey: RUN_PRIORITY[kind] },
    staticSummary: `${pipeline} [${interval.start} → ${interval.end}) ${kind}`,
    typedSearchAttributes: runAttributes(pipeline, kind, interval),
  };
}

/**
 * Runs one interval as a child with the canonical id. If that interval is already running (a
 * backfill and the schedule met on it), waits and tries again: one interval never runs twice at once.
 */
async function runInterval(pipeline: string, interval: IsoInterval, kind: RunKind, handover = false): Promise<PipelineRunResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await executeChild(pipelineRun, childOptions(pipeline, interval, kind, handover));
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError && attempt < 360) {
        await sleep('10 seconds');
        continue;
      }
      throw e;
    }
  }
}

/**
 * The action of a tide schedule. Its interval is `[previous tick, this tick)` of the run's nominal
 * time (`TemporalScheduledStartTime`), never the wall clock, so late, caught-up and backfilled runs
 * load exactly their own interval.
 */
export async function scheduledRun(input: ScheduledRunInput): Promise<PipelineRunResult> {
  const info = workflowInfo();
  const typed = info.typedSearchAttributes.get(SCHEDULED_START_TIME);
  const legacy = (info.searchAttributes as Record<string, unknown[] | undefined>)?.TemporalScheduledStartTime?.[0];
  const raw = (typed ?? legacy) as Date | string | undefined;
  if (raw === undefined || raw === null) {
    throw ApplicationFailure.nonRetryable('scheduledRun was not started by a schedule (no TemporalScheduledStartTime)', 'NotScheduled');
  }
  tideMetrics.scheduleLag(input.pipeline, info.startTime.getTime() - nominalTime(raw).getTime());
  const interval = await intervalBefore(input, nominalTime(raw));
  upsertSearchAttributes(runAttributes(input.pipeline, 'scheduled', interval));
  if (input.sla) await startSlaWatch({ pipeline: input.pipeline, interval, sla: input.sla });
  const result = await runInterval(input.pipeline, interval, 'scheduled');
  // late-arriving rows: the previous `settle` intervals again, newest first; interval replace keeps them exact
  let earlier = interval;
  for (let k = 0; k < (input.settle ?? 0); k++) {
    earlier = await intervalBefore(input, new Date(earlier.start));
    await runInterval(input.pipeline, earlier, 'scheduled');
  }
  return result;
}

/** Starts the interval's SLA watch, once: it outlives this run (a failed run still has its SLA). */
async function startSlaWatch(input: SlaWatchInput): Promise<void> {
  try {
    await startChild(slaWatch, {
      workflowId: slaWorkflowId(input.pipeline, input.interval),
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `${input.pipeline} [${input.interval.start} → ${input.interval.end}) due loaded within ${input.sla} of its end`,
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
  }
}

/** The schedule's interval that ends at `nominal` (a tick, or the start of a later interval). */
async function intervalBefore(input: ScheduledRunInput, nominal: Date): Promise<IsoInterval> {
  if (input.every !== undefined) return intervalEndingAt(nominal.getTime(), input.every, input.offsetMs ?? 0);
  return scheduleInterval({ scheduleId: input.scheduleId ?? scheduleId(input.pipeline), nominal: nominal.toISOString() });
}

export const backfillProgress = defineQuery<BackfillProgress>(BACKFILL_PROGRESS_QUERY);
/** Changes a running backfill's parallelism (`tide backfill … --parallel N` on one that runs). */
export const setParallelSignal = defineSignal<[number]>(SET_PARALLEL_SIGNAL);
/** Starts no new interval until resumed (the running ones finish). */
export const pauseSignal = defineSignal(PAUSE_SIGNAL);
export const resumeSignal = defineSignal(RESUME_SIGNAL);

/**
 * Loads `[from, to)` interval by interval (or only the intervals `indexes` lists, in its order), at
 * most `parallel` at once. Cursor state is never touched:
 * each child carries its interval, which resources with `allowExternalSchedulers` take as bounds.
 * Signals change the parallelism or pause and resume it. Cancelling it cancels the running children
 * (each interval is one transaction: it committed or left nothing). Fails at the end (after every
 * interval ran) if any interval failed, listing them.
 */
export async function backfill(input: BackfillInput): Promise<BackfillProgress> {
  const grid = splitInterval(input.from, input.to, input.every);
  // a planned backfill runs only the intervals it lists, in its order
  const intervals = input.indexes ? input.indexes.map((i) => grid[i]) : grid;
  if (intervals.some((iv) => iv === undefined)) throw ApplicationFailure.nonRetryable(`backfill: an interval index is outside the ${grid.length} intervals of [${input.from} → ${input.to})`, 'BadBackfillInput');
  let parallel = Math.max(1, input.parallel ?? 1);
  let paused = input.paused ?? false;
  /** bumped by every signal: the loop wakes up to look at the new settings */
  let control = 0;
  const perRun = input.childrenPerRun ?? 400;
  let next = input.next ?? 0;
  let done = input.done ?? 0;
  let rows = input.rows ?? 0;
  const failed = [...(input.failed ?? [])];
  const running = new Set<number>();
  let startedThisRun = 0;
  setHandler(backfillProgress, () => ({ total: intervals.length, done, running: running.size, failed: failed.length, rows, failedIntervals: failed, parallel, paused }));
  setHandler(setParallelSignal, (n) => void ((parallel = Math.max(1, Math.floor(n) || 1)), control++));
  setHandler(pauseSignal, () => void ((paused = true), control++));
  setHandler(resumeSignal, () => void ((paused = false), control++));
  upsertSearchAttributes(runAttributes(input.pipeline, 'backfill', { start: grid[0].start, end: grid[grid.length - 1].end }));

  const start = (idx: number) => {
    const iv = intervals[idx];
    running.add(idx);
    // --handover: the interval that ends the backfill (the grid's last, wherever a plan puts it) moves the stored cursor to its end
    void runInterval(input.pipeline, iv, 'backfill', !!input.handover && iv.end === grid[grid.length - 1].end).then(
      (r) => {
        done++;
        rows += r.rows;
        running.delete(idx);
      },
      (e: unknown) => {
        const cause = e instanceof ChildWorkflowFailure ? (e.cause?.cause ?? e.cause ?? e) : e;
        failed.push({ interval: iv, error: (cause as Error)?.message ?? String(cause) });
        running.delete(idx);
      },
    );
    startedThisRun++;
  };

  while (next < intervals.length || running.size > 0) {
    const mayStart = !paused && startedThisRun < perRun && !workflowInfo().continueAsNewSuggested;
    while (mayStart && running.size < parallel && next < intervals.length) start(next++);
    const seen = control;
    if (running.size === 0 && paused) {
      await condition(() => control !== seen);
      continue;
    }
    // drained: continue as new so the history stays small
    if (running.size === 0) await continueAsNew<typeof backfill>({ ...input, next, done, rows, failed, parallel, paused });
    const size = running.size;
    await condition(() => running.size < size || control !== seen);
  }
  const progress = { total: intervals.length, done, running: 0, failed: failed.length, rows, failedIntervals: failed };
  if (failed.length) {
    throw ApplicationFailure.nonRetryable(
      `${failed.length} of ${intervals.length} intervals failed: ${failed.map((f) => `[${f.interval.start} → ${f.interval.end}) ${f.error}`).join('; ')}`,
      'BackfillIntervalsFailed',
      progress,
    );
  }
  return progress;
}
