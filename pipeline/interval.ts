/**
 * THE data interval of a run, and tide's one time module.
 *
 * Inside the engine an interval is `{ start: Date, end: Date }`, half-open `[start, end)`. ISO-8601
 * strings appear only on the wire (Temporal payloads: `IsoInterval`) and in the ledger; luxon
 * `DateTime`s only where the public contract shows them (`ctx.interval`, built in `extract.ts`).
 *
 * Pure: no I/O, no clock, no imports with side effects, so the Temporal workflow bundle may use it.
 */
import { parseIso } from './incremental/compare.ts';
import { ConfigurationError } from './errors.ts';

/** A data interval `[start, end)`. */
export interface Interval {
  readonly start: Date;
  readonly end: Date;
}

/** An interval as ISO-8601 strings: the form Temporal payloads carry. */
export interface IsoInterval {
  start: string;
  end: string;
}

/** What `run({ interval })` accepts: Dates, ISO-8601 strings or luxon DateTimes (anything with `toJSDate()`). */
export type InstantInput = Date | string | { toJSDate(): Date };
export type IntervalInput = { start: InstantInput; end: InstantInput };

/**
 * Reads one instant. Strings are ISO-8601 dates or date-times, UTC unless they carry an offset.
 *
 * The parser is the incremental cursor's (`parseIso`): a bound and a cursor value written the same
 * way name the same instant. The normalizer has its own (`parseIsoTimestamp`) because it must accept
 * exactly what dlt's type detection accepts, which is a different question.
 */
export function parseInstant(v: InstantInput, what: string): Date {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw invalid(v, what);
    return v;
  }
  if (typeof v === 'string') {
    const p = parseIso(v.trim());
    if (!p) throw invalid(v, what);
    return new Date(p.ms);
  }
  if (v !== null && typeof v === 'object' && typeof v.toJSDate === 'function') return parseInstant(v.toJSDate(), what);
  throw invalid(v, what);
}

function invalid(v: unknown, what: string): ConfigurationError {
  return new ConfigurationError(`Invalid ${what}: ${String(v)} (use ISO-8601, e.g. 2024-01-01 or 2024-01-01T00:00:00Z)`, { value: v });
}

/** An interval from any accepted input; `end` before `start` is an error (equal bounds: an empty interval). */
export function toInterval(input: IntervalInput, what = 'interval'): Interval {
  const start = parseInstant(input.start, `${what} start`);
  const end = parseInstant(input.end, `${what} end`);
  if (end < start) throw new ConfigurationError(`Invalid ${what}: end ${formatInstant(end)} is before start ${formatInstant(start)}`);
  return Object.freeze({ start, end });
}

/**
 * A data interval as an external scheduler hands it to an incremental with `allowExternalSchedulers`:
 * Airflow's `data_interval_end` may be absent (AF-5). Every `Interval` is one.
 */
export interface SchedulerInterval {
  readonly start: Date;
  readonly end?: Date | null;
}

/**
 * AF-5: the range `[start, end)` an incremental loads from a scheduler's interval, given the time
 * `now` (injected: this module reads no clock). dlt's "Under the hood" rules for Airflow:
 * - an end that is absent, or later than now, becomes now (nothing from the future is loaded);
 * - start == end is a manually triggered run: its end becomes now, so it loads `[start, now)`.
 * A start later than now leaves nothing to load: the range is `[start, start)`, empty.
 * Only the incremental's range follows these rules; the run's interval (`ctx.interval`, the ledger,
 * workflow ids) stays as given.
 */
export function schedulerRange(i: SchedulerInterval, now: Date): Interval {
  const { start } = i;
  const end = i.end ?? undefined;
  if (end !== undefined && end.getTime() <= now.getTime() && end.getTime() !== start.getTime()) return Object.freeze({ start, end });
  return Object.freeze({ start, end: now.getTime() < start.getTime() ? start : now });
}

/** ISO-8601 in UTC, without milliseconds when they are zero (readable ids and payloads). */
export function formatInstant(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

/** The wire form of an interval. */
export function toIsoInterval(i: Interval): IsoInterval {
  return { start: formatInstant(i.start), end: formatInstant(i.end) };
}

/** `TIDE_INTERVAL_START` / `TIDE_INTERVAL_END` (both or neither): the only place env intervals are read. */
export function intervalFromEnv(env: Record<string, string | undefined> = process.env): Interval | undefined {
  const s = env.TIDE_INTERVAL_START;
  const e = env.TIDE_INTERVAL_END;
  if (!s && !e) return undefined;
  if (!s || !e) throw new ConfigurationError('Set both TIDE_INTERVAL_START and TIDE_INTERVAL_END (ISO-8601), or neither');
  return toInterval({ start: s, end: e }, 'TIDE_INTERVAL_START/END');
}

/** An instant as ISO-8601 UTC with milliseconds; an ISO string's microseconds are kept (dlt stores them). */
export function formatInstantMicros(v: InstantInput, what: string): string {
  const iso = parseInstant(v, what).toISOString();
  const micros = typeof v === 'string' ? /T\d\d:\d\d:\d\d[.,](\d{4,6})/.exec(v)?.[1] : undefined;
  return micros ? iso.replace(/\.\d{3}/, `.${micros}`) : iso;
}
