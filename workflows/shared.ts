/**
 * Pure, deterministic helpers shared by workflows and the client: intervals, ids, search attributes.
 * No I/O, no clock, no randomness.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DEFAULT_TASK_QUEUE = 'tide';

export type Every = 'hour' | 'day' | 'week';

const HOUR = 3_600_000;
/** Interval lengths of the named schedules. */
export const EVERY_MS: Record<Every, number> = { hour: HOUR, day: 24 * HOUR, week: 7 * 24 * HOUR };
/**
 * Offsets from the UNIX epoch of each grid: weeks start on Monday 00:00 UTC (the epoch was a
 * Thursday, so the weekly grid is shifted by 4 days).
 */
export const EVERY_OFFSET_MS: Record<Every, number> = { hour: 0, day: 0, week: 4 * 24 * HOUR };

export interface Interval {
  start: string;
  end: string;
}

export function everyMs(every: Every | number): number {
  if (typeof every === 'number') {
    if (!(every > 0)) throw new Error(`Interval length must be positive, got ${every}`);
    return every;
  }
  const ms = EVERY_MS[every];
  if (!ms) throw new Error(`Unknown interval "${every}": use hour, day or week`);
  return ms;
}

/** ISO-8601 without milliseconds when they are zero (readable ids). */
export function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * Splits `[from, to)` into `[from + k·every, from + (k+1)·every)`; the last interval ends at `to`.
 */
export function splitInterval(from: string, to: string, every: Every | number): Interval[] {
  const a = Date.parse(from);
  const b = Date.parse(to);
  if (Number.isNaN(a) || Number.isNaN(b)) throw new Error(`Invalid interval bounds: ${from} → ${to}`);
  if (b <= a) throw new Error(`Empty interval: ${from} is not before ${to}`);
  const step = everyMs(every);
  const out: Interval[] = [];
  for (let s = a; s < b; s += step) out.push({ start: iso(s), end: iso(Math.min(s + step, b)) });
  return out;
}

/**
 * The data interval of a run fired at `nominal` on an `every` grid: `[previous tick, this tick)`.
 * A time off the grid (a manual trigger) is floored to the grid first, so it gets the last complete
 * interval, as an Airflow run whose logical date is the last tick.
 */
export function intervalEndingAt(nominalMs: number, every: Every | number, offsetMs = 0): Interval {
  const step = everyMs(every);
  const end = Math.floor((nominalMs - offsetMs) / step) * step + offsetMs;
  return { start: iso(end - step), end: iso(end) };
}

/** The canonical id of one interval's run: every path (schedule, backfill, manual) meets on it. */
export function intervalWorkflowId(pipeline: string, interval: Interval): string {
  return `tide/${pipeline}/${interval.start}/${interval.end}`;
}

export function scheduleId(pipeline: string): string {
  return `tide/${pipeline}`;
}

export function backfillWorkflowId(pipeline: string, from: string, to: string): string {
  return `tide/${pipeline}/backfill/${from}/${to}`;
}

/** Search attributes tide sets on its runs (registered at worker / dev start). */
export const SA = {
  pipeline: defineSearchAttributeKey('TidePipeline', SearchAttributeType.KEYWORD),
  kind: defineSearchAttributeKey('TideKind', SearchAttributeType.KEYWORD),
  intervalStart: defineSearchAttributeKey('TideIntervalStart', SearchAttributeType.DATETIME),
  intervalEnd: defineSearchAttributeKey('TideIntervalEnd', SearchAttributeType.DATETIME),
  rows: defineSearchAttributeKey('TideRows', SearchAttributeType.INT),
  loadId: defineSearchAttributeKey('TideLoadId', SearchAttributeType.KEYWORD),
} as const;

export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);
