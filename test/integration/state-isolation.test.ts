/**
 * State edge cases: typed values (ST-3) through Postgres and the local folder, `current.*` from
 * pipe steps, managed vs unmanaged state (ST-5), deleting keys, transformer failures.
 */
import { describe, expect, it } from 'vitest';
import { ExtractError, current, resource, source, transformer } from 'tide';
import type { Pipeline } from 'tide';
import { datasetName, rows, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { expectCommittedState, loadIds, storedStates } from '../helpers/state-db.ts';


describe('typed state values', () => {
  it('a Date and a bigint in state come back as Date and bigint, from the local folder and from Postgres', async () => {
    const seen: unknown[] = [];
    const r = resource(
      function* (ctx) {
        seen.push({ since: ctx.state.since, big: ctx.state.big });
        const prev = ctx.state.since as Date | undefined;
        ctx.state.since = new Date((prev?.getTime() ?? Date.UTC(2024, 0, 1)) + 86_400_000);
        ctx.state.big = ((ctx.state.big as bigint | undefined) ?? 9007199254740993n) + 1n;
        yield { at: (ctx.state.since as Date).toISOString() };
      },
      { name: 'typed' },
    );
    const ds = datasetName();
    const dir = tempDir();
    const p1 = testPipeline({ pipelineName: 'typed_state', datasetName: ds, pipelinesDir: dir });
    await p1.run(r);
    const st = (p1.state.sources as any).typed_state.resources.typed;
    expect(st.since).toBeInstanceOf(Date);
    expect(st.since.toISOString()).toBe('2024-01-02T00:00:00.000Z');
    expect(st.big).toBe(9007199254740994n);
    // stored with dlt's typed-JSON markers
    const raw = (await storedStates(p1))[0].state as any;
    expect(raw.sources.typed_state.resources.typed.since).toBe('\uF0272024-01-02T00:00:00.000Z');

    // same folder, new instance: from the local state file
    const p2 = testPipeline({ pipelineName: 'typed_state', datasetName: ds, pipelinesDir: dir });
    await p2.run(r);
    // empty folder: from Postgres
    const p3 = testPipeline({ pipelineName: 'typed_state', datasetName: ds, pipelinesDir: tempDir() });
    await p3.run(r);
    expect(seen).toEqual([
      { since: undefined, big: undefined },
      { since: new Date('2024-01-02T00:00:00.000Z'), big: 9007199254740994n },
      { since: new Date('2024-01-03T00:00:00.000Z'), big: 9007199254740995n },
    ]);
    expect((p3.state.sources as any).typed_state.resources.typed).toEqual({ since: new Date('2024-01-04T00:00:00.000Z'), big: 9007199254740996n });
    expect((await rows(p3, 'typed', 'at', 'at')).map((x) => (x.at as Date).toISOString())).toEqual([
      '2024-01-02T00:00:00.000Z',
      '2024-01-03T00:00:00.000Z',
      '2024-01-04T00:00:00.000Z',
    ]);
  });
});

describe('current.* from code the resource runs', () => {
  it('map and filter steps and the tableName function see the running resource state', async () => {
    const r = resource(
      function* (ctx) {
        ctx.state.run = ((ctx.state.run as number) ?? 0) + 1;
        yield [{ id: 1 }, { id: 2 }, { id: 3 }];
      },
      {
        name: 'stepstate',
        tableName: () => `t_run${current.resourceState().run}`,
      },
    )
      .addMap((x: { id: number }) => {
        const s = current.resourceState();
        s.mapped = ((s.mapped as number) ?? 0) + 1;
        return { ...x, run: s.run };
      })
      .addFilter((x: { id: number }) => x.id !== (current.resourceState().run as number));
    const p = testPipeline({ pipelineName: 'step_state' });
    await p.run(source('ss', [r]));
    expect(await rows(p, 't_run1', 'id', 'id, run')).toEqual([
      { id: 2, run: 1 },
      { id: 3, run: 1 },
    ]);
    await expectCommittedState(p, { ss: { resources: { stepstate: { run: 1, mapped: 3 } } } }, 1);
    await p.run(source('ss', [r]));
    expect(await rows(p, 't_run2', 'id', 'id, run')).toEqual([
      { id: 1, run: 2 },
      { id: 3, run: 2 },
    ]);
    await expectCommittedState(p, { ss: { resources: { stepstate: { run: 2, mapped: 6 } } } }, 2);
  });

  it('in a transformer, current.resourceState() is the transformer state', async () => {
    const parent = resource([{ id: 1 }, { id: 2 }], { name: 'parent_items' });
    const child = transformer(
      async function* (ctx, item: { id: number }) {
        await new Promise((r) => setTimeout(r, 1));
        expect(current.resourceState()).toBe(ctx.state);
        current.resourceState().last = item.id;
        yield { id: item.id };
      },
      { name: 'child_items', dataFrom: parent },
    );
    const p = testPipeline({ pipelineName: 'tr_current' });
    await p.run(source('tc', [parent, child]));
    await p.run(source('tc', [parent, child]));
    expect(await rows(p, 'child_items', 'id', 'id')).toEqual([{ id: 1 }, { id: 1 }, { id: 2 }, { id: 2 }]);
    await expectCommittedState(p, { tc: { resources: { child_items: { last: 2 } } } }, 1);
  });
});

describe('managed state', () => {
  it('writes to a state object kept from an earlier run are not committed (ST-5)', async () => {
    let kept: Record<string, unknown> | undefined;
    const r = resource(
      function* (ctx) {
        kept = ctx.state;
        ctx.state.n = ((ctx.state.n as number) ?? 0) + 1;
        yield { n: ctx.state.n };
      },
      { name: 'leaky' },
    );
    const p = testPipeline({ pipelineName: 'leak' });
    await p.run(r);
    kept!.leaked = 'outside the run';
    expect((p.state.sources as any).leak.resources.leaky).toEqual({ n: 1 });
    await p.run(r);
    await expectCommittedState(p, { leak: { resources: { leaky: { n: 2 } } } }, 2);
  });

  it('calling current.resourceState() outside a run throws a TideError', () => {
    expect(() => current.resourceState()).toThrow(/outside a running resource/);
  });

  it('deleting a key from state is committed and restored', async () => {
    const r = resource(
      function* (ctx) {
        const run = ((ctx.state.run as number) ?? 0) + 1;
        ctx.state.run = run;
        if (run === 1) {
          ctx.state.temp = 'x';
          ctx.sourceState.flag = true;
        } else {
          delete ctx.state.temp;
          delete ctx.sourceState.flag;
        }
        yield { run };
      },
      { name: 'deleter' },
    );
    const ds = datasetName();
    const p = testPipeline({ pipelineName: 'deleting', datasetName: ds });
    await p.run(source('del', [r]));
    await expectCommittedState(p, { del: { flag: true, resources: { deleter: { run: 1, temp: 'x' } } } }, 1);
    await p.run(source('del', [r]));
    await expectCommittedState(p, { del: { resources: { deleter: { run: 2 } } } }, 2);
    const fresh = testPipeline({ pipelineName: 'deleting', datasetName: ds });
    await fresh.run(source('del', [r]));
    await expectCommittedState(fresh, { del: { resources: { deleter: { run: 3 } } } }, 3);
  });

  it('a transformer that throws: ExtractError names the transformer; parent rows and state are rolled back too', async () => {
    let failOn = 0;
    const parent = resource(
      function* (ctx) {
        ctx.state.calls = ((ctx.state.calls as number) ?? 0) + 1;
        yield [{ id: 1 }, { id: 2 }, { id: 3 }];
      },
      { name: 'parents' },
    );
    const child = transformer(
      function* (ctx, item: { id: number }) {
        if (item.id === failOn) throw new Error(`detail ${item.id} not found`);
        ctx.state.count = ((ctx.state.count as number) ?? 0) + 1;
        yield { parent_id: item.id };
      },
      { name: 'details', dataFrom: parent },
    );
    const src = source('tf', [parent, child]);
    const p = testPipeline({ pipelineName: 'tr_fail' });
    const i1 = await p.run(src);
    const before = structuredClone(p.state);
    failOn = 2;
    let err: unknown;
    try {
      await p.run(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExtractError);
    expect((err as ExtractError).resource).toBe('details');
    expect((err as ExtractError).pipeline).toBe('tr_fail');
    expect((err as Error).message).toContain('detail 2 not found');
    expect(p.state).toEqual(before);
    expect(await loadIds(p)).toEqual([i1.loadId]);
    expect(await rows(p, 'parents', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(await rows(p, 'details', 'parent_id', 'parent_id')).toEqual([{ parent_id: 1 }, { parent_id: 2 }, { parent_id: 3 }]);
    await expectCommittedState(p, { tf: { resources: { parents: { calls: 1 }, details: { count: 3 } } } }, 1);
  });
});
