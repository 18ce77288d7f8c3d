/**
 * State restore from Postgres (ST-9, ST-10) and replace resetting resource state (ST-13).
 */
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { incremental, resource, source, transformer } from 'tide';
import type { Pipeline } from 'tide';
import { datasetName, rows, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { expectCommittedState, loadIds, restorableState, storedStates } from '../helpers/state-db.ts';


function feedSource(feed: { id: number; v: string }[], seen: unknown[]) {
  const manual = resource(
    function* (ctx) {
      const after = (ctx.state.last_id as number) ?? 0;
      seen.push({ manual: after });
      const page = feed.filter((x) => x.id > after);
      if (page.length) yield page;
      ctx.state.last_id = Math.max(after, ...page.map((x) => x.id));
    },
    { name: 'manual' },
  );
  const auto = resource(
    function* (ctx) {
      seen.push({ auto: ctx.incremental!.startValue });
      yield feed.map((x) => ({ id: x.id, w: x.v.toUpperCase() }));
    },
    { name: 'auto', incremental: incremental('id', { initialValue: 0 }) },
  );
  return source('feed', [manual, auto]);
}

describe('restore from the destination (empty working folder)', () => {
  it('a new pipelinesDir with the same pipeline and dataset continues where the last run stopped', async () => {
    const feed = [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ];
    const seen: unknown[] = [];
    const src = feedSource(feed, seen);
    const ds = datasetName();
    const p1 = testPipeline({ pipelineName: 'restorer', datasetName: ds, pipelinesDir: tempDir() });
    await p1.run(src);
    feed.push({ id: 3, v: 'c' });
    await p1.run(src);
    expect(await rows(p1, 'manual', 'id', 'id, v')).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
    ]);
    expect(p1.state._state_version).toBe(2);
    expect((p1.state.sources as any).feed.resources.manual).toEqual({ last_id: 3 });
    expect((p1.state.sources as any).feed.resources.auto.incremental.id).toMatchObject({ initial_value: 0, last_value: 3, start_value: 2 });
    const p1State = structuredClone(p1.state);

    // a fresh machine: empty working folder
    const p2 = testPipeline({ pipelineName: 'restorer', datasetName: ds, pipelinesDir: tempDir() });
    expect(p2.state._state_version).toBe(0);
    expect(p2.state.sources).toBeUndefined();
    seen.length = 0;
    const i3 = await p2.run(src); // nothing new
    expect(seen).toEqual([{ manual: 3 }, { auto: 3 }]);
    expect(i3.loadId).toBeNull();
    const { _local: _a, ...p1NoLocal } = p1State as Record<string, unknown>;
    const { _local: _b, ...p2NoLocal } = p2.state as Record<string, unknown>;
    expect(p2NoLocal).toEqual(p1NoLocal);
    expect(await loadIds(p2)).toHaveLength(2);

    feed.push({ id: 4, v: 'd' });
    seen.length = 0;
    const i4 = await p2.run(src);
    expect(seen).toEqual([{ manual: 3 }, { auto: 3 }]);
    expect(i4.tables).toEqual({ manual: { rows: 1 }, auto: { rows: 1 } });
    expect(await rows(p2, 'manual', 'id', 'id, v')).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c' },
      { id: 4, v: 'd' },
    ]);
    expect(await rows(p2, 'auto', 'id', 'id, w')).toEqual([
      { id: 1, w: 'A' },
      { id: 2, w: 'B' },
      { id: 3, w: 'C' },
      { id: 4, w: 'D' },
    ]);
    expect(p2.state._state_version).toBe(3);
    expect((p2.state.sources as any).feed.resources.manual).toEqual({ last_id: 4 });
    expect((p2.state.sources as any).feed.resources.auto.incremental.id).toMatchObject({ initial_value: 0, last_value: 4, start_value: 3 });
    await expectCommittedState(p2, p2.state.sources as Record<string, unknown>, 3);

    // and the first machine, with its older local state, picks up the newer destination state
    seen.length = 0;
    const i5 = await p1.run(src);
    expect(seen).toEqual([{ manual: 4 }, { auto: 4 }]);
    expect(i5.loadId).toBeNull();
    expect(p1.state._state_version).toBe(3);
    expect(await rows(p1, 'manual', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
  });

  it('a state row whose load has no _dlt_loads row is ignored', async () => {
    const seen: unknown[] = [];
    const r = resource(
      function* (ctx) {
        const n = ((ctx.state.n as number) ?? 0) + 1;
        seen.push(ctx.state.n ?? null);
        ctx.state.n = n;
        yield { n };
      },
      { name: 'counter' },
    );
    const ds = datasetName();
    const p1 = testPipeline({ pipelineName: 'orphans', datasetName: ds, pipelinesDir: tempDir() });
    await p1.run(r);
    await p1.run(r);
    await expectCommittedState(p1, { orphans: { resources: { counter: { n: 2 } } } }, 2);

    // a newer state row from a load that never completed
    const forged = { ...structuredClone(p1.state), _state_version: 7, sources: { orphans: { resources: { counter: { n: 999 } } } } };
    delete (forged as Record<string, unknown>)._local;
    const orphanLoad = '9999999999.000001';
    await p1.query(
      `INSERT INTO "${ds}"._dlt_pipeline_state (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id)
       VALUES (7, 4, 'orphans', $1, now(), 'forged', $2, 'forged_row_id_1')`,
      [deflateSync(Buffer.from(JSON.stringify(forged)), { level: 9 }).toString('base64'), orphanLoad],
    );
    expect((await storedStates(p1)).map((s) => [s.version, s.completed])).toEqual([
      [1, true],
      [2, true],
      [7, false],
    ]);

    const p2 = testPipeline({ pipelineName: 'orphans', datasetName: ds, pipelinesDir: tempDir() });
    await p2.run(r);
    expect(seen).toEqual([null, 1, 2]);
    expect(await rows(p2, 'counter', 'n', 'n')).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await expectCommittedState(p2, { orphans: { resources: { counter: { n: 3 } } } }, 3);
    // same on the machine with a local folder
    await p1.run(r);
    expect(seen).toEqual([null, 1, 2, 3]);
    await expectCommittedState(p1, { orphans: { resources: { counter: { n: 4 } } } }, 4);
    expect((await restorableState(p1))?.sources).toEqual({ orphans: { resources: { counter: { n: 4 } } } });
  });
});

describe('replace resets resource state (ST-13)', () => {
  it('a replace resource starts each run with an empty resource state; its incremental restarts from initialValue', async () => {
    const seen: unknown[] = [];
    let data = [
      { id: 1, tags: ['x'] },
      { id: 2, tags: ['y', 'z'] },
    ];
    const snap = resource(
      function* (ctx) {
        const { incremental: _inc, ...own } = ctx.state;
        seen.push({ own: structuredClone(own), start: ctx.incremental!.startValue, incStart: (ctx.state.incremental as any)?.id?.start_value });
        ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
        yield data;
      },
      { name: 'snap', writeDisposition: 'replace', incremental: incremental('id', { initialValue: 0 }) },
    );
    const keeps = resource(
      function* (ctx) {
        ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
        yield { run: ctx.state.runs };
      },
      { name: 'keeps' },
    );
    const src = source('rs', [snap, keeps]);
    const p = testPipeline({ pipelineName: 'replacer' });
    await p.run(src);
    expect(await rows(p, 'snap', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await rows(p, 'snap__tags', 'value', 'value')).toEqual([{ value: 'x' }, { value: 'y' }, { value: 'z' }]);
    expect((p.state.sources as any).rs.resources.snap.runs).toBe(1);
    expect((p.state.sources as any).rs.resources.keeps).toEqual({ runs: 1 });

    data = [{ id: 1, tags: ['q'] }];
    const i2 = await p.run(src);
    expect(i2.tables.snap).toEqual({ rows: 1 });
    // the incremental binds its own state first; everything else the resource kept was wiped
    expect(seen).toEqual([
      { own: {}, start: 0, incStart: 0 },
      { own: {}, start: 0, incStart: 0 },
    ]);
    expect(await rows(p, 'snap', 'id', 'id')).toEqual([{ id: 1 }]);
    expect(await rows(p, 'snap__tags', 'value', 'value')).toEqual([{ value: 'q' }]);
    expect((p.state.sources as any).rs.resources.snap.runs).toBe(1);
    expect((p.state.sources as any).rs.resources.snap.incremental.id).toMatchObject({ initial_value: 0, last_value: 1, start_value: 0 });
    expect((p.state.sources as any).rs.resources.keeps).toEqual({ runs: 2 });
    await expectCommittedState(p, p.state.sources as Record<string, unknown>, 2);
  });

  it('replace empties the table (and its nested tables) when the resource yields nothing', async () => {
    let data: unknown[] = [
      { id: 1, tags: ['a'] },
      { id: 2, tags: ['b'] },
    ];
    const r = resource(
      function* () {
        yield* data;
      },
      { name: 'current_items', writeDisposition: 'replace' },
    );
    const p = testPipeline({ pipelineName: 'emptier' });
    const i1 = await p.run(r);
    expect(i1.tables).toEqual({ current_items: { rows: 2 }, current_items__tags: { rows: 2 } });
    data = [];
    const i2 = await p.run(r);
    expect(i2.loadId).not.toBeNull();
    expect(i2.tables.current_items).toEqual({ rows: 0 });
    expect(await rows(p, 'current_items', '_dlt_id', 'id')).toEqual([]);
    expect(await rows(p, 'current_items__tags', '_dlt_id', 'value')).toEqual([]);
    expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
    data = [{ id: 3, tags: [] }];
    await p.run(r);
    expect(await rows(p, 'current_items', 'id', 'id')).toEqual([{ id: 3 }]);
  });

  it('the replace parent of a selected transformer also gets its state reset', async () => {
    const parentSeen: unknown[] = [];
    const parent = resource(
      function* (ctx) {
        parentSeen.push(structuredClone(ctx.state));
        ctx.state.calls = ((ctx.state.calls as number) ?? 0) + 1;
        yield [{ id: 1 }, { id: 2 }];
      },
      { name: 'parent', writeDisposition: 'replace' },
    );
    const child = transformer(
      function* (ctx, item: { id: number }) {
        ctx.state.total = ((ctx.state.total as number) ?? 0) + 1;
        yield { parent_id: item.id, total: ctx.state.total };
      },
      { name: 'child', dataFrom: parent },
    );
    const src = source('tree', [parent, child]).withResources('child');
    const p = testPipeline({ pipelineName: 'tree' });
    await p.run(src);
    await p.run(src);
    expect(parentSeen).toEqual([{}, {}]);
    expect(await rows(p, 'child', 'total', 'parent_id, total')).toEqual([
      { parent_id: 1, total: 1 },
      { parent_id: 2, total: 2 },
      { parent_id: 1, total: 3 },
      { parent_id: 2, total: 4 },
    ]);
    await expectCommittedState(p, { tree: { resources: { parent: { calls: 1 }, child: { total: 4 } } } }, 2);
  });
});

describe('state versions and a deleted dataset', () => {
  it('a run that loads rows but leaves the state unchanged writes no state row and keeps the version (ST-4, ST-6)', async () => {
    const r = resource(
      function* (ctx) {
        ctx.state.mode = 'full'; // same value every run
        yield { at: Date.now() };
      },
      { name: 'steady' },
    );
    const p = testPipeline({ pipelineName: 'steady' });
    const i1 = await p.run(r);
    const hash = p.state._version_hash;
    const i2 = await p.run(r);
    expect(i2.loadId).not.toBeNull();
    expect(i2.tables).toEqual({ steady: { rows: 1 } });
    expect(p.state._version_hash).toBe(hash);
    await expectCommittedState(p, { steady: { resources: { steady: { mode: 'full' } } } }, 1);
    expect((await storedStates(p)).map((s) => [s.version, s._dlt_load_id])).toEqual([[1, i1.loadId]]);
    expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
  });

  it('when the dataset was dropped, the local state is reset instead of skipping data that is gone (ST-10)', async () => {
    const seen: unknown[] = [];
    const r = resource(
      function* (ctx) {
        seen.push(ctx.state.last ?? null);
        const from = ((ctx.state.last as number) ?? 0) + 1;
        yield [{ id: from }, { id: from + 1 }];
        ctx.state.last = from + 1;
      },
      { name: 'ids' },
    );
    const dir = tempDir();
    const ds = datasetName();
    const p = testPipeline({ pipelineName: 'dropped', datasetName: ds, pipelinesDir: dir });
    await p.run(r);
    await p.run(r);
    expect(await rows(p, 'ids', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
    await p.query(`DROP SCHEMA "${ds}" CASCADE`);
    // a new instance on the same working folder, as after a restart
    const again = testPipeline({ pipelineName: 'dropped', datasetName: ds, pipelinesDir: dir });
    await again.run(r);
    expect(seen).toEqual([null, 2, null]);
    expect(await rows(again, 'ids', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    await expectCommittedState(again, { dropped: { resources: { ids: { last: 2 } } } }, 1);
  });
});
