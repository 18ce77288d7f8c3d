/**
 * Incremental loading, end to end on Postgres (part 2): the seeds' examples for configuration
 * (`id_after` from `.tide/config.toml`), missing cursor values, steps before the incremental, external
 * schedulers (interval runs), lag, the `lookback` function and `tide pipeline <name> info -v`.
 * Each example runs at least twice and asserts exact rows and the exact cursor state after each run.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  IncrementalCursorInvalidCoercion,
  IncrementalCursorPathMissing,
  IncrementalCursorValueNone,
  incremental,
  resource,
} from 'tide';
import type { Pipeline, ResourceContext } from 'tide';
import { pgUrl, rows, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { loadIds, tablesOf } from '../helpers/state-db.ts';
import { configFolder, cursorState, expectedCursor, inDir, resourceStateOf, withEnv } from '../helpers/incremental-util.ts';


describe('seed: reading incremental parameters from configuration (id_after)', () => {
  const records = (n: number) =>
    resource(
      function* generate_incremental_records() {
        for (let i = 0; i < n; i++) yield { id: i, idAfter: i, name: `name-${i}` };
      },
      { tableName: 'incremental_records', incremental: incremental.fromConfig() },
    );
  const last = (i: number) => ({ id: i, idAfter: i, name: `name-${i}` });
  // tide keys the section by resource name (dlt keys it by the incremental argument's name, `id_after`)
  const TOML = '# Configuration snippet for an incremental resource\n[pipeline_with_incremental.sources.generate_incremental_records]\ncursor_path = "idAfter"\ninitial_value = 10\n';

  it('cursor_path and initial_value come from .tide/config.toml in the working directory', async () => {
    const dir = configFolder(TOML);
    await inDir(dir, async () => {
      const p = testPipeline({ pipelineName: 'pipeline_with_incremental' });
      expect((await p.run(records(150))).tables).toEqual({ incremental_records: { rows: 140 } });
      const ids = (await rows(p, 'incremental_records', 'id', 'id, "id_after", name')).map((r) => r.id);
      expect(ids).toEqual(Array.from({ length: 140 }, (_, i) => i + 10));
      expect(cursorState(p, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(10, 149, [last(149)], 10));
      // run 2: nothing new
      expect((await p.run(records(150))).loadId).toBeNull();
      expect(cursorState(p, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(10, 149, [last(149)], 10));
      // run 3: ten more records
      expect((await p.run(records(160))).tables).toEqual({ incremental_records: { rows: 10 } });
      expect(cursorState(p, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(10, 159, [last(159)], 149));
      expect((await rows(p, 'incremental_records', 'id', 'id')).length).toBe(150);
    });
  });

  it('env <PIPELINE>__SOURCES__<RESOURCE>__INITIAL_VALUE overrides the file; code overrides win over both', async () => {
    const dir = configFolder(TOML);
    await inDir(dir, () =>
      withEnv({ PIPELINE_WITH_INCREMENTAL__SOURCES__GENERATE_INCREMENTAL_RECORDS__INITIAL_VALUE: '100' }, async () => {
        const p = testPipeline({ pipelineName: 'pipeline_with_incremental' });
        expect((await p.run(records(150))).tables).toEqual({ incremental_records: { rows: 50 } });
        expect(cursorState(p, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(100, 149, [last(149)], 100));
        expect((await p.run(records(150))).loadId).toBeNull();
        const q = testPipeline({ pipelineName: 'pipeline_with_incremental' });
        const coded = records(150).with({ incremental: incremental.fromConfig({ initialValue: 140 }) });
        expect((await q.run(coded)).tables).toEqual({ incremental_records: { rows: 10 } });
        expect(cursorState(q, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(140, 149, [last(149)], 140));
      }),
    );
  });

  it('TIDE_HOME (README: "instead of ./.tide") is where config.toml is read from', async () => {
    const home = join(configFolder(TOML), '.tide');
    const elsewhere = tempDir('tide-inc-cwd-'); // no .tide here
    await inDir(elsewhere, () =>
      withEnv({ TIDE_HOME: home }, async () => {
        const p = testPipeline({ pipelineName: 'pipeline_with_incremental' });
        for (let run = 0; run < 2; run++) {
          const info = await p.run(records(150));
          expect(info.tables).toEqual(run === 0 ? { incremental_records: { rows: 140 } } : {});
          expect(cursorState(p, 'pipeline_with_incremental', 'generate_incremental_records', 'idAfter')).toEqual(expectedCursor(10, 149, [last(149)], 10));
        }
      }),
    );
  });

  it('without a section for the resource: ConfigurationError naming the section, nothing loaded', async () => {
    const dir = configFolder('[pipeline_with_incremental.sources.id_after]\ncursor_path = "idAfter"\ninitial_value = 10\n');
    await inDir(dir, async () => {
      const p = testPipeline({ pipelineName: 'pipeline_with_incremental' });
      for (let run = 0; run < 2; run++) {
        const err = await p.run(records(150)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigurationError);
        expect((err as Error).message).toContain('pipeline_with_incremental.sources.generate_incremental_records');
      }
      expect(await loadIds(p)).toEqual([]);
    });
  });
});

describe('seed: on_cursor_value_missing', () => {
  const withoutPath = () => [
    { id: 1, created_at: 1, updated_at: 1 },
    { id: 2, created_at: 2 }, // cursor field is missing
  ];
  const withNone = () => [
    { id: 1, created_at: 1, updated_at: 1 },
    { id: 3, created_at: 4, updated_at: null }, // value at cursor field is None
  ];

  for (const [name, data, Cls, item] of [
    ['some_data_without_cursor_path', withoutPath, IncrementalCursorPathMissing, { id: 2, created_at: 2 }],
    ['some_data_without_cursor_value', withNone, IncrementalCursorValueNone, { id: 3, created_at: 4, updated_at: null }],
  ] as const) {
    it(`raise (default): ${Cls.name} names resource, path and item; nothing is loaded`, async () => {
      const r = resource(
        function* () {
          yield data();
        },
        { name, incremental: incremental('updated_at') },
      );
      const p = testPipeline({ pipelineName: 'missing_raise' });
      for (let run = 0; run < 2; run++) {
        const err = await p.run(r).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Cls);
        expect((err as Error).constructor).toBe(Cls);
        expect(err).toMatchObject({ resource: name, cursorPath: 'updated_at', item });
        expect((err as Error).message).toContain(name);
        expect((err as Error).message).toContain('updated_at');
      }
      expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual([]);
      expect(await loadIds(p)).toEqual([]);
      expect(p.state.sources).toBeUndefined();
    });
  }

  const someData = (mode: 'include' | 'exclude') =>
    resource(
      function* some_data() {
        yield [
          { id: 1, created_at: 1, updated_at: 1 },
          { id: 2, created_at: 2 },
          { id: 3, created_at: 4, updated_at: null },
        ];
      },
      { incremental: incremental('updated_at', { onCursorValueMissing: mode }) },
    );
  const row1 = { id: 1, created_at: 1, updated_at: 1 };

  it('include: rows without a cursor value are loaded on every run and leave the cursor alone', async () => {
    const p = testPipeline({ pipelineName: 'missing_include' });
    expect((await p.run(someData('include'))).tables).toEqual({ some_data: { rows: 3 } });
    expect(await rows(p, 'some_data', 'id', 'id, created_at, updated_at')).toEqual([
      { id: 1, created_at: 1, updated_at: 1 },
      { id: 2, created_at: 2, updated_at: null },
      { id: 3, created_at: 4, updated_at: null },
    ]);
    expect(cursorState(p, 'missing_include', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 1, [row1], null));
    // run 2: row 1 sits on the boundary (deduplicated); the cursor-less rows come again
    expect((await p.run(someData('include'))).tables).toEqual({ some_data: { rows: 2 } });
    expect((await rows(p, 'some_data', 'id', 'id')).map((r) => r.id)).toEqual([1, 2, 2, 3, 3]);
    expect(cursorState(p, 'missing_include', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 1, [row1], 1));
  });

  it('exclude: rows without a cursor value are dropped', async () => {
    const p = testPipeline({ pipelineName: 'missing_exclude' });
    expect((await p.run(someData('exclude'))).tables).toEqual({ some_data: { rows: 1 } });
    expect(await rows(p, 'some_data', 'id', 'id, created_at, updated_at')).toEqual([row1]);
    expect(cursorState(p, 'missing_exclude', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 1, [row1], null));
    expect((await p.run(someData('exclude'))).loadId).toBeNull();
    expect(cursorState(p, 'missing_exclude', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 1, [row1], null));
  });
});

describe('seed: transform records before incremental processing', () => {
  const someData = () =>
    resource(
      function* some_data() {
        yield [
          { id: 1, created_at: 1, updated_at: 1 },
          { id: 2, created_at: 2, updated_at: 2 },
          { id: 3, created_at: 4, updated_at: null },
        ];
      },
      { incremental: incremental('updated_at') },
    );
  function setDefaultUpdatedAt(record: Record<string, unknown>) {
    if (record.updated_at == null) record.updated_at = record.created_at;
    return record;
  }

  it('addMap(setDefaultUpdatedAt, { insertAt: 1 }) fills the cursor before the incremental sees it', async () => {
    const withDefaultValues = someData().addMap(setDefaultUpdatedAt, { insertAt: 1 });
    const p = testPipeline({ pipelineName: 'with_defaults' });
    expect((await p.run(withDefaultValues)).tables).toEqual({ some_data: { rows: 3 } });
    expect(await rows(p, 'some_data', 'id', 'id, updated_at')).toEqual([
      { id: 1, updated_at: 1 },
      { id: 2, updated_at: 2 },
      { id: 3, updated_at: 4 },
    ]);
    const last = { id: 3, created_at: 4, updated_at: 4 };
    expect(cursorState(p, 'with_defaults', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 4, [last], null));
    expect((await p.run(withDefaultValues)).loadId).toBeNull();
    expect(cursorState(p, 'with_defaults', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 4, [last], null));
  });

  it('addFilter(updated_at != null, { insertAt: 1 }) removes records before the incremental', async () => {
    const withoutNone = someData().addFilter((r) => r.updated_at != null, { insertAt: 1 });
    const p = testPipeline({ pipelineName: 'without_none' });
    expect((await p.run(withoutNone)).tables).toEqual({ some_data: { rows: 2 } });
    expect(await rows(p, 'some_data', 'id', 'id, updated_at')).toEqual([
      { id: 1, updated_at: 1 },
      { id: 2, updated_at: 2 },
    ]);
    const last = { id: 2, created_at: 2, updated_at: 2 };
    expect(cursorState(p, 'without_none', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 2, [last], null));
    expect((await p.run(withoutNone)).loadId).toBeNull();
    expect(cursorState(p, 'without_none', 'some_data', 'updated_at')).toEqual(expectedCursor(null, 2, [last], null));
  });

  it('without the step the default raise stops the run (the step really runs first)', async () => {
    const p = testPipeline({ pipelineName: 'no_step' });
    await expect(p.run(someData())).rejects.toBeInstanceOf(IncrementalCursorValueNone);
  });
});

// ---------------------------------------------------------------- external schedulers

const day = (d: string) => DateTime.fromISO(`${d}T00:00:00Z`, { zone: 'utc' }).toSeconds();

describe('seed: allow_external_schedulers (Zendesk tickets, interval runs)', () => {
  it('int cursor: the interval becomes epoch seconds, the stored cursor is untouched; start == end loads from start until now', async () => {
    const tickets = [
      { id: 1, updated_at: day('2023-02-10') },
      { id: 2, updated_at: day('2023-02-12') },
      { id: 3, updated_at: day('2023-02-15') },
      { id: 4, updated_at: day('2023-02-19') },
      { id: 5, updated_at: day('2023-02-20') },
      { id: 6, updated_at: day('2023-02-25') },
    ];
    const asked: unknown[] = [];
    const ticketsResource = resource(
      function* tickets_(ctx: ResourceContext) {
        const updatedAt = ctx.incremental!;
        asked.push(updatedAt.startValue);
        // zendesk_client.get_pages(..., start_time=updated_at.start_value)
        yield tickets.filter((t) => t.updated_at >= Number(updatedAt.startValue ?? 0));
      },
      { name: 'tickets', primaryKey: 'id', incremental: incremental('updated_at', { allowExternalSchedulers: true, cursorType: 'epoch_s' }) },
    );
    const p = testPipeline({ pipelineName: 'zendesk_support' });
    const ids = async () => (await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((r) => r.id);
    const week = { start: '2023-02-12T00:00:00Z', end: '2023-02-19T00:00:00Z' };

    // a weekly interval run: [start, end), stateless
    expect((await p.run(ticketsResource, { interval: week })).tables).toEqual({ tickets: { rows: 2 } });
    expect(asked).toEqual([day('2023-02-12')]);
    expect(await ids()).toEqual([2, 3]);
    expect(resourceStateOf(p, 'zendesk_support', 'tickets')).toBeUndefined();

    // the next week from the environment
    await withEnv({ TIDE_INTERVAL_START: '2023-02-19T00:00:00Z', TIDE_INTERVAL_END: '2023-02-26T00:00:00Z' }, async () => {
      expect((await p.run(ticketsResource)).tables).toEqual({ tickets: { rows: 3 } });
    });
    expect(asked[1]).toBe(day('2023-02-19'));
    expect(await ids()).toEqual([2, 3, 4, 5, 6]);
    expect(resourceStateOf(p, 'zendesk_support', 'tickets')).toBeUndefined();

    // no interval: the incremental works as usual, with state
    expect((await p.run(ticketsResource)).tables).toEqual({ tickets: { rows: 6 } });
    const stored = expectedCursor(null, day('2023-02-25'), [6], null);
    expect(cursorState(p, 'zendesk_support', 'tickets', 'updated_at')).toEqual(stored);
    const version = p.state._state_version;

    // an interval run again: loads its range, stored cursor untouched
    expect((await p.run(ticketsResource, { interval: week })).tables).toEqual({ tickets: { rows: 2 } });
    expect(cursorState(p, 'zendesk_support', 'tickets', 'updated_at')).toEqual(stored);
    expect(p.state._state_version).toBe(version);

    // a manual trigger: start == end → dlt loads "all data from that past date until now" (AF-5)
    const manual = await p.run(ticketsResource, { interval: { start: week.start, end: week.start } });
    expect(manual.tables).toEqual({ tickets: { rows: 5 } });
    // the week's second interval run replaced its first one's rows (interval replace); the manual run's
    // interval [start, start) contains no earlier interval, so it appends
    expect(await ids()).toEqual([1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
    expect(cursorState(p, 'zendesk_support', 'tickets', 'updated_at')).toEqual(stored);

    // and the stateful run continues from its state
    tickets.push({ id: 7, updated_at: day('2023-02-26') });
    expect((await p.run(ticketsResource)).tables).toEqual({ tickets: { rows: 1 } });
    expect(cursorState(p, 'zendesk_support', 'tickets', 'updated_at')).toEqual(expectedCursor(null, day('2023-02-26'), [7], day('2023-02-25')));
  });

  it('ISO cursor: the interval keeps the initial value style; without interval state as usual', async () => {
    const tickets = [
      { id: 1, updated_at: '2023-02-10T08:00:00Z' },
      { id: 2, updated_at: '2023-02-12T00:00:00Z' },
      { id: 3, updated_at: '2023-02-18T23:59:59Z' },
      { id: 4, updated_at: '2023-02-19T00:00:00Z' },
    ];
    const asked: unknown[] = [];
    const r = resource(
      function* tickets_(ctx: ResourceContext) {
        asked.push([ctx.incremental!.startValue, ctx.incremental!.endValue]);
        yield tickets;
      },
      { name: 'tickets', primaryKey: 'id', incremental: incremental('updated_at', { initialValue: '2023-01-01T00:00:00Z', allowExternalSchedulers: true }) },
    );
    const p = testPipeline({ pipelineName: 'zendesk_iso' });
    for (let run = 1; run <= 2; run++) {
      expect((await p.run(r, { interval: { start: '2023-02-12T00:00:00Z', end: '2023-02-19T00:00:00Z' } })).tables).toEqual({ tickets: { rows: 2 } });
      expect(resourceStateOf(p, 'zendesk_iso', 'tickets')).toBeUndefined();
    }
    expect(asked).toEqual(Array(2).fill(['2023-02-12T00:00:00Z', '2023-02-19T00:00:00Z']));
    expect((await p.run(r)).tables).toEqual({ tickets: { rows: 4 } });
    expect(cursorState(p, 'zendesk_iso', 'tickets', 'updated_at')).toEqual(
      expectedCursor('2023-01-01T00:00:00Z', '2023-02-19T00:00:00Z', [4], '2023-01-01T00:00:00Z'),
    );
    expect((await p.run(r)).loadId).toBeNull();
    // the second interval run replaced the first one's rows (interval replace): (2, 3) once + the stateful run (all)
    expect((await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((x) => x.id)).toEqual([1, 2, 2, 3, 3, 4]);
  });
});

// ---------------------------------------------------------------- lag

describe('lag (attribution window) with merge', () => {
  it('a late row below the last value is picked up on the next run; the stored last value never moves back', async () => {
    const source: Record<string, { id: string; updated_at: string; v: number }> = {};
    const put = (id: string, t: string, v = 1) => (source[id] = { id, updated_at: `2024-05-01T${t}:00Z`, v });
    put('a', '10:00');
    put('b', '11:00');
    const since: unknown[] = [];
    const events = resource(
      function* events(ctx: ResourceContext) {
        const inc = ctx.incremental!;
        since.push(inc.startValue);
        // the API returns rows updated at or after `since`
        yield Object.values(source).filter((x) => x.updated_at >= (inc.startValue as string));
      },
      { primaryKey: 'id', writeDisposition: 'merge', incremental: incremental('updated_at', { initialValue: '2024-05-01T00:00:00Z', lag: 3600 }) },
    );
    const p = testPipeline({ pipelineName: 'lagged' });
    const table = async () => (await rows(p, 'events', 'id', 'id, updated_at, v')).map((r) => [r.id, (r.updated_at as Date).toISOString().slice(11, 16), r.v]);
    const st = (last: string, start: string) => expectedCursor('2024-05-01T00:00:00Z', `2024-05-01T${last}:00Z`, [], start.length === 5 ? `2024-05-01T${start}:00Z` : start);

    expect((await p.run(events)).tables).toEqual({ events: { rows: 2 } });
    expect(cursorState(p, 'lagged', 'events', 'updated_at')).toEqual(st('11:00', '2024-05-01T00:00:00Z'));

    // a late row (10:30 < last value 11:00) and a new one
    put('c', '10:30');
    put('d', '12:00');
    expect((await p.run(events)).tables).toEqual({ events: { rows: 4 } }); // from 10:00 = 11:00 - 1h
    expect(since[1]).toBe('2024-05-01T10:00:00Z');
    expect(await table()).toEqual([
      ['a', '10:00', 1],
      ['b', '11:00', 1],
      ['c', '10:30', 1],
      ['d', '12:00', 1],
    ]);
    expect(cursorState(p, 'lagged', 'events', 'updated_at')).toEqual(st('12:00', '11:00'));

    // another late row inside the window, an update of b; d disappears from the source
    put('e', '11:30');
    put('b', '11:00', 2);
    delete source.d;
    expect((await p.run(events)).tables).toEqual({ events: { rows: 2 } }); // b, e (from 11:00)
    expect(since[2]).toBe('2024-05-01T11:00:00Z');
    expect(await table()).toEqual([
      ['a', '10:00', 1],
      ['b', '11:00', 2],
      ['c', '10:30', 1],
      ['d', '12:00', 1],
      ['e', '11:30', 1],
    ]);
    // the newest kept row is 11:30 but the stored last value stays at 12:00 (forward only)
    expect(cursorState(p, 'lagged', 'events', 'updated_at')).toEqual(st('12:00', '12:00'));

    // a row later than the lag window allows is not picked up
    put('f', '10:45');
    expect((await p.run(events)).tables).toEqual({ events: { rows: 2 } }); // b, e again (merge: no duplicates)
    expect((await table()).map((r) => r[0])).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(cursorState(p, 'lagged', 'events', 'updated_at')).toEqual(st('12:00', '12:00'));
  });
});

// ---------------------------------------------------------------- lookback

function lookback(event: unknown[]): Record<string, unknown> {
  let item: Record<string, number>;
  let lastValue: Record<string, unknown> | null = null;
  if (event.length === 1) [item] = event as [Record<string, number>];
  else [item, lastValue] = event as [Record<string, number>, Record<string, unknown> | null];
  lastValue = lastValue == null ? {} : { ...lastValue };
  lastValue.created_at = DateTime.fromSeconds(item.created_at, { zone: 'utc' }).minus({ months: 1 }).toISO();
  return lastValue;
}

describe('seed: lookback last_value_func', () => {
  const data = [
    { id: 1, created_at: day('2024-01-01') },
    { id: 2, created_at: day('2024-01-02') },
    { id: 3, created_at: day('2024-01-02') },
    { id: 4, created_at: day('2024-01-03') },
  ];

  it('verbatim (cursor "created_at"): the function indexes a number → IncrementalCursorInvalidCoercion like dlt 1.26; nothing loaded', async () => {
    const getEvents = resource(
      function* get_events() {
        yield structuredClone(data);
      },
      { primaryKey: 'id', incremental: incremental('created_at', { lastValueFunc: lookback }) },
    );
    const p = testPipeline({ pipelineName: 'lookback_verbatim' });
    for (let run = 0; run < 2; run++) {
      const err = await p.run(getEvents).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IncrementalCursorInvalidCoercion);
      expect(err).toMatchObject({ resource: 'get_events', cursorPath: 'created_at' });
    }
    expect(await loadIds(p)).toEqual([]);
    expect(p.state.sources).toBeUndefined();
  });

  it('on the whole item ($): the last value is the last row minus a month; every run reloads the file (dlt parity)', async () => {
    const file = structuredClone(data);
    const getEvents = resource(
      function* get_events() {
        yield structuredClone(file);
      },
      { primaryKey: 'id', incremental: incremental('$', { lastValueFunc: lookback }) },
    );
    const p = testPipeline({ pipelineName: 'lookback' });
    const lv = (d: string) => ({ created_at: `${d}T00:00:00.000Z` });
    expect((await p.run(getEvents)).tables).toEqual({ get_events: { rows: 4 } });
    expect(cursorState(p, 'lookback', 'get_events', '$')).toEqual(expectedCursor(null, lv('2023-12-03'), [4], null));
    // values checked against dlt 1.26: no row ever equals the previous last value, so all are kept again
    expect((await p.run(getEvents)).tables).toEqual({ get_events: { rows: 4 } });
    expect(cursorState(p, 'lookback', 'get_events', '$')).toEqual(expectedCursor(null, lv('2023-12-03'), [4], lv('2023-12-03')));
    file.push({ id: 5, created_at: day('2024-01-04') });
    expect((await p.run(getEvents)).tables).toEqual({ get_events: { rows: 5 } });
    expect(cursorState(p, 'lookback', 'get_events', '$')).toEqual(expectedCursor(null, lv('2023-12-04'), [5], lv('2023-12-03')));
    expect((await rows(p, 'get_events', 'id', 'id')).length).toBe(13);
  });
});

// ---------------------------------------------------------------- troubleshooting: tide pipeline info -v

const exec = promisify(execFile);

describe('seed troubleshooting: `tide pipeline <name> info -v` prints the sources state', () => {
  it('shows initial_value / last_value / unique_hashes of my_resource, updated between runs', async () => {
    let top = 42;
    const myResource = resource(
      function* my_resource() {
        for (let k = top - 2; k <= top; k++) yield { some_key: k };
      },
      { incremental: incremental('some_key', { initialValue: 0 }) },
    );
    const p = testPipeline({ pipelineName: 'example_pipeline' });
    const home = tempDir('tide-inc-cli-');
    const mod = join(home, 'pipelines.mjs');
    writeFileSync(mod, `export default [{ name: 'example_pipeline', datasetName: ${JSON.stringify(p.datasetName)}, source: () => [] }];\n`);
    const info = async () => {
      const { stdout } = await exec(process.execPath, ['bin/tide.js', 'pipeline', 'example_pipeline', 'info', '-v', '--pipelines', mod], {
        cwd: process.cwd(),
        env: { ...process.env, TIDE_POSTGRES_URL: pgUrl(), TIDE_HOME: home, TIDE_LOG: '' },
        timeout: 60_000,
      });
      expect(stdout).toContain('Attaching to pipeline example_pipeline');
      const at = stdout.indexOf('\nsources:\n');
      expect(at).toBeGreaterThan(0);
      return JSON.parse(stdout.slice(at + '\nsources:\n'.length));
    };
    const expected = (last: number, start: number) => ({
      example: { resources: { my_resource: { incremental: { some_key: expectedCursor(0, last, [{ some_key: last }], start) } } } },
    });

    await p.run(myResource);
    expect(await info()).toEqual(expected(42, 0));
    top = 45;
    await p.run(myResource);
    // verify that the last_value is updated between pipeline runs
    expect(await info()).toEqual(expected(45, 42));
  });
});
