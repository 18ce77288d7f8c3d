/**
 * External schedulers end to end on Postgres: the seeds' "Under the hood" rules for an incremental
 * with `allowExternalSchedulers` (AF-3, AF-4, AF-5). An interval end in the future becomes now; start
 * == end (a manually triggered run) loads `[start, now)`; the bounds, now included, are converted to
 * the cursor's type (ISO string or Unix timestamp, inferred from `initialValue` or declared).
 *
 * `run()` reads the system clock for "now" (the unit tests in test/unit/incremental.test.ts inject
 * it), so the rows here lie hours away from the time of the test: the loaded rows are exact whatever
 * the clock says, and no test waits for time to pass. The value "now" became is checked to lie
 * between the clock readings taken just before and after the run.
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource } from 'tide';
import type { IncrementalOptions, ResourceContext } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';
import { cursorState, expectedCursor, resourceStateOf } from '../helpers/incremental-util.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Six tickets around an interval start a day before now (on a whole hour): one before the start,
 * one at it, one an hour before now, one an hour after now, one after the interval's end (a week
 * after its start) and one much later.
 */
function scenario() {
  const now = Date.now();
  const start = Math.floor((now - DAY) / HOUR) * HOUR;
  const end = start + 7 * DAY;
  const at = [start - HOUR, start, now - HOUR, now + HOUR, end, end + DAY];
  return { start, end, at };
}

/** A tickets resource whose cursor values are `at` written by `spell`; records what the incremental was bound with. */
function tickets(at: number[], spell: (ms: number) => unknown, options: IncrementalOptions) {
  const bound: { start: unknown; end: unknown; stateless: boolean; empty: boolean }[] = [];
  const r = resource(
    function* tickets_(ctx: ResourceContext) {
      const inc = ctx.incremental!;
      bound.push({ start: inc.startValue, end: inc.endValue, stateless: inc.stateless, empty: inc.emptyRange });
      yield at.map((ms, i) => ({ id: i + 1, updated_at: spell(ms) }));
    },
    { name: 'tickets', primaryKey: 'id', incremental: incremental('updated_at', { allowExternalSchedulers: true, ...options }) },
  );
  return { r, bound };
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const isoNoMs = (ms: number) => iso(Math.floor(ms / 1000) * 1000);
const seconds = (ms: number) => Math.floor(ms / 1000);

/** Runs `fn` and returns its result with the clock readings just before and after it. */
async function clocked<T>(fn: () => Promise<T>): Promise<{ result: T; before: number; after: number }> {
  const before = Date.now();
  const result = await fn();
  return { result, before, after: Date.now() };
}

describe('AF-5: an interval end in the future becomes now', () => {
  it('ISO cursor (style of initialValue): rows up to now only, on every run; no state', async () => {
    const { start, end, at } = scenario();
    const { r, bound } = tickets(at, isoNoMs, { initialValue: '2020-01-01T00:00:00Z' });
    const p = testPipeline({ pipelineName: 'ext_future_iso' });
    for (let run = 1; run <= 2; run++) {
      const { result, before, after } = await clocked(() => p.run(r, { interval: { start: new Date(start), end: new Date(end) } }));
      // tickets 2 (at the start) and 3 (an hour ago); 4 (in an hour) is in the interval but after now
      expect(result.tables).toEqual({ tickets: { rows: 2 } });
      const b = bound[run - 1];
      expect([b.start, b.stateless, b.empty]).toEqual([iso(start), true, false]);
      // now in the initial value's style: `…Z`, with milliseconds because now has them
      expect(b.end).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
      expect(Date.parse(b.end as string)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(b.end as string)).toBeLessThanOrEqual(after);
      expect(resourceStateOf(p, 'ext_future_iso', 'tickets')).toBeUndefined();
    }
    // the second run of the interval replaced the first one's rows (interval replace)
    expect((await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((x) => x.id)).toEqual([2, 3]);
  });

  it('an interval that ends before now is kept: its future-free rows all load', async () => {
    const { start, at } = scenario();
    const { r, bound } = tickets(at, isoNoMs, { initialValue: '2020-01-01T00:00:00Z' });
    const p = testPipeline({ pipelineName: 'ext_past_iso' });
    const end = start + HOUR;
    expect((await p.run(r, { interval: { start: new Date(start), end: new Date(end) } })).tables).toEqual({ tickets: { rows: 1 } });
    expect(bound[0].end).toBe(iso(end));
    expect((await rows(p, 'tickets', 'id', 'id')).map((x) => x.id)).toEqual([2]);
  });
});

describe('AF-5: start == end (a manually triggered run) loads [start, now)', () => {
  it('a past start: every row from start until now; the stored cursor is untouched', async () => {
    const { start, at } = scenario();
    const { r, bound } = tickets(at, isoNoMs, { initialValue: '2020-01-01T00:00:00Z' });
    const p = testPipeline({ pipelineName: 'ext_manual' });

    // a stateful run without an interval first: all six, cursor stored
    expect((await p.run(r)).tables).toEqual({ tickets: { rows: 6 } });
    const stored = expectedCursor('2020-01-01T00:00:00Z', isoNoMs(at[5]), [6], '2020-01-01T00:00:00Z');
    expect(cursorState(p, 'ext_manual', 'tickets', 'updated_at')).toEqual(stored);

    const { result, before, after } = await clocked(() => p.run(r, { interval: { start: new Date(start), end: new Date(start) } }));
    expect(result.tables).toEqual({ tickets: { rows: 2 } });
    expect([bound[1].start, bound[1].stateless, bound[1].empty]).toEqual([iso(start), true, false]);
    expect(Date.parse(bound[1].end as string)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(bound[1].end as string)).toBeLessThanOrEqual(after);
    expect(cursorState(p, 'ext_manual', 'tickets', 'updated_at')).toEqual(stored);
    expect((await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((x) => x.id)).toEqual([1, 2, 2, 3, 3, 4, 5, 6]);
  });

  it('a start after now (the seeds: "a run with a range (now, now)") loads nothing', async () => {
    const { at } = scenario();
    const { r, bound } = tickets(at, isoNoMs, { initialValue: '2020-01-01T00:00:00Z' });
    const p = testPipeline({ pipelineName: 'ext_manual_future' });
    const later = new Date(at[3]); // an hour from now
    const info = await p.run(r, { interval: { start: later, end: later } });
    expect(info.tables).toEqual({});
    expect(bound[0].empty).toBe(true);
    expect(resourceStateOf(p, 'ext_manual_future', 'tickets')).toBeUndefined();
  });
});

describe('AF-4: the interval and now are converted to the cursor type', () => {
  it('a Unix timestamp inferred from an integer initialValue: whole seconds', async () => {
    const { start, end, at } = scenario();
    const { r, bound } = tickets(at, seconds, { initialValue: 1_577_836_800 });
    const p = testPipeline({ pipelineName: 'ext_epoch_inferred' });
    const { result, before, after } = await clocked(() => p.run(r, { interval: { start: new Date(start), end: new Date(end) } }));
    expect(result.tables).toEqual({ tickets: { rows: 2 } });
    expect(bound[0].start).toBe(start / 1000);
    expect(Number.isInteger(bound[0].end)).toBe(true);
    expect(bound[0].end).toBeGreaterThanOrEqual(seconds(before));
    expect(bound[0].end).toBeLessThanOrEqual(seconds(after));
    expect((await rows(p, 'tickets', 'id', 'id, updated_at')).map((x) => [x.id, Number(x.updated_at)])).toEqual([
      [2, seconds(at[1])], [3, seconds(at[2])],
    ]);
    expect(resourceStateOf(p, 'ext_epoch_inferred', 'tickets')).toBeUndefined();
  });

  it('a declared cursorType (epoch_ms, no initialValue), start == end: [start, now) in milliseconds', async () => {
    const { start, at } = scenario();
    const { r, bound } = tickets(at, (ms) => ms, { cursorType: 'epoch_ms' });
    const p = testPipeline({ pipelineName: 'ext_epoch_declared' });
    const { result, before, after } = await clocked(() => p.run(r, { interval: { start: new Date(start), end: new Date(start) } }));
    expect(result.tables).toEqual({ tickets: { rows: 2 } });
    expect(bound[0].start).toBe(start);
    expect(bound[0].end).toBeGreaterThanOrEqual(before);
    expect(bound[0].end).toBeLessThanOrEqual(after);
    expect((await rows(p, 'tickets', 'id', 'id, updated_at')).map((x) => [x.id, Number(x.updated_at)])).toEqual([
      [2, at[1]], [3, at[2]],
    ]);
  });

  it('a declared cursorType iso with ISO rows carrying an offset: compared as instants', async () => {
    const { start, end, at } = scenario();
    const plus2 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000 + 2 * HOUR).toISOString().replace('.000Z', '+02:00');
    const { r, bound } = tickets(at, plus2, { cursorType: 'iso' });
    const p = testPipeline({ pipelineName: 'ext_iso_declared' });
    const { result } = await clocked(() => p.run(r, { interval: { start: new Date(start), end: new Date(end) } }));
    expect(result.tables).toEqual({ tickets: { rows: 2 } });
    expect(bound[0].start).toBe(iso(start));
    expect((await rows(p, 'tickets', 'id', 'id')).map((x) => x.id)).toEqual([2, 3]);
  });
});
