/**
 * The `run` activity (decompose 'none': extract and load in one transaction) under retries: an
 * attempt after one that committed loads nothing twice, whether it notices before extracting (the
 * ledger has its load id) or only at its commit (a zombie attempt racing the live one).
 */
import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { AlreadyLoadedError, definePipeline, postgres, resource } from 'tide';
import { createActivities } from '../../activities/index.ts';
import type { RunResult } from '../../temporal/payloads.ts';
import { datasetName, onCleanup, pgUrl, testPipeline } from '../helpers/pipelines.ts';

/** A log line without its time stamp and duration. */
const stable = (l: string) => l.replace(/^\S+Z/, 'T').replace(/in \d+\.\d{3} s$/, 'in S s');

const env = (attempt: number) => new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });

describe('the run activity', () => {
  it('a retry of a run that committed extracts nothing and loads nothing (applied: false)', async () => {
    let extracted = 0;
    const r = resource(
      function* () {
        extracted++;
        yield [{ id: 1 }, { id: 2 }];
      },
      { name: 'items' },
    );
    const def = definePipeline({ name: 'run_act', datasetName: datasetName('ra'), source: () => r });
    const destination = postgres(pgUrl());
    onCleanup(() => destination.close());
    const { run } = createActivities([def], { destination });
    const loadId = '1796100000.000001';
    // (its schema changes depend on the worker's working folder, which outlives a test run: not this test's subject)
    const { schemaChanges, log: firstLog, ...first } = (await env(1).run(run, { pipeline: def.name, loadId })) as RunResult;
    expect(schemaChanges).toBeDefined();
    expect(first).toEqual({ loadId, attempt: 1, applied: true, tables: { items: { rows: 2 } }, items: 2, discarded: {} });
    // the attempt's log lines (pipeline/run-log.ts), for the run's Web UI details
    expect(firstLog?.map(stable)).toEqual(['T INFO  run#1        table items: 2 rows loaded', 'T INFO  run#1        run done in S s']);
    const { log: retryLog, ...retry } = (await env(2).run(run, { pipeline: def.name, loadId })) as RunResult;
    expect(retry).toEqual({ loadId, attempt: 2, applied: false, tables: {}, items: 0 });
    expect(retryLog?.map(stable)).toEqual([`T INFO  run#2        load ${loadId} was committed by an earlier attempt`, 'T INFO  run#2        run done in S s']);
    expect(extracted).toBe(1);
    const p = testPipeline({ pipelineName: def.name, datasetName: def.datasetName, destination });
    expect(await p.query(`SELECT count(*)::int AS n FROM "${def.datasetName}"."items"`)).toEqual([{ n: 2 }]);
    expect(await p.query(`SELECT load_id FROM "${def.datasetName}"."_dlt_loads"`)).toEqual([{ load_id: loadId }]);
  });

  it('a second run with a load id already committed fails at its commit with AlreadyLoadedError and writes nothing', async () => {
    const p = testPipeline({ pipelineName: 'run_twice' });
    const loadId = '1796100000.000002';
    await p.run([{ id: 1 }], { tableName: 'items', loadId });
    const err = await p.run([{ id: 2 }], { tableName: 'items', loadId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlreadyLoadedError);
    expect((err as AlreadyLoadedError).retryable).toBe(false);
    expect(await p.query(`SELECT id FROM "${p.datasetName}"."items"`)).toEqual([{ id: 1 }]);
    expect(await p.query(`SELECT count(*)::int AS n FROM "${p.datasetName}"."_dlt_loads"`)).toEqual([{ n: 1 }]);
  });
});
