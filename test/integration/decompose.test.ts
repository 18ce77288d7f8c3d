/**
 * Decomposed runs in-process (what `tide run` does for a pipeline with `decompose`) and the load
 * step's guard against a package that is gone.
 */
import { describe, expect, it } from 'vitest';
import { ComponentsFailedError, PackageGoneError, incremental, postgres, resource, runDecomposed, source } from 'tide';
import { pgUrl, testPipeline } from '../helpers/pipelines.ts';

function shop(broken: boolean) {
  const a = resource(
    function* (ctx) {
      ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
      yield [{ id: 1 }, { id: 2 }];
    },
    { name: 'a', writeDisposition: 'merge', primaryKey: 'id' },
  );
  const b = resource(
    function* () {
      yield [{ id: 3, tags: ['x', 'y'] }];
    },
    { name: 'b' },
  );
  const bad = resource(
    function* () {
      yield [{ id: 4 }]; // no cursor field
    },
    { name: 'bad', incremental: incremental('updated_at') },
  );
  return source('shop', broken ? [a, bad, b] : [a, b]);
}

describe('in-process decomposed runs', () => {
  it("'parallel' with 'all_done' commits the good components in one load and throws naming the failed one", async () => {
    const p = testPipeline({ pipelineName: 'dec_inproc' });
    const err = await runDecomposed(() => p.fork(), () => shop(true), { decompose: 'parallel', maxParallel: 2, triggerRule: 'all_done' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComponentsFailedError);
    expect((err as ComponentsFailedError).failed).toEqual([{ component: 'bad', error: expect.stringMatching(/updated_at/) }]);
    expect((err as ComponentsFailedError).message).toMatch(/^1 of 3 components failed: bad \(/);
    const loadId = (err as ComponentsFailedError).loadId;
    expect(await p.query(`SELECT id FROM "${p.datasetName}"."a" ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await p.query(`SELECT value FROM "${p.datasetName}"."b__tags" ORDER BY value`)).toEqual([{ value: 'x' }, { value: 'y' }]);
    expect(await p.query(`SELECT load_id, tide_rows::int AS rows, tide_failed_components AS failed FROM "${p.datasetName}"."_dlt_loads"`)).toEqual([
      { load_id: loadId, rows: 5, failed: 'bad' },
    ]);
    const state = (await p.syncFromDestination('shop')).sources as any;
    expect(state.shop.resources).toEqual({ a: { runs: 1 } });
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}_staging"."_tide_packages"`)).toEqual([{ n: 0 }]);
    const destination = postgres(pgUrl());
    try {
      const client = await destination.open(p.datasetName);
      expect((await client.loads('dec_inproc', 1))[0]).toMatchObject({ loadId, rows: 5, failedComponents: ['bad'] });
    } finally {
      await destination.close();
    }
  });

  it("'serialize' with 'all_success' stops at the failed component and loads nothing", async () => {
    const p = testPipeline({ pipelineName: 'dec_inproc2' });
    const err = await runDecomposed(() => p.fork(), () => shop(true), { decompose: 'serialize' }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('IncrementalCursorPathMissing');
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}"."_dlt_loads"`)).toEqual([{ n: 0 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}_staging"."_tide_packages"`)).toEqual([{ n: 0 }]);
  });

  it('a package whose staging rows are gone (a server crash empties unlogged tables) fails the load with PackageGoneError', async () => {
    const p = testPipeline({ pipelineName: 'dec_gone' });
    const info = await p.extract(shop(false), { loadId: '1796000000.000001', packageId: '1796000000.000001/a' });
    expect(info.tables).toEqual({ a: { rows: 2 }, b: { rows: 1 }, b__tags: { rows: 2 } });
    const staged = await p.query<{ t: string; persistence: string }>(
      `SELECT c.relname AS t, c.relpersistence AS persistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`,
      [`${p.datasetName}_staging`],
    );
    // the package's tables and the package record are all unlogged
    expect(staged.every((r) => r.persistence === 'u')).toBe(true);
    const dataTables = staged.filter((r) => r.t.startsWith('p'));
    expect(dataTables).toHaveLength(3);
    await p.query(`TRUNCATE "${p.datasetName}_staging"."${dataTables[0].t}"`);
    const err = await p.load('1796000000.000001', ['1796000000.000001/a']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageGoneError);
    expect((err as PackageGoneError).packages).toEqual(['1796000000.000001/a']);
    expect((err as PackageGoneError).retryable).toBe(false);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}"."_dlt_loads"`)).toEqual([{ n: 0 }]);
  });
});
