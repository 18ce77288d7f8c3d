/**
 * Postgres crashes (issue 13, item 2): staging is unlogged, so a server crash empties the staged
 * packages. A decomposed run whose packages a crash wiped extracts them again and loads exactly once;
 * a direct run cut by a crash mid-COPY leaves nothing, and its retry loads exactly once. The server
 * is a throw-away one of this file's own (`pg_ctl stop -m immediate`, then crash recovery).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { LoadError, definePipeline, incremental, pipeline, postgres, resource, source, type Destination } from 'tide';
import { startEphemeralPostgres, type EphemeralPostgres } from '../../destinations/postgres/embedded.ts';
import { createWorker } from '../../worker/index.ts';
import { datasetName, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';

let server: EphemeralPostgres;
let destination: Destination;

beforeAll(async () => {
  server = await startEphemeralPostgres({ prefix: 'tide-crash-' });
  destination = postgres(server.url);
}, 120_000);

afterAll(async () => {
  await destination?.close();
  await server?.stop();
});

const rowsOf = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, at: `2026-03-01T00:00:${String((from + i) % 60).padStart(2, '0')}Z`, tags: ['a', 'b'] }));

describe('reliability: Postgres crashes', () => {
  it('a crash between the extracts and the load of a decomposed run: the packages are extracted again, loaded once', async () => {
    let crashed = false;
    const calls = { first: 0, second: 0 };
    const first = resource(
      function* () {
        calls.first++;
        yield rowsOf(500);
      },
      { name: 'first', primaryKey: 'id', writeDisposition: 'merge' },
    );
    const second = resource(
      async function* () {
        calls.second++;
        // the first component's package is staged: the crash empties it (and cuts this extract's own connection)
        if (!crashed) {
          crashed = true;
          await server.crashAndRestart();
        }
        yield rowsOf(300, 1000);
      },
      { name: 'second', incremental: incremental('id') },
    );
    const def = definePipeline({ name: 'crash_dec', datasetName: datasetName('crash'), source: () => source('s', [first, second]), decompose: 'serialize' });
    const tq = taskQueue('crash');
    const { worker, close } = await createWorker({ pipelines: [def], address: temporalAddress(), taskQueue: tq, destination });
    const connection = await Connection.connect({ address: temporalAddress() });
    const client = new Client({ connection });
    try {
      const result = await worker.runUntil(
        client.workflow.execute('pipelineRun', { taskQueue: tq, workflowId: `crash-${def.datasetName}`, args: [{ pipeline: def.name, kind: 'manual' }] }),
      );
      expect(crashed).toBe(true);
      // second: its first attempt lost its connection (retried), then both were extracted again after the load found them gone
      expect(calls).toEqual({ first: 2, second: 3 });
      expect(result).toMatchObject({ applied: true, tables: { first: { rows: 500 }, first__tags: { rows: 1000 }, second: { rows: 300 }, second__tags: { rows: 600 } } });
    } finally {
      await connection.close();
      await close();
    }
    const p = pipeline({ pipelineName: def.name, destination, datasetName: def.datasetName!, pipelinesDir: tempDir() });
    expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${def.datasetName}"."first"`)).toEqual([{ n: 500, d: 500 }]);
    expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${def.datasetName}"."second"`)).toEqual([{ n: 300, d: 300 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."second__tags"`)).toEqual([{ n: 600 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."_dlt_loads"`)).toEqual([{ n: 1 }]);
    const state = (await p.syncFromDestination('s')).sources as any;
    expect(state.s.resources.second.incremental.id.last_value).toBe(1299);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}_staging"."_tide_packages"`)).toEqual([{ n: 0 }]);
  });

  it('a crash mid-COPY of a direct run leaves nothing; the retry loads exactly once', async () => {
    const ds = datasetName('crash');
    const p = pipeline({ pipelineName: 'crash_direct', destination, datasetName: ds, pipelinesDir: tempDir() });
    await p.run(rowsOf(10), { tableName: 'items', primaryKey: 'id', writeDisposition: 'merge' });
    let crash = true;
    const items = resource(
      async function* () {
        for (let page = 0; page < 20; page++) {
          yield rowsOf(1000, page * 1000);
          if (crash && page === 10) {
            crash = false;
            await server.crashAndRestart();
          }
        }
      },
      { name: 'items', primaryKey: 'id', writeDisposition: 'merge' },
    );
    const err = await p.run(items).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadError);
    expect((err as LoadError).retryable).toBe(true);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${ds}"."items"`)).toEqual([{ n: 10 }]);
    const info = await p.run(items);
    expect(info.tables.items).toEqual({ rows: 20_000 });
    expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM "${ds}"."items"`)).toEqual([{ n: 20_000, d: 20_000 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${ds}"."items__tags"`)).toEqual([{ n: 40_000 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${ds}"."_dlt_loads"`)).toEqual([{ n: 2 }]);
    await p.close();
  });
});
