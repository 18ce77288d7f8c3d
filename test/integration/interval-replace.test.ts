/**
 * Interval replace (issue 14, item 1): re-running an interval replaces what earlier runs of that
 * interval (or of intervals inside it) wrote to append tables, nested rows too; a partly
 * overlapping interval is an error before anything is written; cursor runs are never touched.
 */
import { describe, expect, it } from 'vitest';
import { IntervalOverlapError, resource } from 'tide';
import { testPipeline } from '../helpers/pipelines.ts';

const DAY = 86_400_000;
/** One event every 6 hours of [from, to), with a nested list; `tag` marks the run that loaded it. */
function events(from: string, to: string, tag: string) {
  const out = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += DAY / 4) out.push({ id: t / 3_600_000, at: new Date(t).toISOString(), tag, parts: [{ n: 1 }, { n: 2 }] });
  return out;
}

function eventsResource(tag: string, opts: { intervalReplace?: boolean } = {}) {
  return resource(
    function* (ctx) {
      const iv = ctx.interval!;
      yield events(iv.start.toISO()!, iv.end.toISO()!, tag);
    },
    { name: 'events', ...opts },
  );
}

const iv = (start: string, end: string) => ({ start, end });

async function counts(p: ReturnType<typeof testPipeline>) {
  const [e] = await p.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${p.datasetName}"."events"`);
  const [n] = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${p.datasetName}"."events__parts"`);
  const tags = await p.query<{ tag: string; n: number }>(`SELECT tag, count(*)::int AS n FROM "${p.datasetName}"."events" GROUP BY tag ORDER BY tag`);
  return { rows: e.n, distinct: e.d, nested: n.n, tags: Object.fromEntries(tags.map((t) => [t.tag, t.n])) };
}

describe('interval replace', () => {
  it('re-running an interval of an append table twice leaves one copy of its rows, nested rows too', async () => {
    const p = testPipeline({ pipelineName: 'ir_twice' });
    await p.run(eventsResource('a'), { interval: iv('2026-01-01', '2026-01-02') });
    await p.run(eventsResource('x'), { interval: iv('2026-01-02', '2026-01-03') });
    await p.run(eventsResource('b'), { interval: iv('2026-01-01', '2026-01-02') });
    await p.run(eventsResource('c'), { interval: iv('2026-01-01', '2026-01-02') });
    expect(await counts(p)).toEqual({ rows: 8, distinct: 8, nested: 16, tags: { c: 4, x: 4 } });
  });

  it('a monthly re-run replaces the four weekly loads inside it', async () => {
    const p = testPipeline({ pipelineName: 'ir_month' });
    for (const [s, e] of [['2026-02-02', '2026-02-09'], ['2026-02-09', '2026-02-16'], ['2026-02-16', '2026-02-23'], ['2026-02-23', '2026-03-02']]) {
      await p.run(eventsResource(`w${s.slice(8)}`), { interval: iv(s, e) });
    }
    expect((await counts(p)).rows).toBe(4 * 28);
    await p.run(eventsResource('month'), { interval: iv('2026-02-02', '2026-03-02') });
    expect(await counts(p)).toEqual({ rows: 112, distinct: 112, nested: 224, tags: { month: 112 } });
  });

  it('an interval that partly overlaps an earlier one is an error naming both, before anything is written', async () => {
    const p = testPipeline({ pipelineName: 'ir_overlap' });
    const first = await p.run(eventsResource('a'), { interval: iv('2026-03-01', '2026-03-03') });
    const err = await p.run(eventsResource('b'), { interval: iv('2026-03-02', '2026-03-04') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntervalOverlapError);
    expect((err as IntervalOverlapError).message).toContain(
      `The interval [2026-03-02T00:00:00Z, 2026-03-04T00:00:00Z) of this run partly overlaps [2026-03-01T00:00:00Z, 2026-03-03T00:00:00Z) of load ${first.loadId}`,
    );
    expect((err as IntervalOverlapError).overlaps).toEqual({ loadId: first.loadId, start: '2026-03-01T00:00:00Z', end: '2026-03-03T00:00:00Z' });
    expect((err as IntervalOverlapError).interval).toEqual({ start: '2026-03-02T00:00:00Z', end: '2026-03-04T00:00:00Z' });
    expect(await counts(p)).toEqual({ rows: 8, distinct: 8, nested: 16, tags: { a: 8 } });
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}"."_dlt_loads"`)).toEqual([{ n: 1 }]);
  });

  it('rows of cursor runs (no interval) are never touched; intervalReplace: false keeps appending', async () => {
    const p = testPipeline({ pipelineName: 'ir_cursor' });
    await p.run(events('2026-04-01', '2026-04-02', 'cursor'), { tableName: 'events' });
    await p.run(eventsResource('a'), { interval: iv('2026-04-01', '2026-04-02') });
    await p.run(eventsResource('b'), { interval: iv('2026-04-01', '2026-04-02') });
    expect((await counts(p)).tags).toEqual({ b: 4, cursor: 4 });
    await p.run(eventsResource('c', { intervalReplace: false }), { interval: iv('2026-04-01', '2026-04-02') });
    expect((await counts(p)).tags).toEqual({ b: 4, c: 4, cursor: 4 });
  });
});
