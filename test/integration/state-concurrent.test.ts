/**
 * Two machines (working folders) writing one pipeline's state into one dataset at the same time,
 * and refresh modes wiping state (ST-14).
 */
import { describe, expect, it } from 'vitest';
import { resource, source } from 'tide';
import type { Pipeline } from 'tide';
import { datasetName, rows, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { expectCommittedState, loadIds, storedStates, tableExists } from '../helpers/state-db.ts';


describe('concurrent writers', () => {
  it('a run that started before another committed keeps the other run’s state (same source, different resources)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const isStarted = new Promise<void>((r) => (started = r));
    const slow = resource(
      async function* (ctx) {
        ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
        ctx.sourceState.slow_mark = 'a';
        started();
        await gate;
        yield { who: 'slow' };
      },
      { name: 'slow' },
    );
    const fast = resource(
      function* (ctx) {
        ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
        ctx.sourceState.fast_mark = 'b';
        yield { who: 'fast' };
      },
      { name: 'fast' },
    );
    const ds = datasetName();
    const seed = testPipeline({ pipelineName: 'shared', datasetName: ds, pipelinesDir: tempDir() });
    await seed.run(source('s', [fast]));
    await expectCommittedState(seed, { s: { fast_mark: 'b', resources: { fast: { runs: 1 } } } }, 1);

    const m1 = testPipeline({ pipelineName: 'shared', datasetName: ds, pipelinesDir: tempDir() });
    const m2 = testPipeline({ pipelineName: 'shared', datasetName: ds, pipelinesDir: tempDir() });
    const slowRun = m1.run(source('s', [slow]));
    await isStarted; // m1 has read state version 1
    const i2 = await m2.run(source('s', [fast])); // commits version 2
    expect(i2.loadId).not.toBeNull();
    release();
    const i1 = await slowRun;
    expect(i1.loadId).not.toBeNull();

    const expected = { s: { fast_mark: 'b', slow_mark: 'a', resources: { fast: { runs: 2 }, slow: { runs: 1 } } } };
    await expectCommittedState(m1, expected, 3);
    expect((await storedStates(m1)).map((s) => s.version)).toEqual([1, 2, 3]);
    expect(await rows(m1, 'fast', 'who', 'who')).toEqual([{ who: 'fast' }, { who: 'fast' }]);
    expect(await rows(m1, 'slow', 'who', 'who')).toEqual([{ who: 'slow' }]);
    // and a fresh machine sees everything
    const m3 = testPipeline({ pipelineName: 'shared', datasetName: ds, pipelinesDir: tempDir() });
    await m3.run(source('s', [fast]));
    await expectCommittedState(m3, { s: { fast_mark: 'b', slow_mark: 'a', resources: { fast: { runs: 3 }, slow: { runs: 1 } } } }, 4);
  });
});

describe('refresh wipes state (ST-14)', () => {
  it("refresh: 'drop_sources' drops the source tables and its whole state; the run starts from scratch", async () => {
    const seen: unknown[] = [];
    const a = resource(
      function* (ctx) {
        seen.push(structuredClone(ctx.state));
        ctx.state.n = ((ctx.state.n as number) ?? 0) + 1;
        ctx.sourceState.shared = ctx.state.n;
        yield { n: ctx.state.n, extra: ctx.state.n === 2 ? 'only in run 2' : undefined };
      },
      { name: 'a' },
    );
    const p = testPipeline({ pipelineName: 'refresher' });
    await p.run(source('r', [a]));
    await p.run(source('r', [a]));
    await expectCommittedState(p, { r: { shared: 2, resources: { a: { n: 2 } } } }, 2);
    const i3 = await p.run(source('r', [a]), { refresh: 'drop_sources' });
    expect(i3.tables).toEqual({ a: { rows: 1 } });
    expect(seen).toEqual([{}, { n: 1 }, {}]);
    expect(await rows(p, 'a', 'n', 'n')).toEqual([{ n: 1 }]);
    expect(Object.keys((await p.query(`SELECT * FROM "${p.datasetName}".a`))[0]).sort()).toEqual(['_dlt_id', '_dlt_load_id', 'n']);
    await expectCommittedState(p, { r: { shared: 1, resources: { a: { n: 1 } } } }, 3);
    expect(await tableExists(p, 'a')).toBe(true);
    expect(await loadIds(p)).toHaveLength(3);
  });

  it("refresh: 'drop_data' empties the selected resource's tables and state, keeps others and source keys", async () => {
    const mk = (name: string) =>
      resource(
        function* (ctx) {
          ctx.state.n = ((ctx.state.n as number) ?? 0) + 1;
          ctx.sourceState[`${name}_seen`] = true;
          yield { n: ctx.state.n };
        },
        { name },
      );
    const x = mk('x');
    const y = mk('y');
    const src = source('dd', [x, y]);
    const p = testPipeline({ pipelineName: 'drop_data' });
    await p.run(src);
    await p.run(src);
    await p.run(src.withResources('x'), { refresh: 'drop_data' });
    expect(await rows(p, 'x', 'n', 'n')).toEqual([{ n: 1 }]);
    expect(await rows(p, 'y', 'n', 'n')).toEqual([{ n: 1 }, { n: 2 }]);
    await expectCommittedState(p, { dd: { x_seen: true, y_seen: true, resources: { x: { n: 1 }, y: { n: 2 } } } }, 3);
  });
});
