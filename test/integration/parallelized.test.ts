/**
 * `parallelized: true` (dlt's `parallelized=True`): the parallelized resources of one extract run
 * together, at most PARALLEL_WORKERS at once, and a parallelized transformer's calls likewise. Rows
 * and state equal those of the same run without it; only the order in which pages arrive differs.
 * The first failure fails the run, naming its resource, and stops and closes the others.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ExtractError, ResourceDefinitionError, current, incremental, resource, source, transformer } from 'tide';
import type { Pipeline, Resource } from 'tide';
import { PARALLEL_WORKERS } from '../../pipeline/extract.ts';
import { rows, testPipeline } from '../helpers/pipelines.ts';
import { loadIds, snapshot, tableExists } from '../helpers/state-db.ts';

interface Event {
  id: number;
  updated_at: string;
}

/** `n` events from id `first` on, one a day from 2024-01-01. */
function eventsOf(first: number, n: number, dayOffset = 0): Event[] {
  return Array.from({ length: n }, (_, i) => ({ id: first + i, updated_at: new Date(Date.UTC(2024, 0, 1 + dayOffset + i)).toISOString() }));
}

/** An API resource: pages of 2 events at or after the cursor, each page after a wait (the request). */
function api(name: string, feed: Event[], pulls: string[], options: { parallelized?: boolean; tableName?: string }): Resource {
  return resource(
    async function* (ctx) {
      const fresh = feed.filter((e) => e.updated_at >= (ctx.incremental!.startValue as string));
      for (let i = 0; i < fresh.length; i += 2) {
        pulls.push(name);
        await sleep(5);
        yield fresh.slice(i, i + 2);
      }
    },
    { name, primaryKey: 'id', incremental: incremental('updated_at', { initialValue: '2024-01-01T00:00:00.000Z' }), ...options },
  );
}

/** How many runs of equal neighbours `xs` has: 3 for a,a,b,b,c,c; more when they interleave. */
function runsOf(xs: string[]): number {
  return xs.filter((x, i) => i === 0 || xs[i - 1] !== x).length;
}

async function tableRows(p: Pipeline, tables: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await rows(p, t, 'id', 'id, updated_at');
  return out;
}

async function catchError(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected the run to throw');
}

describe('parallelized resources', () => {
  it('load the rows and state of a sequential run, over two incremental runs; their pages interleave', async () => {
    const feeds = { orders: eventsOf(1, 5), refunds: eventsOf(101, 4), users: eventsOf(201, 6) };
    const sourceOf = (parallelized: boolean, pulls: string[]) =>
      source('api', [
        // orders and refunds share one table: its rows arrive interleaved when parallelized
        api('orders', feeds.orders, pulls, { parallelized, tableName: 'ledger' }),
        api('refunds', feeds.refunds, pulls, { parallelized, tableName: 'ledger' }),
        api('users', feeds.users, pulls, { parallelized }),
      ]);
    const seq = testPipeline({ pipelineName: 'par' });
    const par = testPipeline({ pipelineName: 'par' });

    for (const run of [1, 2]) {
      const seqPulls: string[] = [];
      const parPulls: string[] = [];
      const seqInfo = await seq.run(sourceOf(false, seqPulls));
      const parInfo = await par.run(sourceOf(true, parPulls));

      expect(parInfo.tables).toEqual(seqInfo.tables);
      expect(await tableRows(par, ['ledger', 'users'])).toEqual(await tableRows(seq, ['ledger', 'users']));
      expect(par.state.sources).toEqual(seq.state.sources);
      // sequential: all pages of one resource, then the next; parallelized: they alternate
      expect(runsOf(seqPulls)).toBe(3);
      expect(runsOf(parPulls)).toBeGreaterThan(3);
      expect(parPulls.slice(0, 3).sort()).toEqual(['orders', 'refunds', 'users']);

      if (run === 1) {
        expect(parInfo.tables).toEqual({ ledger: { rows: 9 }, users: { rows: 6 } });
        // the next run: new events after the cursors (the boundary rows are deduplicated)
        feeds.orders.push(...eventsOf(6, 3, 5));
        feeds.users.push(...eventsOf(207, 1, 6));
      } else {
        expect(parInfo.tables).toEqual({ ledger: { rows: 3 }, users: { rows: 1 } });
      }
    }
    const cursors = par.state.sources?.api.resources as Record<string, { incremental: { updated_at: { last_value: string } } }>;
    expect(Object.fromEntries(Object.entries(cursors).map(([k, v]) => [k, v.incremental.updated_at.last_value]))).toEqual({
      orders: '2024-01-08T00:00:00.000Z',
      refunds: '2024-01-04T00:00:00.000Z',
      users: '2024-01-07T00:00:00.000Z',
    });
  });

  it(`run at most ${PARALLEL_WORKERS} at once; the others run one after another before them`, async () => {
    let active = 0;
    let most = 0;
    const pulls: string[] = [];
    const busy = (name: string) =>
      resource(
        async function* () {
          active++;
          most = Math.max(most, active);
          try {
            for (let page = 0; page < 3; page++) {
              pulls.push(name);
              await sleep(2);
              yield [{ id: page }];
            }
          } finally {
            active--;
          }
        },
        { name, parallelized: true },
      );
    const names = Array.from({ length: PARALLEL_WORKERS + 2 }, (_, i) => `busy_${i}`);
    const solo = resource(
      function* () {
        for (let page = 0; page < 3; page++) {
          pulls.push('solo');
          yield [{ id: page }];
        }
      },
      { name: 'solo' },
    );
    const p = testPipeline({ pipelineName: 'par_bound' });
    const info = await p.run(source('many', [...names.map(busy), solo]));

    expect(most).toBe(PARALLEL_WORKERS);
    expect(pulls.slice(0, 3)).toEqual(['solo', 'solo', 'solo']);
    expect(info.tables).toEqual(Object.fromEntries([...names, 'solo'].map((n) => [n, { rows: 3 }])));
  });

  it('the first failure fails the run with an ExtractError naming it; the others are stopped and closed; nothing loaded', async () => {
    let fail = false;
    let ordersPulled = 0;
    let ordersClosed = false;
    const orders = resource(
      async function* (ctx) {
        ctx.state.touched = (ctx.state.touched as number | undefined ?? 0) + 1;
        try {
          for (let page = 0; page < 50; page++) {
            ordersPulled++;
            await sleep(2);
            yield [{ id: page }];
          }
        } finally {
          ordersClosed = true;
        }
      },
      { name: 'orders', parallelized: true },
    );
    const users = resource(
      async function* (ctx) {
        ctx.state.touched = (ctx.state.touched as number | undefined ?? 0) + 1;
        yield [{ id: 1 }];
        await sleep(5);
        if (fail) throw new Error('upstream API returned 503');
        yield [{ id: 2 }];
      },
      { name: 'users', parallelized: true },
    );
    const src = source('api', [orders, users]);
    const p = testPipeline({ pipelineName: 'par_fail' });
    const first = await p.run(src);
    const stateBefore = snapshot(p.state);
    const ordersBefore = await rows(p, 'orders', 'id', 'id');

    fail = true;
    ordersPulled = 0;
    ordersClosed = false;
    const e = await catchError(() => p.run(src));

    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('users');
    expect((e as ExtractError).pipeline).toBe('par_fail');
    expect((e as Error).message).toContain('upstream API returned 503');
    expect(ordersClosed).toBe(true);
    expect(ordersPulled).toBeLessThan(50);
    expect(await loadIds(p)).toEqual([first.loadId]);
    expect(await rows(p, 'orders', 'id', 'id')).toEqual(ordersBefore);
    expect(await rows(p, 'users', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(p.state).toEqual(stateBefore);
  });

  it('a resource function that rejects (not a generator) stops the others too; on a first run no table is left', async () => {
    let okPulled = 0;
    const ok = resource(async function* () {
      for (let page = 0; page < 20; page++) {
        okPulled++;
        await sleep(2);
        yield [{ id: page }];
      }
    }, { name: 'ok', parallelized: true });
    const bad = resource(async () => {
      await sleep(3);
      throw new Error('boom');
    }, { name: 'bad', parallelized: true });
    const p = testPipeline({ pipelineName: 'par_fail_first' });
    const e = await catchError(() => p.run(source('api', [ok, bad])));
    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('bad');
    expect(okPulled).toBeLessThan(20);
    expect(await tableExists(p, 'ok')).toBe(false);
    expect(await tableExists(p, 'bad')).toBe(false);
    expect(await loadIds(p)).toEqual([]);
  });

  it('a non-boolean parallelized is a ResourceDefinitionError', () => {
    expect(() => resource([{ id: 1 }], { name: 'x', parallelized: 'yes' as unknown as boolean })).toThrow(ResourceDefinitionError);
  });
});

describe('parallelized transformers', () => {
  /** Parent ids one item at a time; the transformer fetches each id's details after a wait. */
  function detailsSource(parallelized: boolean, track: { active: number; most: number }, failOn?: number) {
    const ids = resource(function* () {
      for (let id = 1; id <= 12; id++) yield { id };
    }, { name: 'ids' });
    const details = transformer(
      async (_ctx, item: { id: number }) => {
        track.active++;
        track.most = Math.max(track.most, track.active);
        try {
          await sleep(3);
          if (item.id === failOn) throw new Error(`no details for ${item.id}`);
          return { id: item.id, updated_at: new Date(Date.UTC(2024, 0, item.id)).toISOString() };
        } finally {
          track.active--;
        }
      },
      { name: 'details', dataFrom: ids, parallelized, primaryKey: 'id', incremental: incremental('updated_at') },
    );
    return source('api', [details]);
  }

  it(`run their calls for one parent at most ${PARALLEL_WORKERS} at once, with the rows and state of a sequential run`, async () => {
    const seqTrack = { active: 0, most: 0 };
    const parTrack = { active: 0, most: 0 };
    const seq = testPipeline({ pipelineName: 'par_tx' });
    const par = testPipeline({ pipelineName: 'par_tx' });
    await seq.run(detailsSource(false, seqTrack));
    const info = await par.run(detailsSource(true, parTrack));

    expect(seqTrack.most).toBe(1);
    expect(parTrack.most).toBe(PARALLEL_WORKERS);
    expect(info.tables).toEqual({ details: { rows: 12 } });
    expect(await tableRows(par, ['details'])).toEqual(await tableRows(seq, ['details']));
    expect(par.state.sources).toEqual(seq.state.sources);
  });

  it('with addLimit(n): exactly n calls load, though they run at once', async () => {
    // a flush per row: each call waits on Postgres in its sink, where the others catch up
    const p = testPipeline({ pipelineName: 'par_tx_limit', batchSize: 1 });
    const src = detailsSource(true, { active: 0, most: 0 });
    const info = await p.run(src.withResource(src.resources.details.addLimit(3)));
    expect(info.tables).toEqual({ details: { rows: 3 } });
  });

  it('a failing call fails the run with an ExtractError naming the transformer; nothing loaded', async () => {
    const track = { active: 0, most: 0 };
    const p = testPipeline({ pipelineName: 'par_tx_fail' });
    const e = await catchError(() => p.run(detailsSource(true, track, 4)));
    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('details');
    expect((e as Error).message).toContain('no details for 4');
    // every started call settled before the run failed
    expect(track.active).toBe(0);
    expect(await tableExists(p, 'details')).toBe(false);
    expect(await loadIds(p)).toEqual([]);
  });
});

describe('state and closing of parallelized resources', () => {
  it('ST-2: current.resourceState() after an await is the running resource\'s own, for resources and transformer calls', async () => {
    /** a helper called from the resource: it reaches the state only through `current` */
    const count = (key: string) => {
      const st = current.resourceState();
      st[key] = ((st[key] as number | undefined) ?? 0) + 1;
    };
    const writer = (name: string, pages: number) =>
      resource(
        async function* () {
          for (let page = 0; page < pages; page++) {
            await sleep(2);
            count('pages');
            yield [{ id: page }];
          }
        },
        { name, parallelized: true },
      );
    const a = writer('a', 3);
    const b = writer('b', 5);
    const details = transformer(
      async (_ctx, item: { id: number }) => {
        await sleep(2);
        count('calls');
        return { id: item.id };
      },
      { name: 'details', dataFrom: a, parallelized: true },
    );
    const p = testPipeline({ pipelineName: 'par_state' });
    await p.run(source('api', [a, b, details]));
    expect(p.state.sources?.api.resources).toEqual({ a: { pages: 3 }, b: { pages: 5 }, details: { calls: 3 } });
  });

  it('INC-37: a parallelized root is closed by rowOrder like any other, while the others go on', async () => {
    let pulled = 0;
    const endless = resource(
      async function* () {
        for (let id = 1; ; id++) {
          pulled++;
          await sleep(1);
          yield [{ id }];
        }
      },
      { name: 'endless', parallelized: true, incremental: incremental('id', { initialValue: 1, endValue: 4, rowOrder: 'asc' }) },
    );
    const p = testPipeline({ pipelineName: 'par_close' });
    const info = await p.run(source('api', [endless, api('other', eventsOf(1, 6), [], { parallelized: true })]));
    expect(info.tables).toEqual({ endless: { rows: 3 }, other: { rows: 6 } });
    expect(pulled).toBe(4);
  });
});
