/**
 * Orchestration on a real Temporal dev server: schedules give exact intervals, backfills load each
 * interval once without touching the cursor, failed extracts are retried and load once.
 */
import { describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { definePipeline, incremental, pipeline, postgres, resource, source } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { recordHistory, withWorker } from '../helpers/temporal.ts';

const HOUR = 3_600_000;
/** Events every 6 hours over [from, to): id = epoch hours. */
function events(from: string, to: string) {
  const out = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += 6 * HOUR) {
    out.push({ id: t / HOUR, created_at: new Date(t).toISOString(), kind: ['push', 'issue', 'fork'][(t / HOUR / 6) % 3] });
  }
  return out;
}

const ALL = events('2025-12-01T00:00:00Z', '2026-06-01T00:00:00Z');

function eventsSource(name: string, seen?: string[]) {
  const r = resource(
    function* (ctx) {
      const inc = ctx.incremental!;
      seen?.push(`${inc.startValue}→${inc.endValue}`);
      yield ALL.filter((e) => e.created_at >= String(inc.startValue) && (inc.endValue == null || e.created_at < String(inc.endValue)));
    },
    {
      name: 'events',
      writeDisposition: 'merge',
      primaryKey: 'id',
      incremental: incremental('created_at', { initialValue: '2026-01-01T00:00:00.000Z', allowExternalSchedulers: true }),
    },
  );
  return definePipeline({ name, datasetName: datasetName('tmp'), source: () => source('events', [r]) });
}

async function loadsOf(ds: string) {
  const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    const loads = await p.query<{ start: string; end: string; rows: number }>(
      `SELECT to_char(tide_interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start,
              to_char(tide_interval_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS end, tide_rows AS rows
         FROM "${ds}"."_dlt_loads" ORDER BY tide_interval_start`,
    );
    const ids = (await p.query<{ id: number; n: number }>(`SELECT id, count(*)::int AS n FROM "${ds}"."events" GROUP BY id ORDER BY id`)).map((r) => [r.id, r.n]);
    const state = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${ds}"."_dlt_pipeline_state"`);
    return { loads, ids, stateRows: state[0].n };
  } finally {
    await p.close();
  }
}

describe('Temporal orchestration', () => {
  it('a scheduled run loads exactly the interval its schedule implies', async () => {
    const def = eventsSource(`sched_${Date.now()}`);
    await withWorker([def], async (client) => {
      await client.createSchedule(def.name, { every: 'day' }, { paused: true });
      const h = client.client.schedule.getHandle(`tide/${def.name}`);
      // a paused schedule still runs backfills: exact, known nominal times (temporal.md §5.1)
      await h.backfill({ start: new Date('2026-02-01T00:00:00Z'), end: new Date('2026-02-03T00:00:00Z'), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      const deadline = Date.now() + 60_000;
      let got = await loadsOf(def.datasetName!).catch(() => ({ loads: [] as { start: string }[] }));
      while (got.loads.length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        got = await loadsOf(def.datasetName!).catch(() => ({ loads: [] as { start: string }[] }));
      }
      const r = await loadsOf(def.datasetName!);
      expect(r.loads).toEqual([
        { start: '2026-01-31T00:00:00Z', end: '2026-02-01T00:00:00Z', rows: 4 },
        { start: '2026-02-01T00:00:00Z', end: '2026-02-02T00:00:00Z', rows: 4 },
        { start: '2026-02-02T00:00:00Z', end: '2026-02-03T00:00:00Z', rows: 4 },
      ]);
      expect(r.ids.length).toBe(12);
      expect(r.ids.every(([, n]) => n === 1)).toBe(true);
      expect(r.stateRows).toBe(0); // scheduled runs are stateless: the cursor is untouched
      for await (const w of client.client.workflow.list({ query: `TemporalScheduledById = 'tide/${def.name}'` })) {
        await recordHistory(client, w.workflowId, 'scheduledRun');
        break;
      }
      await client.deleteSchedule(def.name);
    });
  });

  it('settle: each tick re-runs the previous interval too, so a late row lands once and nothing doubles', async () => {
    const rows = events('2026-02-01T00:00:00Z', '2026-02-04T00:00:00Z').map((e) => ({ ...e, late: false }));
    const appendEvents = resource(
      function* (ctx) {
        const { start, end } = ctx.interval!;
        yield rows.filter((e) => e.created_at >= start.toISO()! && e.created_at < end.toISO()!);
      },
      { name: 'events' },
    );
    const def = definePipeline({ name: `settle_${Date.now()}`, datasetName: datasetName('tmp'), source: () => source('events', [appendEvents]), schedule: { every: 'day', settle: 1 } });
    const tick = async (client: Parameters<Parameters<typeof withWorker>[1]>[0], at: string, loads: number) => {
      const h = client.client.schedule.getHandle(`tide/${def.name}`);
      await h.backfill({ start: new Date(at), end: new Date(Date.parse(at) + 1000), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
      try {
        for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
          const [n] = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${def.datasetName}"."_dlt_loads"`).catch(() => [{ n: 0 }]);
          if (n.n >= loads) break;
        }
        return await p.query<{ day: string; n: number; late: number }>(
          `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS n, count(*) FILTER (WHERE late)::int AS late FROM "${def.datasetName}"."events" GROUP BY 1 ORDER BY 1`,
        );
      } finally {
        await p.close();
      }
    };
    await withWorker([def], async (client) => {
      await client.createSchedule(def.name, def.schedule!, { paused: true });
      // tick of 2026-02-03: [02-02, 02-03), then settle: [02-01, 02-02)
      expect(await tick(client, '2026-02-03T00:00:00Z', 2)).toEqual([
        { day: '2026-02-01', n: 4, late: 0 },
        { day: '2026-02-02', n: 4, late: 0 },
      ]);
      rows.push({ id: 999_999, created_at: '2026-02-02T23:00:00.000Z', kind: 'push', late: true });
      // tick of 2026-02-04: [02-03, 02-04) and again [02-02, 02-03), which now has the late row
      expect(await tick(client, '2026-02-04T00:00:00Z', 4)).toEqual([
        { day: '2026-02-01', n: 4, late: 0 },
        { day: '2026-02-02', n: 5, late: 1 },
        { day: '2026-02-03', n: 4, late: 0 },
      ]);
      await client.deleteSchedule(def.name);
    });
  });

  async function waitLoads(ds: string, n: number) {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
      const got = await loadsOf(ds).catch(() => ({ loads: [] as unknown[] }));
      if (got.loads.length >= n) break;
    }
    return loadsOf(ds);
  }

  it('a daily schedule in a time zone ticks at local midnight: a 23-hour day across the DST change', async () => {
    const base = eventsSource(`tz_${Date.now()}`);
    const def = definePipeline({ ...base, schedule: { every: 'day', timezone: 'Europe/Berlin' } });
    await withWorker([def], async (client) => {
      await client.createSchedule(def.name, def.schedule!, { paused: true });
      const h = client.client.schedule.getHandle(`tide/${def.name}`);
      // Berlin midnights: 2026-03-28T23:00Z (CET), then 2026-03-29T22:00Z and 2026-03-30T22:00Z (CEST)
      await h.backfill({ start: new Date('2026-03-28T22:30:00Z'), end: new Date('2026-03-30T22:30:00Z'), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      const r = await waitLoads(def.datasetName!, 3);
      expect(r.loads.map(({ start, end }) => [start, end])).toEqual([
        ['2026-03-27T23:00:00Z', '2026-03-28T23:00:00Z'],
        ['2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'],
        ['2026-03-29T22:00:00Z', '2026-03-30T22:00:00Z'],
      ]);
      const [listed] = (await client.listSchedules()).filter((x) => x.pipeline === def.name);
      expect(listed.spec).toBe('calendar tz Europe/Berlin');
      await client.deleteSchedule(def.name);
    });
  });

  it('startAt in the past with catchup: creating the schedule runs every interval since then, up to endAt', async () => {
    const base = eventsSource(`catchup_${Date.now()}`);
    const def = definePipeline({ ...base, schedule: { every: 'day', startAt: '2026-01-04T12:00:00Z', endAt: '2026-01-08T12:00:00Z', catchup: true } });
    await withWorker([def], async (client) => {
      expect(await client.createSchedule(def.name, def.schedule!, { paused: true })).toMatchObject({ created: true });
      const r = await waitLoads(def.datasetName!, 4);
      expect(r.loads.map(({ start, end }) => [start, end])).toEqual([
        ['2026-01-04T00:00:00Z', '2026-01-05T00:00:00Z'],
        ['2026-01-05T00:00:00Z', '2026-01-06T00:00:00Z'],
        ['2026-01-06T00:00:00Z', '2026-01-07T00:00:00Z'],
        ['2026-01-07T00:00:00Z', '2026-01-08T00:00:00Z'],
      ]);
      // created again (updated): no second catch-up
      expect(await client.createSchedule(def.name, def.schedule!, { paused: true })).toMatchObject({ created: false });
      await new Promise((r2) => setTimeout(r2, 1500));
      expect((await loadsOf(def.datasetName!)).loads).toHaveLength(4);
      await client.deleteSchedule(def.name);
    });
  });

  it('a cron schedule gives [previous match, this match) from the schedule itself', async () => {
    const def = eventsSource(`cron_${Date.now()}`);
    await withWorker([def], async (client) => {
      await client.createSchedule(def.name, { cron: '0 6 * * *' }, { paused: true });
      const h = client.client.schedule.getHandle(`tide/${def.name}`);
      await h.backfill({ start: new Date('2026-02-01T06:00:00Z'), end: new Date('2026-02-02T06:00:00Z'), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      const deadline = Date.now() + 60_000;
      let got = await loadsOf(def.datasetName!).catch(() => ({ loads: [] as unknown[] }));
      while (got.loads.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        got = await loadsOf(def.datasetName!).catch(() => ({ loads: [] as unknown[] }));
      }
      const r = await loadsOf(def.datasetName!);
      expect(r.loads).toEqual([
        { start: '2026-01-31T06:00:00Z', end: '2026-02-01T06:00:00Z', rows: 4 },
        { start: '2026-02-01T06:00:00Z', end: '2026-02-02T06:00:00Z', rows: 4 },
      ]);
      await client.deleteSchedule(def.name);
    });
  });

  it('a manual trigger loads the last complete interval', async () => {
    const def = eventsSource(`trig_${Date.now()}`);
    await withWorker([def], async (client) => {
      await client.createSchedule(def.name, { every: 'hour' }, { paused: true });
      const before = Date.now();
      await client.triggerSchedule(def.name);
      const deadline = Date.now() + 60_000;
      let runs = await client.runs(def.name);
      while ((!runs.length || runs[0].status !== 'COMPLETED') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        runs = await client.runs(def.name);
      }
      expect(runs).toHaveLength(1);
      const hour = 3_600_000;
      const end = Math.floor(before / hour) * hour;
      expect(runs[0]).toMatchObject({ kind: 'scheduled', status: 'COMPLETED', attempts: 1 });
      // a trigger can straddle an hour boundary: then it is the next hour's interval
      expect([end, end + hour]).toContain(runs[0].intervalEnd!.getTime());
      expect(runs[0].intervalEnd!.getTime() - runs[0].intervalStart!.getTime()).toBe(hour);
      await client.deleteSchedule(def.name);
    });
  });

  it('a 12-week backfill with parallel 4 loads each interval once and leaves the cursor alone', async () => {
    const def = eventsSource(`bf_${Date.now()}`);
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-01-05', to: '2026-03-30', every: 'week', parallel: 4 });
      const progress = await h.result();
      expect(progress).toMatchObject({ total: 12, done: 12, failed: 0, rows: 12 * 7 * 4 });
      await recordHistory(client, h.workflowId, 'backfill');
      await recordHistory(client, 'tide/' + def.name + '/2026-01-05T00:00:00Z/2026-01-12T00:00:00Z', 'pipelineRun');
      const r = await loadsOf(def.datasetName!);
      expect(r.loads.map((l) => l.start)).toEqual(
        Array.from({ length: 12 }, (_, k) => new Date(Date.parse('2026-01-05T00:00:00Z') + k * 7 * 24 * HOUR).toISOString().replace('.000Z', 'Z')),
      );
      expect(r.loads.every((l) => l.rows === 28)).toBe(true);
      expect(r.ids.length).toBe(12 * 7 * 4);
      expect(r.ids.every(([, n]) => n === 1)).toBe(true);
      expect(r.stateRows).toBe(0);
    });
  });

  it('--handover: the backfill\'s last interval moves the cursor to its end, where the first incremental run starts', async () => {
    const seen: string[] = [];
    const def = eventsSource(`ho_${Date.now()}`, seen);
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-01-05', to: '2026-01-19', every: 'week', parallel: 2, handover: true });
      expect(await h.result()).toMatchObject({ total: 2, done: 2, failed: 0, rows: 2 * 7 * 4 });
      const p = pipeline({ pipelineName: def.name, destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
      const state = (await p.syncFromDestination('events')).sources as any;
      expect(state.events.resources.events.incremental.created_at).toMatchObject({ last_value: '2026-01-19T00:00:00.000Z', unique_hashes: [] });
      await p.close();
      seen.length = 0;
      const run = await client.runNow(def.name);
      expect(seen).toEqual(['2026-01-19T00:00:00.000Z→null']);
      // from the handover to the end of the source's data (2026-06-01), nothing before it again
      expect(run.tables).toEqual({ events: { rows: (Date.parse('2026-06-01') - Date.parse('2026-01-19')) / (6 * HOUR) } });
    });
    const r = await loadsOf(def.datasetName!);
    expect(r.ids.every(([, n]) => n === 1)).toBe(true);
    expect(r.ids[0][0]).toBe(Date.parse('2026-01-05T00:00:00Z') / HOUR);
  });

  it('a backfill and the incremental run on one merge table at the same time give exact rows and an untouched cursor', async () => {
    const def = eventsSource(`mix_${Date.now()}`);
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-01-05', to: '2026-03-30', every: 'week', parallel: 4 });
      // the cursor-state run (no interval) loads everything from initialValue on, concurrently
      const [incr, progress] = await Promise.all([client.runNow(def.name), h.result()]);
      expect(progress).toMatchObject({ total: 12, done: 12, failed: 0 });
      const inRange = ALL.filter((e) => e.created_at >= '2026-01-01T00:00:00.000Z');
      expect(incr.rows).toBe(inRange.length);
      const r = await loadsOf(def.datasetName!);
      // merged by id: every event exactly once, whatever the interleaving of the 13 loads
      expect(r.ids).toEqual(inRange.map((e) => [e.id, 1]));
      expect(r.stateRows).toBe(1); // only the incremental run wrote state
      const p = pipeline({ pipelineName: def.name, destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
      const state = await p.syncFromDestination('events');
      expect((state.sources as any).events.resources.events.incremental.created_at).toMatchObject({
        initial_value: '2026-01-01T00:00:00.000Z',
        last_value: inRange[inRange.length - 1].created_at,
      });
      await p.close();
    });
  });

  it('re-running one interval of an append table on the workers twice leaves one copy of its rows, nested rows too', async () => {
    const appendEvents = resource(
      function* (ctx) {
        const iv = ctx.interval!;
        yield events(iv.start.toISO()!, iv.end.toISO()!).map((e) => ({ ...e, refs: [e.id, e.id + 1] }));
      },
      { name: 'events' },
    );
    const def = definePipeline({ name: `rerun_${Date.now()}`, datasetName: datasetName('tmp'), source: () => source('events', [appendEvents]) });
    const day = { start: '2026-01-10T00:00:00Z', end: '2026-01-11T00:00:00Z' };
    await withWorker([def], async (client) => {
      for (let i = 0; i < 3; i++) expect((await client.runNow(def.name, day)).tables).toEqual({ events: { rows: 4 }, events__refs: { rows: 8 } });
    });
    const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
    expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${def.datasetName}"."events"`)).toEqual([{ n: 4, d: 4 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."events__refs"`)).toEqual([{ n: 8 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."_dlt_loads"`)).toEqual([{ n: 3 }]);
    await p.close();
  });

  it('on the workers: a monthly re-run replaces four weekly loads; a partly overlapping interval fails before writing', async () => {
    const appendEvents = resource(
      function* (ctx) {
        const iv = ctx.interval!;
        yield events(iv.start.toISO()!, iv.end.toISO()!).map((e) => ({ ...e, run: `${iv.start.toISODate()}/${iv.end.toISODate()}` }));
      },
      { name: 'events' },
    );
    const def = definePipeline({ name: `month_${Date.now()}`, datasetName: datasetName('tmp'), source: () => source('events', [appendEvents]) });
    const weeks = ['2026-02-02', '2026-02-09', '2026-02-16', '2026-02-23', '2026-03-02'];
    await withWorker([def], async (client) => {
      for (let k = 0; k < 4; k++) await client.runNow(def.name, { start: `${weeks[k]}T00:00:00Z`, end: `${weeks[k + 1]}T00:00:00Z` });
      await client.runNow(def.name, { start: '2026-02-02T00:00:00Z', end: '2026-03-02T00:00:00Z' });
      const err = await client.runNow(def.name, { start: '2026-02-23T00:00:00Z', end: '2026-03-09T00:00:00Z' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause as ActivityFailure;
      expect(activity.cause).toMatchObject({ type: 'IntervalOverlapError', nonRetryable: true });
      expect(activity.cause!.message).toContain('partly overlaps [2026-02-02T00:00:00Z, 2026-03-02T00:00:00Z)');
    });
    const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
    expect(await p.query(`SELECT run, count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${def.datasetName}"."events" GROUP BY run`)).toEqual([
      { run: '2026-02-02/2026-03-02', n: 28 * 4, d: 28 * 4 },
    ]);
    await p.close();
  });

  it('an extract that fails twice and then succeeds loads once', async () => {
    let attempts = 0;
    const flaky = resource(
      function* () {
        attempts++;
        if (attempts <= 2) throw new Error(`upstream hiccup ${attempts}`);
        yield [{ id: 1 }, { id: 2 }];
      },
      { name: 'flaky' },
    );
    const def = definePipeline({ name: `flaky_${Date.now()}`, datasetName: datasetName('tmp'), source: () => flaky });
    await withWorker([def], async (client) => {
      const res = await client.runNow(def.name);
      expect(res.rows).toBe(2);
      expect(attempts).toBe(3);
      // decompose 'none': one activity extracts and loads, retried as one
      expect(res.attempts).toEqual({ extract: 3 });
    });
    const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: def.datasetName!, pipelinesDir: tempDir() });
    expect(await p.query(`SELECT id FROM "${def.datasetName}"."flaky" ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."_dlt_loads"`)).toEqual([{ n: 1 }]);
    await p.close();
  });

  it('an extract that fails on bad input is not retried', async () => {
    let attempts = 0;
    const noCursor = resource(
      function* () {
        attempts++;
        yield [{ id: 1 }]; // no updated_at: the incremental cursor path is missing
      },
      { name: 'no_cursor', incremental: incremental('updated_at') },
    );
    const def = definePipeline({ name: `bad_${Date.now()}`, datasetName: datasetName('tmp'), source: () => noCursor });
    await withWorker([def], async (client) => {
      const err = await client.runNow(def.name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activity = (err as WorkflowFailedError).cause;
      expect(activity).toBeInstanceOf(ActivityFailure);
      expect((activity as ActivityFailure).activityType).toBe('run');
      expect((activity as ActivityFailure).cause).toBeInstanceOf(ApplicationFailure);
      expect((activity as ActivityFailure).cause).toMatchObject({ type: 'IncrementalCursorPathMissing', nonRetryable: true });
      expect(attempts).toBe(1);
    });
  });
});
