/**
 * The status of the intervals of a grid from the ledger and Temporal's latest runs, the plan of a
 * backfill, and the terminal grid, exactly (client/intervals.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatGrid, formatPlan, intervalStatuses, lastCompleteInterval, planBackfill } from '../../client/intervals.ts';
import type { IntervalRun } from '../../client/temporal.ts';
import type { LoadRecord } from '../../pipeline/destination.ts';
import { splitInterval } from '../../temporal/grid.ts';

const grid = splitInterval('2026-01-01', '2026-01-08', 'day');
const day = (d: number) => `2026-01-0${d}T00:00:00Z`;
const load = (loadId: string, start: number, end: number, rows: number, failedComponents?: string[]): LoadRecord => ({
  loadId,
  insertedAt: new Date('2026-02-01T10:00:00Z'),
  rows,
  interval: { start: new Date(day(start)), end: new Date(day(end)) },
  ...(failedComponents ? { failedComponents } : {}),
});
const run = (d: number, status: string, error?: string): [string, IntervalRun] => {
  const workflowId = `tide/p/${day(d)}/${day(d + 1)}`;
  return [workflowId, { workflowId, runId: 'r', status, startTime: new Date('2026-02-01T10:00:00Z'), url: `http://ui/${d}`, ...(error ? { error } : {}) }];
};

describe('interval status', () => {
  // day 1 exact; day 2 by two half-day loads; day 3 inside a load of days 3-4 (which replaced a load of day 3);
  // day 5 failed run; day 6 partial load; day 7 running
  const loads = [
    load('1.0', 1, 2, 10),
    { ...load('1.1', 2, 3, 3), interval: { start: new Date(day(2)), end: new Date('2026-01-02T12:00:00Z') } },
    { ...load('1.2', 2, 3, 4), interval: { start: new Date('2026-01-02T12:00:00Z'), end: new Date(day(3)) } },
    load('1.3', 3, 4, 99),
    load('1.4', 3, 5, 20),
    load('1.5', 6, 7, 5, ['b']),
  ];
  const runs = new Map([run(5, 'FAILED', 'upstream broken'), run(7, 'RUNNING'), run(1, 'FAILED', 'an older failure')]);
  const s = intervalStatuses('p', grid, loads, runs);

  it('reads loaded, failed, running and missing', () => {
    expect(s.map((x) => [x.start.slice(8, 10), x.status, x.rows ?? null, x.loadId ?? null, x.error ?? null])).toEqual([
      ['01', 'loaded', 10, '1.0', null],
      ['02', 'loaded', 7, '1.2', null],
      ['03', 'loaded', null, '1.4', null],
      ['04', 'loaded', null, '1.4', null],
      ['05', 'failed', null, null, 'upstream broken'],
      ['06', 'failed', null, null, 'load 1.5 committed without its failed components: b'],
      ['07', 'running', null, null, null],
    ]);
    // without Temporal: failed runs and running ones are not known
    expect(intervalStatuses('p', grid, loads).map((x) => x.status)).toEqual(['loaded', 'loaded', 'loaded', 'loaded', 'missing', 'failed', 'missing']);
  });

  it('a run that completed with nothing to load is loaded with 0 rows', () => {
    const [x] = intervalStatuses('p', grid.slice(0, 1), [], new Map([run(1, 'COMPLETED')]));
    expect(x).toMatchObject({ status: 'loaded', rows: 0, loads: [] });
  });

  it('plans missing (missing or failed, not running), failed, all; backwards', () => {
    const idx = (xs: { index: number }[]) => xs.map((x) => x.index);
    expect(idx(planBackfill(s))).toEqual([4, 5]);
    expect(idx(planBackfill(s, 'failed', true))).toEqual([5, 4]);
    expect(idx(planBackfill(s, 'all', true))).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect(() => planBackfill(s, 'some' as never)).toThrow('--reprocess must be missing, failed or all, got "some"');
  });

  it('prints a grid and a plan', () => {
    expect(formatGrid('p', 'day', s)).toBe(
      [
        'p: 7 intervals every day in [2026-01-01T00:00:00Z → 2026-01-08T00:00:00Z)',
        '  2026-01-01T00:00:00Z  ■■■■✗✗▶',
        '  ■ loaded 4   ✗ failed 2   ▶ running 1   · missing 0',
        '',
        '  2026-01-01T00:00:00Z → 2026-01-02T00:00:00Z  loaded        10  load 1.0 at 2026-02-01T10:00:00Z',
        '  2026-01-02T00:00:00Z → 2026-01-03T00:00:00Z  loaded         7  load 1.2 at 2026-02-01T10:00:00Z',
        '  2026-01-03T00:00:00Z → 2026-01-04T00:00:00Z  loaded         -  load 1.4 at 2026-02-01T10:00:00Z',
        '  2026-01-04T00:00:00Z → 2026-01-05T00:00:00Z  loaded         -  load 1.4 at 2026-02-01T10:00:00Z',
        '  2026-01-05T00:00:00Z → 2026-01-06T00:00:00Z  failed            upstream broken',
        '  2026-01-06T00:00:00Z → 2026-01-07T00:00:00Z  failed            load 1.5 committed without its failed components: b',
        '  2026-01-07T00:00:00Z → 2026-01-08T00:00:00Z  running           http://ui/7',
        '',
      ].join('\n'),
    );
    expect(formatPlan('p', 'day', s, planBackfill(s, 'missing', true), 'missing', true).split('\n').slice(0, 3)).toEqual([
      'p: backfill plan, reprocess missing, newest first, every day',
      '  skip  2026-01-07T00:00:00Z → 2026-01-08T00:00:00Z  running           http://ui/7',
      '  run   2026-01-06T00:00:00Z → 2026-01-07T00:00:00Z  failed            load 1.5 committed without its failed components: b',
    ]);
  });
});

describe('the last complete interval of a schedule (tide trigger and tide dev without --from/--to)', () => {
  it('is on the UTC grid, or between local midnights in a time zone (23 hours across the spring DST change)', () => {
    expect(lastCompleteInterval({ every: 'day' }, Date.parse('2026-03-30T10:00:00Z'))).toEqual({ start: '2026-03-29T00:00:00Z', end: '2026-03-30T00:00:00Z' });
    expect(lastCompleteInterval({ every: 'day', timezone: 'Europe/Berlin' }, Date.parse('2026-03-30T10:00:00Z'))).toEqual({ start: '2026-03-28T23:00:00Z', end: '2026-03-29T22:00:00Z' });
    expect(lastCompleteInterval({ every: 'week', timezone: 'Europe/Berlin' }, Date.parse('2026-12-01T10:00:00Z'))).toEqual({ start: '2026-11-22T23:00:00Z', end: '2026-11-29T23:00:00Z' });
    expect(lastCompleteInterval({ every: 'hour', timezone: 'Asia/Kolkata' }, Date.parse('2026-12-01T10:45:00Z'))).toEqual({ start: '2026-12-01T09:30:00Z', end: '2026-12-01T10:30:00Z' });
    expect(lastCompleteInterval({ cron: '0 6 * * *' }, Date.now())).toBeUndefined();
  });
});
