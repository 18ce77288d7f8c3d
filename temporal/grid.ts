/**
 * The interval grids of schedules and backfills: how a range splits into intervals and which
 * interval a scheduled run loads. Deterministic (workflows use it): no I/O, no clock.
 */
import { ConfigurationError } from '../pipeline/errors.ts';
import { formatInstant, parseInstant, type IsoInterval } from '../pipeline/interval.ts';
import type { ScheduleEvery } from '../pipeline/define.ts';

const HOUR = 3_600_000;

/** Interval lengths of the named schedules. */
export const EVERY_MS: Record<ScheduleEvery, number> = { hour: HOUR, day: 24 * HOUR, week: 7 * 24 * HOUR };

/**
 * Offsets from the UNIX epoch of each grid: weeks start on Monday 00:00 UTC (the epoch was a
 * Thursday, so the weekly grid is shifted by 4 days).
 */
export const EVERY_OFFSET_MS: Record<ScheduleEvery, number> = { hour: 0, day: 0, week: 4 * 24 * HOUR };

/** The length in ms of a named interval, or a positive length given in ms. */
export function everyMs(every: ScheduleEvery | number): number {
  if (typeof every === 'number') {
    if (!(every > 0)) throw new ConfigurationError(`Interval length must be positive, got ${every}`);
    return every;
  }
  const ms = EVERY_MS[every];
  if (!ms) throw new ConfigurationError(`Unknown interval "${every}": use hour, day or week`);
  return ms;
}

function isoAt(ms: number): string {
  return formatInstant(new Date(ms));
}

/**
 * Splits `[from, to)` into `[from + k·every, from + (k+1)·every)`; the last interval ends at `to`.
 */
export function splitInterval(from: string, to: string, every: ScheduleEvery | number): IsoInterval[] {
  const a = parseInstant(from, 'interval start').getTime();
  const b = parseInstant(to, 'interval end').getTime();
  if (b <= a) throw new ConfigurationError(`Empty interval: ${from} is not before ${to}`);
  const step = everyMs(every);
  const out: IsoInterval[] = [];
  for (let s = a; s < b; s += step) out.push({ start: isoAt(s), end: isoAt(Math.min(s + step, b)) });
  return out;
}

/**
 * The data interval of a run fired at `nominal` on an `every` grid: `[previous tick, this tick)`.
 * A time off the grid (a manual trigger) is floored to the grid first, so it gets the last complete
 * interval, as an Airflow run whose logical date is the last tick.
 */
export function intervalEndingAt(nominalMs: number, every: ScheduleEvery | number, offsetMs = 0): IsoInterval {
  const step = everyMs(every);
  const end = Math.floor((nominalMs - offsetMs) / step) * step + offsetMs;
  return { start: isoAt(end - step), end: isoAt(end) };
}

/** A run's nominal (scheduled) start time as a workflow reads it: a Date, or an ISO string from the legacy attributes. */
export function nominalTime(raw: Date | string): Date {
  return parseInstant(raw, 'scheduled start time');
}
