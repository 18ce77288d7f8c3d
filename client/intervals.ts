/**
 * The status of every interval of a range (`tide intervals`) and the plan of a backfill
 * (`tide backfill --reprocess … --dry-run --backwards`), from the destination's ledger (`_dlt_loads`)
 * and, for runs that failed or are running, Temporal's visibility.
 *
 * The status of an interval `[s, e)` of the grid:
 *
 * - `running`: the latest `pipelineRun` of its canonical id `tide/<pipeline>/<s>/<e>` is running.
 * - `loaded`: the committed loads of the pipeline cover it: one over exactly `[s, e)`, loads over
 *   intervals inside it that tile it (daily loads under a weekly grid), or a load over an interval
 *   that contains it (a weekly load under a daily grid; a run over the day alone would fail with
 *   IntervalOverlapError anyway). A load that a later load over an interval containing it replaced
 *   (interval replace) no longer counts, and a load of a decomposed run that committed only some
 *   components (`tide_failed_components`) covers nothing. Its rows are those of the loads inside it
 *   (none when only a larger load covers it). Also `loaded`, with 0 rows and no load id: the latest
 *   run of the interval completed with nothing to load (no ledger row is written then; once
 *   Temporal's history of that run is gone, the interval reads as `missing` and a re-run is cheap).
 * - `failed`: not covered, and either the latest run ended without completing (failed, timed out,
 *   terminated, cancelled; with its error), or the ledger holds a partial load inside it.
 * - `missing`: none of the above.
 *
 * `loaded` and `missing` need only the ledger, so a plan is right after Temporal's history is gone.
 */
import type { LoadRecord } from '../pipeline/destination.ts';
import type { PipelineDefinition, ScheduleEvery, ScheduleSpec } from '../pipeline/define.ts';
import { DateTime } from 'luxon';
import { formatInstant, type IsoInterval } from '../pipeline/interval.ts';
import { TideError } from '../pipeline/errors.ts';
import { EVERY_OFFSET_MS, intervalEndingAt, splitInterval } from '../temporal/grid.ts';
import { intervalWorkflowId } from '../temporal/ids.ts';
import { withDataset } from './dataset.ts';
import { FAILED_STATUSES, type IntervalRun, type TideClient } from './temporal.ts';

export type IntervalStatusName = 'loaded' | 'failed' | 'running' | 'missing';

/** A load of the ledger that counts for an interval. */
export interface IntervalLoad {
  loadId: string;
  start: string;
  end: string;
  rows: number | null;
  insertedAt: string;
}

export interface IntervalStatus {
  /** Its index in the grid of the range (what a planned backfill runs). */
  index: number;
  start: string;
  end: string;
  status: IntervalStatusName;
  /** loaded: the rows of the loads inside the interval (null when only a larger load covers it). */
  rows?: number | null;
  /** loaded: the newest load that covers it, and when it committed. */
  loadId?: string;
  loadedAt?: string;
  /** loaded: the loads that cover it, oldest first. */
  loads?: IntervalLoad[];
  /** failed: why. */
  error?: string;
  /** The canonical workflow id of the interval's runs. */
  workflowId: string;
  /** Its latest run on Temporal, when the history has one. */
  run?: { status: string; runId: string; url: string; startTime: string; closeTime?: string };
}

const instant = (d: Date) => formatInstant(d);
const ms = (iso: string) => Date.parse(iso);

/** Whether the intervals (any order) together cover `[start, end)`. */
function covers(parts: { start: number; end: number }[], start: number, end: number): boolean {
  let reached = start;
  for (const p of [...parts].sort((a, b) => a.start - b.start)) {
    if (p.start > reached) break;
    reached = Math.max(reached, p.end);
    if (reached >= end) return true;
  }
  return reached >= end;
}

/**
 * The status of each interval of a grid, from the ledger's loads over the range (`loads`, any order)
 * and the latest run of each interval (`runs`, by workflow id; absent without Temporal).
 */
export function intervalStatuses(pipeline: string, grid: readonly IsoInterval[], loads: readonly LoadRecord[], runs?: ReadonlyMap<string, IntervalRun>): IntervalStatus[] {
  const withInterval = loads
    .filter((l) => l.interval)
    .map((l) => ({ l, start: l.interval!.start.getTime(), end: l.interval!.end.getTime() }))
    .sort((a, b) => (a.l.loadId < b.l.loadId ? -1 : a.l.loadId > b.l.loadId ? 1 : 0));
  // interval replace: a load over an interval containing an earlier load's took its place
  const current = withInterval.filter((a, i) => !withInterval.slice(i + 1).some((b) => b.start <= a.start && b.end >= a.end));
  return grid.map((iv, index) => {
    const s = ms(iv.start);
    const e = ms(iv.end);
    const workflowId = intervalWorkflowId(pipeline, iv);
    const r = runs?.get(workflowId);
    const base: IntervalStatus = {
      index,
      start: iv.start,
      end: iv.end,
      status: 'missing',
      workflowId,
      ...(r ? { run: { status: r.status, runId: r.runId, url: r.url, startTime: instant(r.startTime), ...(r.closeTime ? { closeTime: instant(r.closeTime) } : {}) } } : {}),
    };
    const overlapping = current.filter((x) => x.start < e && x.end > s);
    const complete = overlapping.filter((x) => !x.l.failedComponents?.length);
    if (r?.status === 'RUNNING') return { ...base, status: 'running' };
    if (complete.length && covers(complete, s, e)) {
      const inside = complete.filter((x) => x.start >= s && x.end <= e);
      const newest = complete[complete.length - 1].l;
      return {
        ...base,
        status: 'loaded',
        rows: inside.length ? inside.reduce((n, x) => n + (x.l.rows ?? 0), 0) : null,
        loadId: newest.loadId,
        loadedAt: instant(newest.insertedAt),
        loads: complete.map((x) => ({ loadId: x.l.loadId, start: instant(x.l.interval!.start), end: instant(x.l.interval!.end), rows: x.l.rows, insertedAt: instant(x.l.insertedAt) })),
      };
    }
    if (r?.status === 'COMPLETED' && !overlapping.length) return { ...base, status: 'loaded', rows: 0, loads: [] };
    if (r && FAILED_STATUSES.has(r.status)) return { ...base, status: 'failed', error: r.error ?? r.status.toLowerCase() };
    const partial = overlapping.filter((x) => x.l.failedComponents?.length).pop();
    if (partial) return { ...base, status: 'failed', error: `load ${partial.l.loadId} committed without its failed components: ${partial.l.failedComponents!.join(', ')}` };
    return base;
  });
}

/**
 * The last complete interval of an `every` schedule at `nowMs`, as a schedule trigger would load it:
 * on the UTC grid, or, with a time zone, between local midnights (weeks from Monday), so a day across
 * a DST change is 23 or 25 hours. Undefined for a cron schedule (its interval comes from the
 * schedule's matching times on the server).
 */
export function lastCompleteInterval(schedule: ScheduleSpec, nowMs: number): IsoInterval | undefined {
  if (!('every' in schedule)) return undefined;
  if (!schedule.timezone) return intervalEndingAt(nowMs, schedule.every, EVERY_OFFSET_MS[schedule.every]);
  const end = DateTime.fromMillis(nowMs, { zone: schedule.timezone }).startOf(schedule.every);
  return { start: instant(end.minus({ [schedule.every]: 1 }).toJSDate()), end: instant(end.toJSDate()) };
}

export type Reprocess = 'missing' | 'failed' | 'all';
export const REPROCESS: readonly Reprocess[] = ['missing', 'failed', 'all'];

/**
 * Which intervals a backfill runs: `missing` (the default) every interval without a committed load
 * (missing or failed) that is not running now; `failed` only the failed ones; `all` every interval.
 * Oldest first, or newest first with `backwards`.
 */
export function planBackfill(statuses: readonly IntervalStatus[], reprocess: Reprocess = 'missing', backwards = false): IntervalStatus[] {
  if (!REPROCESS.includes(reprocess)) throw new TideError(`--reprocess must be missing, failed or all, got "${reprocess}"`);
  const pick = (x: IntervalStatus) => (reprocess === 'all' ? true : reprocess === 'failed' ? x.status === 'failed' : x.status === 'missing' || x.status === 'failed');
  const todo = statuses.filter(pick);
  return backwards ? todo.reverse() : todo;
}

export interface IntervalCounts {
  loaded: number;
  failed: number;
  running: number;
  missing: number;
}

export function countStatuses(statuses: readonly IntervalStatus[]): IntervalCounts {
  const c: IntervalCounts = { loaded: 0, failed: 0, running: 0, missing: 0 };
  for (const x of statuses) c[x.status]++;
  return c;
}

const SYMBOL: Record<IntervalStatusName, string> = { loaded: '■', failed: '✗', running: '▶', missing: '·' };

/** Intervals per line of the grid: a week of days, a day of hours, a quarter of weeks. */
function perLine(every: ScheduleEvery): number {
  return every === 'hour' ? 24 : every === 'week' ? 13 : 7;
}

/** One line per interval: its bounds, status, rows and load, or its error. */
export function intervalLine(x: IntervalStatus): string {
  const rows = x.rows === undefined ? '' : x.rows === null ? '-' : String(x.rows);
  const detail =
    x.status === 'loaded'
      ? x.loadId
        ? `load ${x.loadId} at ${x.loadedAt}`
        : 'nothing to load'
      : x.status === 'failed'
        ? x.error!
        : x.status === 'running'
          ? (x.run?.url ?? '')
          : '';
  return `${x.start} → ${x.end}  ${x.status.padEnd(7)} ${rows.padStart(8)}  ${detail}`.trimEnd();
}

/** Every interval listed up to this many; beyond, only those not loaded. */
const LIST_ALL_UP_TO = 100;

/** The terminal view: a grid of one symbol per interval, the counts, and the intervals. */
export function formatGrid(pipeline: string, every: ScheduleEvery, statuses: readonly IntervalStatus[]): string {
  const n = perLine(every);
  const out: string[] = [];
  const first = statuses[0];
  const last = statuses[statuses.length - 1];
  out.push(`${pipeline}: ${statuses.length} intervals every ${every} in [${first.start} → ${last.end})`);
  for (let i = 0; i < statuses.length; i += n) {
    out.push(`  ${statuses[i].start}  ${statuses.slice(i, i + n).map((x) => SYMBOL[x.status]).join('')}`);
  }
  const c = countStatuses(statuses);
  out.push(`  ${(Object.keys(SYMBOL) as IntervalStatusName[]).map((k) => `${SYMBOL[k]} ${k} ${c[k]}`).join('   ')}`);
  const listed = statuses.length <= LIST_ALL_UP_TO ? statuses : statuses.filter((x) => x.status !== 'loaded');
  if (listed.length) {
    out.push('');
    if (listed.length < statuses.length) out.push(`  intervals not loaded (--json lists every interval):`);
    for (const x of listed) out.push(`  ${intervalLine(x)}`);
  }
  return `${out.join('\n')}\n`;
}

/** What `--dry-run` prints: every interval with its status, and whether the backfill would run it. */
export function formatPlan(pipeline: string, every: ScheduleEvery, statuses: readonly IntervalStatus[], plan: readonly IntervalStatus[], reprocess: Reprocess, backwards: boolean): string {
  const run = new Set(plan.map((x) => x.index));
  const out = [`${pipeline}: backfill plan, reprocess ${reprocess}, ${backwards ? 'newest' : 'oldest'} first, every ${every}`];
  const ordered = backwards ? [...statuses].reverse() : statuses;
  for (const x of ordered) out.push(`  ${run.has(x.index) ? 'run ' : 'skip'}  ${intervalLine(x)}`);
  out.push(`would run ${plan.length} of ${statuses.length} intervals; dry run: nothing started`);
  return `${out.join('\n')}\n`;
}

/**
 * Reads the status of every interval of `[from, to)` on the `every` grid: the ledger of the
 * pipeline's dataset, and the intervals' latest runs when a Temporal client is given.
 */
export async function readIntervals(
  def: PipelineDefinition,
  range: { from: string; to: string; every: ScheduleEvery },
  client?: TideClient,
): Promise<{ grid: IsoInterval[]; statuses: IntervalStatus[] }> {
  const grid = splitInterval(range.from, range.to, range.every);
  const from = grid[0].start;
  const to = grid[grid.length - 1].end;
  const loads = await withDataset(def, def.datasetName ?? `${def.name}_dataset`, (c) => c.intervalLoads(def.name, from, to));
  const runs = client ? await client.intervalRuns(def.name, grid) : undefined;
  return { grid, statuses: intervalStatuses(def.name, grid, loads, runs) };
}

/**
 * The plan of a backfill: the status of every interval, the intervals to run in their order (with
 * `handover`, the last interval always: the handover is its run's), and
 * the `indexes` to start the workflow with (undefined when the plan is the whole grid, oldest first,
 * as an unplanned backfill runs it).
 */
export async function backfillPlan(
  def: PipelineDefinition,
  opts: { from: string; to: string; every: ScheduleEvery; reprocess?: Reprocess; backwards?: boolean; handover?: boolean },
  client: TideClient,
): Promise<{ statuses: IntervalStatus[]; plan: IntervalStatus[]; indexes?: number[] }> {
  const reprocess = opts.reprocess ?? 'missing';
  if (!REPROCESS.includes(reprocess)) throw new TideError(`--reprocess must be missing, failed or all, got "${reprocess}"`);
  const { statuses } = await readIntervals(def, opts, client);
  const plan = planBackfill(statuses, reprocess, opts.backwards);
  // --handover happens in the run of the interval ending at --to: it runs even when loaded
  const last = statuses[statuses.length - 1];
  if (opts.handover && !plan.includes(last)) opts.backwards ? plan.unshift(last) : plan.push(last);
  const whole = plan.length === statuses.length && plan.every((x, i) => x.index === i);
  return { statuses, plan, ...(whole ? {} : { indexes: plan.map((x) => x.index) }) };
}
