/** The interval grids of backfills and schedules (temporal/grid.ts): pure, no servers. */
import { describe, expect, it } from 'vitest';
import { ConfigurationError } from 'tide';
import { EVERY_MS, EVERY_OFFSET_MS, everyMs, intervalEndingAt, splitInterval } from '../../temporal/grid.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('splitInterval', () => {
  it('splits a range into whole intervals of the grid', () => {
    expect(splitInterval('2026-01-01T00:00:00Z', '2026-01-04T00:00:00Z', 'day')).toEqual([
      { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' },
      { start: '2026-01-02T00:00:00Z', end: '2026-01-03T00:00:00Z' },
      { start: '2026-01-03T00:00:00Z', end: '2026-01-04T00:00:00Z' },
    ]);
  });

  it('ends the last interval at `to` when the range is not a whole number of intervals', () => {
    expect(splitInterval('2026-01-05', '2026-01-20', 'week')).toEqual([
      { start: '2026-01-05T00:00:00Z', end: '2026-01-12T00:00:00Z' },
      { start: '2026-01-12T00:00:00Z', end: '2026-01-19T00:00:00Z' },
      { start: '2026-01-19T00:00:00Z', end: '2026-01-20T00:00:00Z' },
    ]);
  });

  it('gives one interval when the range is shorter than the grid', () => {
    expect(splitInterval('2026-01-01T00:00:00Z', '2026-01-01T00:30:00Z', 'hour')).toEqual([{ start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:30:00Z' }]);
  });

  it('accepts a length in ms, date-only bounds and offsets, and writes UTC without zero milliseconds', () => {
    expect(splitInterval('2026-01-01', '2026-01-01T01:00:00+00:30', 15 * 60_000)).toEqual([
      { start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:15:00Z' },
      { start: '2026-01-01T00:15:00Z', end: '2026-01-01T00:30:00Z' },
    ]);
    expect(splitInterval('2026-01-01T00:00:00.250Z', '2026-01-01T02:00:00Z', 'hour')).toEqual([
      { start: '2026-01-01T00:00:00.250Z', end: '2026-01-01T01:00:00.250Z' },
      { start: '2026-01-01T01:00:00.250Z', end: '2026-01-01T02:00:00Z' },
    ]);
  });

  it('rejects an empty or reversed range', () => {
    expect(() => splitInterval('2026-01-02', '2026-01-02', 'day')).toThrow(new ConfigurationError('Empty interval: 2026-01-02 is not before 2026-01-02'));
    expect(() => splitInterval('2026-01-03', '2026-01-02', 'day')).toThrow(new ConfigurationError('Empty interval: 2026-01-03 is not before 2026-01-02'));
  });

  it('rejects bounds that are not ISO-8601', () => {
    expect(() => splitInterval('yesterday', '2026-01-02', 'day')).toThrow(ConfigurationError);
    expect(() => splitInterval('yesterday', '2026-01-02', 'day')).toThrow('Invalid interval start: yesterday');
    expect(() => splitInterval('2026-01-01', '2026-13-01', 'day')).toThrow('Invalid interval end: 2026-13-01');
  });

  it('rejects an unknown or non-positive interval length', () => {
    expect(() => splitInterval('2026-01-01', '2026-01-02', 'month' as 'day')).toThrow(new ConfigurationError('Unknown interval "month": use hour, day or week'));
    expect(() => splitInterval('2026-01-01', '2026-01-02', 0)).toThrow(new ConfigurationError('Interval length must be positive, got 0'));
    expect(() => splitInterval('2026-01-01', '2026-01-02', -HOUR)).toThrow(new ConfigurationError(`Interval length must be positive, got ${-HOUR}`));
  });
});

describe('schedule grids', () => {
  it('have the lengths of an hour, a day and a week', () => {
    expect(EVERY_MS).toEqual({ hour: HOUR, day: DAY, week: 7 * DAY });
    expect([everyMs('hour'), everyMs('day'), everyMs('week'), everyMs(90_000)]).toEqual([HOUR, DAY, 7 * DAY, 90_000]);
  });

  it('start weeks on Monday 00:00 UTC (the epoch was a Thursday)', () => {
    expect(EVERY_OFFSET_MS).toEqual({ hour: 0, day: 0, week: 4 * DAY });
    const monday = new Date(EVERY_OFFSET_MS.week);
    expect(monday.toISOString()).toBe('1970-01-05T00:00:00.000Z');
    expect(monday.getUTCDay()).toBe(1);
  });

  it('give a run on a tick the interval that ends at that tick', () => {
    expect(intervalEndingAt(Date.parse('2026-02-01T06:00:00Z'), 'hour', EVERY_OFFSET_MS.hour)).toEqual({ start: '2026-02-01T05:00:00Z', end: '2026-02-01T06:00:00Z' });
    expect(intervalEndingAt(Date.parse('2026-02-01T00:00:00Z'), 'day', EVERY_OFFSET_MS.day)).toEqual({ start: '2026-01-31T00:00:00Z', end: '2026-02-01T00:00:00Z' });
    // 2026-02-02 is a Monday
    expect(intervalEndingAt(Date.parse('2026-02-02T00:00:00Z'), 'week', EVERY_OFFSET_MS.week)).toEqual({ start: '2026-01-26T00:00:00Z', end: '2026-02-02T00:00:00Z' });
  });

  it('floor a time off the grid (a manual trigger) to the last complete interval', () => {
    expect(intervalEndingAt(Date.parse('2026-02-01T06:59:59.999Z'), 'hour', 0)).toEqual({ start: '2026-02-01T05:00:00Z', end: '2026-02-01T06:00:00Z' });
    expect(intervalEndingAt(Date.parse('2026-02-01T23:30:00Z'), 'day', 0)).toEqual({ start: '2026-01-31T00:00:00Z', end: '2026-02-01T00:00:00Z' });
    // Thursday 2026-02-05 falls in the week that started on Monday 2026-02-02
    expect(intervalEndingAt(Date.parse('2026-02-05T12:00:00Z'), 'week', EVERY_OFFSET_MS.week)).toEqual({ start: '2026-01-26T00:00:00Z', end: '2026-02-02T00:00:00Z' });
  });

  it('without the week offset, weeks would start on Thursday', () => {
    expect(intervalEndingAt(Date.parse('2026-02-05T12:00:00Z'), 'week')).toEqual({ start: '2026-01-29T00:00:00Z', end: '2026-02-05T00:00:00Z' });
  });

  it('shift by an offset and take lengths in ms', () => {
    expect(intervalEndingAt(Date.parse('2026-02-01T06:20:00Z'), 'hour', 15 * 60_000)).toEqual({ start: '2026-02-01T05:15:00Z', end: '2026-02-01T06:15:00Z' });
    expect(intervalEndingAt(Date.parse('2026-02-01T06:20:00Z'), 30 * 60_000)).toEqual({ start: '2026-02-01T05:30:00Z', end: '2026-02-01T06:00:00Z' });
  });
});
