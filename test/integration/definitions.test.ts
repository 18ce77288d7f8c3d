/**
 * Defining data: bind / with / steps / limits / table dispatch / the shapes a resource may
 * produce / transformers / source selection / immutability, loaded into Postgres twice each.
 *
 * Every source here carries a `ticker` resource that only bumps its own state, so each run changes
 * the state and commits; the stateless "second run" case is covered in engine-info.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { IncrementalUnboundError, ResourceDefinitionError, resource, source, transformer } from 'tide';
import type { Pipeline, Resource } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';
import { expectCommittedState, tableExists } from '../helpers/state-db.ts';


const ticker = resource(
  function* (ctx) {
    ctx.state.n = ((ctx.state.n as number) ?? 0) + 1;
  },
  { name: 'ticker' },
);
function withTicker(name: string, ...resources: Resource[]) {
  return source(name, [...resources, ticker]);
}
const tick = (src: string, n: number, extra: Record<string, unknown> = {}) => ({ [src]: { resources: { ticker: { n }, ...extra } } });

describe('bind and with', () => {
  it('bind passes arguments after the context; with overrides options; the originals are unchanged and frozen', async () => {
    const calls: unknown[] = [];
    const base = resource(
      function* numbers(_ctx, from: number, to: number) {
        calls.push([from, to]);
        for (let i = from; i <= to; i++) yield { i };
      },
      { tableName: 'nums' },
    );
    const bound = base.bind(3, 5);
    const renamed = bound.with({ name: 'other_numbers', tableName: 'other' });
    expect(Object.isFrozen(base)).toBe(true);
    expect(Object.isFrozen(base.options)).toBe(true);
    expect(Object.isFrozen(bound)).toBe(true);
    expect(base.name).toBe('numbers');
    expect(base.options.tableName).toBe('nums');
    expect(bound.options.tableName).toBe('nums');
    expect(renamed.name).toBe('other_numbers');
    expect(renamed.options.tableName).toBe('other');
    expect(() => {
      (base.options as { tableName?: string }).tableName = 'x';
    }).toThrow(TypeError);

    const p = testPipeline({ pipelineName: 'defs_bind' });
    for (let run = 1; run <= 2; run++) {
      await p.run(withTicker('b', bound, renamed));
      await expectCommittedState(p, tick('b', run), run);
    }
    expect(calls).toEqual([
      [3, 5],
      [3, 5],
      [3, 5],
      [3, 5],
    ]);
    expect(await rows(p, 'nums', 'i', 'i')).toEqual([{ i: 3 }, { i: 3 }, { i: 4 }, { i: 4 }, { i: 5 }, { i: 5 }]);
    expect(await rows(p, 'other', 'i', 'i')).toEqual([{ i: 3 }, { i: 3 }, { i: 4 }, { i: 4 }, { i: 5 }, { i: 5 }]);
    // binding again replaces the arguments, the first binding is untouched
    const rebound = bound.bind(7, 7);
    await p.run(withTicker('b', rebound));
    expect(calls.at(-1)).toEqual([7, 7]);
    expect((await rows(p, 'nums', 'i', 'i')).map((r) => r.i)).toEqual([3, 3, 4, 4, 5, 5, 7]);
  });
});

describe('pipe steps', () => {
  it('addMap / addFilter run in order, insertAt: 1 runs first, originals keep their steps', async () => {
    const order: string[] = [];
    const base = resource([{ v: 1 }, { v: 2 }, { v: 3 }, { v: 4 }], { name: 'stepped' });
    const a = base.addMap((x: { v: number }) => (order.push(`a${x.v}`), { v: x.v * 10 }));
    const ab = a.addMap((x: { v: number }) => (order.push(`b${x.v}`), { v: x.v + 1 }));
    const cab = ab.addMap((x: { v: number }) => (order.push(`c${x.v}`), { v: x.v }), { insertAt: 1 });
    // a filter placed after the first step (c): sees c's output, before a
    const full = cab.addFilter((x: { v: number }) => (order.push(`f${x.v}`), x.v % 2 === 0), { insertAt: 2 });

    const p = testPipeline({ pipelineName: 'defs_steps' });
    await p.run(withTicker('s', full));
    expect(order).toEqual(['c1', 'f1', 'c2', 'f2', 'a2', 'b20', 'c3', 'f3', 'c4', 'f4', 'a4', 'b40']);
    expect(await rows(p, 'stepped', 'v', 'v')).toEqual([{ v: 21 }, { v: 41 }]);
    await expectCommittedState(p, tick('s', 1), 1);

    // the original and intermediate resources were not changed by adding steps
    order.length = 0;
    await p.run(withTicker('s', a.with({ tableName: 'only_a' })));
    expect(order).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(await rows(p, 'only_a', 'v', 'v')).toEqual([{ v: 10 }, { v: 20 }, { v: 30 }, { v: 40 }]);
    await p.run(withTicker('s', base.with({ tableName: 'only_base' })));
    expect(await rows(p, 'only_base', 'v', 'v')).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }, { v: 4 }]);
    await expectCommittedState(p, tick('s', 3), 3);
  });

  it('addLimit closes the generator (its finally runs) after n yields, sync and async', async () => {
    const closed: string[] = [];
    let produced = 0;
    const syncPages = resource(
      function* () {
        try {
          for (let page = 1; page <= 10; page++) {
            produced++;
            yield [{ page, k: 'a' }, { page, k: 'b' }];
          }
        } finally {
          closed.push('sync');
        }
      },
      { name: 'sync_pages' },
    ).addLimit(2);
    const asyncItems = resource(
      async function* () {
        try {
          for (let i = 1; i <= 10; i++) {
            await new Promise((r) => setTimeout(r, 1));
            yield { i };
          }
        } finally {
          closed.push('async');
        }
      },
      { name: 'async_items' },
    ).addLimit(3);
    const p = testPipeline({ pipelineName: 'defs_limit' });
    for (let run = 1; run <= 2; run++) {
      await p.run(withTicker('l', syncPages, asyncItems));
      await expectCommittedState(p, tick('l', run), run);
    }
    expect(closed).toEqual(['sync', 'async', 'sync', 'async']);
    expect(produced).toBe(4);
    expect(await rows(p, 'sync_pages', 'page, k', 'page, k')).toEqual([
      { page: 1, k: 'a' },
      { page: 1, k: 'a' },
      { page: 1, k: 'b' },
      { page: 1, k: 'b' },
      { page: 2, k: 'a' },
      { page: 2, k: 'a' },
      { page: 2, k: 'b' },
      { page: 2, k: 'b' },
    ]);
    expect(await rows(p, 'async_items', 'i', 'i')).toEqual([{ i: 1 }, { i: 1 }, { i: 2 }, { i: 2 }, { i: 3 }, { i: 3 }]);
  });
});

describe('table dispatch and data shapes', () => {
  it('tableName as a function dispatches one stream to several tables', async () => {
    const events = resource(
      function* (ctx) {
        const run = ((ctx.state.run as number) ?? 0) + 1;
        ctx.state.run = run;
        yield [
          { id: run * 10 + 1, type: 'PushEvent', size: 3 },
          { id: run * 10 + 2, type: 'IssuesEvent', action: 'opened' },
          { id: run * 10 + 3, type: 'PushEvent', size: 1 },
        ];
      },
      { name: 'events', tableName: (e: { type: string }) => e.type },
    );
    const p = testPipeline({ pipelineName: 'defs_dispatch' });
    const i1 = await p.run(source('gh', [events]));
    expect(i1.tables).toEqual({ push_event: { rows: 2 }, issues_event: { rows: 1 } });
    const i2 = await p.run(source('gh', [events]));
    expect(i2.tables).toEqual({ push_event: { rows: 2 }, issues_event: { rows: 1 } });
    expect(await rows(p, 'push_event', 'id', 'id, size')).toEqual([
      { id: 11, size: 3 },
      { id: 13, size: 1 },
      { id: 21, size: 3 },
      { id: 23, size: 1 },
    ]);
    expect(await rows(p, 'issues_event', 'id', 'id, action')).toEqual([
      { id: 12, action: 'opened' },
      { id: 22, action: 'opened' },
    ]);
    expect(await tableExists(p, 'events')).toBe(false);
    await expectCommittedState(p, { gh: { resources: { events: { run: 2 } } } }, 2);
  });

  it('items, pages, nothing; sync and async generators; arrays, iterables and promises as data', async () => {
    const items = resource(function* () {
      yield { k: 'item1' };
      yield { k: 'item2' };
    }, { name: 'items' });
    const pages = resource(async function* () {
      yield [{ k: 'p1a' }, { k: 'p1b' }];
      yield [];
      yield [{ k: 'p2a' }];
    }, { name: 'pages' });
    const nothing = resource(function* () {
      /* yields nothing */
    }, { name: 'nothing' });
    const nothingAsync = resource(async function* () {}, { name: 'nothing_async' });
    const arr = resource([{ k: 'a1' }, { k: 'a2' }], { name: 'arr' });
    const set = resource(new Set([{ k: 's1' }, { k: 's2' }]), { name: 'set' });
    const custom = resource(
      {
        *[Symbol.iterator]() {
          yield { k: 'c1' };
          yield { k: 'c2' };
        },
      },
      { name: 'custom' },
    );
    const asyncIterable = resource(
      {
        async *[Symbol.asyncIterator]() {
          yield { k: 'ai1' };
        },
      },
      { name: 'async_iterable' },
    );
    const returnsPromise = resource(async () => [{ k: 'pr1' }, { k: 'pr2' }], { name: 'returns_promise' });
    const returnsItem = resource(() => ({ k: 'one' }), { name: 'returns_item' });
    const scalars = resource(function* () {
      yield 'x';
      yield 42;
    }, { name: 'scalars' });
    const src = withTicker('shapes', items, pages, nothing, nothingAsync, arr, set, custom, asyncIterable, returnsPromise, returnsItem, scalars);
    const p = testPipeline({ pipelineName: 'defs_shapes' });
    const expected: Record<string, string[]> = {
      items: ['item1', 'item2'],
      pages: ['p1a', 'p1b', 'p2a'],
      arr: ['a1', 'a2'],
      set: ['s1', 's2'],
      custom: ['c1', 'c2'],
      async_iterable: ['ai1'],
      returns_promise: ['pr1', 'pr2'],
      returns_item: ['one'],
    };
    for (let run = 1; run <= 2; run++) {
      const info = await p.run(src);
      expect(info.tables).toEqual({ ...Object.fromEntries(Object.entries(expected).map(([t, ks]) => [t, { rows: ks.length }])), scalars: { rows: 2 } });
      for (const [t, ks] of Object.entries(expected)) {
        expect((await rows(p, t, 'k', 'k')).map((r) => r.k)).toEqual(ks.flatMap((k) => Array(run).fill(k)).sort());
      }
      // non-dict items are wrapped as { value }
      expect((await rows(p, 'scalars', 'value', 'value')).map((r) => r.value).sort()).toEqual(Array(run).fill(['42', 'x']).flat().sort());
      expect(await tableExists(p, 'nothing')).toBe(false);
      expect(await tableExists(p, 'nothing_async')).toBe(false);
      await expectCommittedState(p, tick('shapes', run), run);
    }
  });

  it('passing a started generator to resource() throws IncrementalUnboundError saying what to do', () => {
    function* gen() {
      yield 1;
    }
    async function* agen() {
      yield 1;
    }
    for (const started of [gen(), agen()]) {
      let err: unknown;
      try {
        resource(started as never, { name: 'started' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(IncrementalUnboundError);
      expect(err).toBeInstanceOf(ResourceDefinitionError);
      expect((err as Error).message).toMatch(/generator function/);
      expect((err as Error).message).toMatch(/bind/);
      expect((err as IncrementalUnboundError).resource).toBe('started');
    }
  });
});

describe('transformers and source selection', () => {
  it('a transformer runs once per parent item (also when the parent yields pages)', async () => {
    const perItem: number[] = [];
    const users = resource(
      function* (ctx) {
        const run = ((ctx.state.run as number) ?? 0) + 1;
        ctx.state.run = run;
        yield [{ id: run * 10 + 1 }, { id: run * 10 + 2 }];
        yield { id: run * 10 + 3 };
      },
      { name: 'users' },
    );
    const details = transformer(
      async function* (_ctx, user: { id: number }, suffix: string) {
        perItem.push(user.id);
        yield { user_id: user.id, label: `u${user.id}${suffix}` };
      },
      { name: 'user_details', dataFrom: users },
    ).bind('!');
    const p = testPipeline({ pipelineName: 'defs_transformer' });
    await p.run(source('crm', [users, details]));
    await p.run(source('crm', [users, details]));
    expect(perItem).toEqual([11, 12, 13, 21, 22, 23]);
    expect(await rows(p, 'user_details', 'user_id', 'user_id, label')).toEqual([11, 12, 13, 21, 22, 23].map((id) => ({ user_id: id, label: `u${id}!` })));
    expect(await rows(p, 'users', 'id', 'id')).toEqual([11, 12, 13, 21, 22, 23].map((id) => ({ id })));
    await expectCommittedState(p, { crm: { resources: { users: { run: 2 } } } }, 2);
  });

  it('withResources loads only the selected ones; the parent of a selected transformer runs but is not loaded', async () => {
    const ran: string[] = [];
    const parent = resource(
      function* (ctx) {
        ran.push('parent');
        ctx.state.parent_runs = ((ctx.state.parent_runs as number) ?? 0) + 1;
        yield [{ id: 1 }, { id: 2 }];
      },
      { name: 'parent' },
    );
    const child = transformer(
      function* (ctx, item: { id: number }) {
        ran.push(`child${item.id}`);
        ctx.state.seen = ((ctx.state.seen as number) ?? 0) + 1;
        yield { parent_id: item.id };
      },
      { name: 'child', dataFrom: parent },
    );
    const other = resource(
      function* () {
        ran.push('other');
        yield { o: 1 };
      },
      { name: 'other' },
    );
    const all = source('sel', [parent, child, other]);
    const onlyChild = all.withResources('child');
    expect(Object.isFrozen(all)).toBe(true);
    expect(Object.isFrozen(all.resources)).toBe(true);
    expect(all.resources.child).toBe(child);
    expect(all.resources.parent).toBe(parent);
    expect(Object.keys(all.resources)).toEqual(['parent', 'child', 'other']);
    expect(all.selectedResources.map((r) => r.name)).toEqual(['parent', 'child', 'other']);
    expect(onlyChild.selectedResources.map((r) => r.name)).toEqual(['child']);
    expect(() => all.withResources('nope')).toThrow(ResourceDefinitionError);

    const p = testPipeline({ pipelineName: 'defs_select' });
    const i1 = await p.run(onlyChild);
    expect(i1.tables).toEqual({ child: { rows: 2 } });
    const i2 = await p.run(onlyChild);
    expect(i2.tables).toEqual({ child: { rows: 2 } });
    expect(ran).toEqual(['parent', 'child1', 'child2', 'parent', 'child1', 'child2']);
    expect(await tableExists(p, 'parent')).toBe(false);
    expect(await tableExists(p, 'other')).toBe(false);
    expect(await rows(p, 'child', 'parent_id', 'parent_id')).toEqual([{ parent_id: 1 }, { parent_id: 1 }, { parent_id: 2 }, { parent_id: 2 }]);
    // the parent ran, so its state advanced
    await expectCommittedState(p, { sel: { resources: { parent: { parent_runs: 2 }, child: { seen: 4 } } } }, 2);

    // the whole source, from the same definitions: all three load
    ran.length = 0;
    const i3 = await p.run(all);
    expect(i3.tables).toEqual({ parent: { rows: 2 }, child: { rows: 2 }, other: { rows: 1 } });
    expect(ran).toEqual(['parent', 'child1', 'child2', 'other']);
    await expectCommittedState(p, { sel: { resources: { parent: { parent_runs: 3 }, child: { seen: 6 } } } }, 3);
  });
});
