/**
 * A failed run commits nothing: no rows, no `_dlt_loads` row, no state row, and `p.state` (and the
 * local working folder) stay exactly as before. Errors are typed and name what failed.
 */
import { describe, expect, it } from 'vitest';
import { ExtractError, LoadError, TideError, pipeline, postgres, resource, source } from 'tide';
import type { Pipeline } from 'tide';
import { cleanup, pgUrl, rows, tempDir, testPipeline, datasetName } from '../helpers/pipelines.ts';
import { expectCommittedState, loadIds, storedStates, tableExists } from '../helpers/state-db.ts';


async function catchError(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected the run to throw');
}

describe('a run that throws mid-way', () => {
  it('after yielding pages: nothing loaded, state unchanged, ExtractError names pipeline and resource', async () => {
    let fail = false;
    const pages = resource(
      function* (ctx) {
        const from = (ctx.state.next_id as number) ?? 1;
        for (let page = 0; page < 3; page++) {
          const ids = [from + page * 2, from + page * 2 + 1];
          ctx.state.next_id = ids[1] + 1; // state advanced before the failure
          ctx.sourceState.touched = true;
          yield ids.map((id) => ({ id, payload: `p${id}` }));
          if (fail && page === 1) throw new Error('upstream API returned 503');
        }
      },
      { name: 'paged' },
    );
    const src = source('api', [pages]);
    const dir = tempDir();
    const ds = datasetName();
    const p = testPipeline({ pipelineName: 'failing', pipelinesDir: dir, datasetName: ds });
    const i1 = await p.run(src);
    expect(await rows(p, 'paged', 'id', 'id')).toEqual([1, 2, 3, 4, 5, 6].map((id) => ({ id })));
    await expectCommittedState(p, { api: { touched: true, resources: { paged: { next_id: 7 } } } }, 1);
    const before = structuredClone(p.state);
    const storedBefore = await storedStates(p);

    fail = true;
    const err = await catchError(() => p.run(src));
    expect(err).toBeInstanceOf(ExtractError);
    expect(err).toBeInstanceOf(TideError);
    const e = err as ExtractError;
    expect(e.pipeline).toBe('failing');
    expect(e.resource).toBe('paged');
    expect(e.message).toContain('upstream API returned 503');
    expect(e.message).toContain('"failing"');
    expect(e.message).toContain('"paged"');
    expect((e.cause as Error).message).toBe('upstream API returned 503');

    expect(await rows(p, 'paged', 'id', 'id')).toEqual([1, 2, 3, 4, 5, 6].map((id) => ({ id })));
    expect(await loadIds(p)).toEqual([i1.loadId]);
    expect(p.state).toEqual(before);
    expect(await storedStates(p)).toEqual(storedBefore);
    // the local working folder was not advanced either: a new instance on the same folder sees run 1's state
    const again = testPipeline({ pipelineName: 'failing', pipelinesDir: dir, datasetName: ds });
    expect(again.state).toEqual(before);

    // the next good run continues from run 1's state
    fail = false;
    await p.run(src);
    expect(await rows(p, 'paged', 'id', 'id')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((id) => ({ id })));
    await expectCommittedState(p, { api: { touched: true, resources: { paged: { next_id: 13 } } } }, 2);
  });

  it('a first run that throws creates no table and leaves an empty state', async () => {
    const r = resource(
      async function* (ctx) {
        ctx.state.cursor = 'x';
        yield [{ id: 1, nested: [{ a: 1 }] }];
        throw new TypeError('boom');
      },
      { name: 'first' },
    );
    const p = testPipeline({ pipelineName: 'first_fail' });
    const e = await catchError(() => p.run(r));
    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('first');
    expect(await tableExists(p, 'first')).toBe(false);
    expect(await tableExists(p, 'first__nested')).toBe(false);
    expect(await loadIds(p)).toEqual([]);
    expect(await storedStates(p)).toEqual([]);
    expect(p.state.sources).toBeUndefined();
    expect(p.state._state_version).toBe(0);
    // and a second (good) run starts from scratch
    const ok = resource(function* (ctx) {
      expect(ctx.state.cursor).toBeUndefined();
      ctx.state.cursor = 'y';
      yield { id: 2 };
    }, { name: 'first' });
    await p.run(ok);
    expect(await rows(p, 'first', 'id', 'id')).toEqual([{ id: 2 }]);
    await expectCommittedState(p, { first_fail: { resources: { first: { cursor: 'y' } } } }, 1);
  });

  it('Postgres rejects a value on the second page: LoadError names pipeline, resource, table, column and item', async () => {
    let bad = false;
    const r = resource(
      function* (ctx) {
        const run = ((ctx.state.run as number) ?? 0) + 1;
        ctx.state.run = run;
        yield [{ id: run * 10 + 1, amount: 5 }];
        yield [{ id: run * 10 + 2, amount: bad ? 123456.78 : 6 }]; // does not fit numeric(6,2): Postgres rejects it
      },
      { name: 'payments', columns: { amount: { dataType: 'decimal', precision: 6, scale: 2 } } },
    );
    const dir = tempDir();
    const p = testPipeline({ pipelineName: 'pg_reject', pipelinesDir: dir });
    const i1 = await p.run(r);
    expect(await rows(p, 'payments', 'id', 'id, amount::float8 AS amount')).toEqual([
      { id: 11, amount: 5 },
      { id: 12, amount: 6 },
    ]);
    await expectCommittedState(p, { pg_reject: { resources: { payments: { run: 1 } } } }, 1);
    const before = structuredClone(p.state);
    const storedBefore = await storedStates(p);

    bad = true;
    const err = await catchError(() => p.run(r));
    expect(err).toBeInstanceOf(LoadError);
    const e = err as LoadError;
    expect(e.pipeline).toBe('pg_reject');
    expect(e.resource).toBe('payments');
    expect(e.table).toBe('payments');
    expect(e.column).toBe('amount');
    expect(e.item).toEqual({ id: 22, amount: 123456.78 });
    expect(e.sqlState).toBe('22003'); // numeric_value_out_of_range
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('"payments"');
    expect(e.message).toContain('"amount"');
    expect(e.message).toContain('"pg_reject"');

    expect(await rows(p, 'payments', 'id', 'id, amount::float8 AS amount')).toEqual([
      { id: 11, amount: 5 },
      { id: 12, amount: 6 },
    ]);
    expect(await loadIds(p)).toEqual([i1.loadId]);
    expect(p.state).toEqual(before);
    expect(await storedStates(p)).toEqual(storedBefore);

    bad = false;
    await p.run(r);
    expect(await rows(p, 'payments', 'id', 'id')).toEqual([{ id: 11 }, { id: 12 }, { id: 21 }, { id: 22 }]);
    await expectCommittedState(p, { pg_reject: { resources: { payments: { run: 2 } } } }, 2);
  });

  it('a NUL character in text is rejected as a LoadError with column and item, nothing committed', async () => {
    const p = testPipeline({ pipelineName: 'nul_reject' });
    const r = resource(
      function* (ctx) {
        ctx.state.tried = true;
        yield [{ id: 1, name: 'ok' }];
        yield [{ id: 2, name: 'bad\u0000name' }];
      },
      { name: 'people' },
    );
    const err = await catchError(() => p.run(r));
    expect(err).toBeInstanceOf(LoadError);
    const e = err as LoadError;
    expect([e.pipeline, e.resource, e.table, e.column]).toEqual(['nul_reject', 'people', 'people', 'name']);
    expect(e.item).toEqual({ id: 2, name: 'bad\u0000name' });
    expect(await tableExists(p, 'people')).toBe(false);
    expect(await loadIds(p)).toEqual([]);
    expect(p.state.sources).toBeUndefined();
  });

  it('an error thrown by a map step is an ExtractError naming the resource', async () => {
    const p = testPipeline({ pipelineName: 'step_fail' });
    const r = resource([{ id: 1 }, { id: 2 }], { name: 'mapped' }).addMap((x: { id: number }) => {
      if (x.id === 2) throw new Error('cannot map 2');
      return x;
    });
    const e = await catchError(() => p.run(r));
    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('mapped');
    expect((e as ExtractError).pipeline).toBe('step_fail');
    expect(await loadIds(p)).toEqual([]);
  });

  it('an error thrown by a tableName function is a TideError (ExtractError) naming pipeline and resource', async () => {
    const p = testPipeline({ pipelineName: 'table_fn_fail' });
    const t = resource([{ id: 1 }], {
      name: 'dispatch',
      tableName: () => {
        throw new Error('no table for this item');
      },
    });
    const e2 = await catchError(() => p.run(t));
    expect(e2).toBeInstanceOf(ExtractError);
    expect((e2 as TideError).resource).toBe('dispatch');
    expect((e2 as TideError).pipeline).toBe('table_fn_fail');
    expect((e2 as TideError).item).toEqual({ id: 1 });
    expect(await loadIds(p)).toEqual([]);
  });
});

describe('failures after rows were already sent to Postgres', () => {
  it('batchSize 2: pages COPYed mid-run are not committed when a later page throws', async () => {
    let fail = false;
    const r = resource(
      function* (ctx) {
        const run = ((ctx.state.run as number) ?? 0) + 1;
        ctx.state.run = run;
        for (let page = 0; page < 4; page++) {
          yield [0, 1, 2].map((k) => ({ id: run * 100 + page * 10 + k, tags: ['t'] }));
          if (fail && page === 2) throw new Error('stop after three pages');
        }
      },
      { name: 'batched' },
    );
    const p = testPipeline({ pipelineName: 'batched_fail', batchSize: 2 });
    const i1 = await p.run(r);
    expect(i1.tables).toEqual({ batched: { rows: 12 }, batched__tags: { rows: 12 } });
    const before = structuredClone(p.state);
    fail = true;
    const e = await catchError(() => p.run(r));
    expect(e).toBeInstanceOf(ExtractError);
    expect((e as ExtractError).resource).toBe('batched');
    expect((await rows(p, 'batched', 'id', 'id')).length).toBe(12);
    expect((await rows(p, 'batched__tags', '_dlt_id', 'value')).length).toBe(12);
    expect(await loadIds(p)).toEqual([i1.loadId]);
    expect(p.state).toEqual(before);
    await expectCommittedState(p, { batched_fail: { resources: { batched: { run: 1 } } } }, 1);
  });

  it('batchSize 2: Postgres rejecting an early batch while extraction goes on is still a LoadError with the item', async () => {
    const r = resource(
      function* (ctx) {
        ctx.state.tried = true;
        yield [{ id: 1, amount: 1 }];
        yield [{ id: 2, amount: 1 }];
        yield [{ id: 3, amount: 99999.5 }]; // numeric(4,1) overflow
        for (let i = 4; i < 20; i++) yield [{ id: i, amount: 1 }];
      },
      { name: 'early_reject', columns: { amount: { dataType: 'decimal', precision: 4, scale: 1 } } },
    );
    const p = testPipeline({ pipelineName: 'early_reject', batchSize: 2 });
    const e = await catchError(() => p.run(r));
    expect(e).toBeInstanceOf(LoadError);
    const le = e as LoadError;
    expect([le.pipeline, le.resource, le.table, le.column]).toEqual(['early_reject', 'early_reject', 'early_reject', 'amount']);
    expect(le.item).toEqual({ id: 3, amount: 99999.5 });
    expect(await tableExists(p, 'early_reject')).toBe(false);
    expect(await loadIds(p)).toEqual([]);
    expect(p.state.sources).toBeUndefined();
  });

  it('a replace resource that throws leaves the previous rows in place', async () => {
    let fail = false;
    const r = resource(
      function* () {
        yield [{ id: fail ? 10 : 1 }, { id: fail ? 11 : 2 }];
        if (fail) throw new Error('half a snapshot');
      },
      { name: 'snapshot', writeDisposition: 'replace' },
    );
    const p = testPipeline({ pipelineName: 'replace_fail' });
    const i1 = await p.run(r);
    fail = true;
    expect(await catchError(() => p.run(r))).toBeInstanceOf(ExtractError);
    expect(await rows(p, 'snapshot', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await loadIds(p)).toEqual([i1.loadId]);
  });
});

describe('errors carry the pipeline when the destination is unreachable', () => {
  it('a bad Postgres URL gives a LoadError and no state change', async () => {
    const u = new URL(pgUrl());
    u.password = 'wrong-password';
    const p = cleanup(pipeline({ pipelineName: 'unreachable', destination: postgres(u.toString()), datasetName: datasetName(), pipelinesDir: tempDir(), warn: () => undefined }));
    const e = await catchError(() => p.run([{ id: 1 }], { tableName: 'x' }));
    expect(e).toBeInstanceOf(LoadError);
    expect(p.state._state_version).toBe(0);
    expect(p.state.sources).toBeUndefined();
  });
});
