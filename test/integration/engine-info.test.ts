/**
 * `run()` results and dlt's bookkeeping tables: info shape, INC-46 (nothing new ⇒ no load),
 * `_dlt_loads` / `_dlt_pipeline_state` / `_dlt_version` columns (ST-7, ST-8).
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource, source } from 'tide';
import type { Pipeline } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';
import { columnTypes, expectCommittedState, loadIds, storedStates } from '../helpers/state-db.ts';


describe('run info', () => {
  it('has exactly { loadId, pipelineName, datasetName, tables, startedAt, finishedAt, schemaChanges, discarded }; nothing new ⇒ loadId null and no _dlt_loads row', async () => {
    const data = [
      { id: 1, tags: ['a'] },
      { id: 2, tags: [] },
      { id: 3, tags: ['b', 'c'] },
    ];
    const r = resource(
      function* () {
        yield data;
      },
      { name: 'things', primaryKey: 'id', incremental: incremental('id', { initialValue: 0 }) },
    );
    const p = testPipeline({ pipelineName: 'info_shape' });
    const before = new Date();
    const i1 = await p.run(source('src', [r]));
    expect(Object.keys(i1).sort()).toEqual(['datasetName', 'discarded', 'finishedAt', 'loadId', 'pipelineName', 'schemaChanges', 'startedAt', 'tables']);
    expect(i1.schemaChanges).toEqual({ tables: ['things', 'things__tags'], columns: [], variants: [] });
    expect(i1.discarded).toEqual({});
    expect(i1.loadId).toMatch(/^\d{10}\.\d+$/);
    expect(i1.pipelineName).toBe('info_shape');
    expect(i1.datasetName).toBe(p.datasetName);
    expect(i1.tables).toEqual({ things: { rows: 3 }, things__tags: { rows: 3 } });
    expect(i1.startedAt).toBeInstanceOf(Date);
    expect(i1.finishedAt).toBeInstanceOf(Date);
    expect(i1.startedAt.getTime()).toBeGreaterThanOrEqual(before.getTime() - 5);
    expect(i1.finishedAt.getTime()).toBeGreaterThanOrEqual(i1.startedAt.getTime());
    // every root row carries the load id
    expect(await rows(p, 'things', 'id', 'id, _dlt_load_id')).toEqual([1, 2, 3].map((id) => ({ id, _dlt_load_id: i1.loadId })));

    const i2 = await p.run(source('src', [r]));
    const i3 = await p.run(source('src', [r]));
    // by run 3 at the latest the state is unchanged and every row is filtered: nothing is loaded
    expect(i3.loadId).toBeNull();
    expect(i3.tables).toEqual({});
    expect(i3.pipelineName).toBe('info_shape');
    expect(i3.datasetName).toBe(p.datasetName);
    expect(i2.tables.things?.rows ?? 0).toBe(0);
    const loads = await loadIds(p);
    expect(loads).toEqual([i1.loadId, i2.loadId].filter((x) => x !== null));
    expect(await rows(p, 'things', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    const inc = (p.state.sources as any).src.resources.things.incremental.id;
    // INC-18: start_value is written only by a batch that produced rows, so it stays at run 1's value
    expect(inc).toMatchObject({ initial_value: 0, last_value: 3, start_value: 0 });
    expect(inc.unique_hashes).toHaveLength(1);
  });

  it('the second run of the same stateless data loads its rows again (append)', async () => {
    const p = testPipeline({ pipelineName: 'info_plain' });
    const i1 = await p.run([{ id: 1 }, { id: 2 }], { tableName: 'plain' });
    expect(i1.tables).toEqual({ plain: { rows: 2 } });
    const i2 = await p.run([{ id: 1 }, { id: 2 }], { tableName: 'plain' });
    expect(i2.loadId).not.toBeNull();
    expect(i2.tables).toEqual({ plain: { rows: 2 } });
    expect(await rows(p, 'plain', 'id', 'id')).toEqual([{ id: 1 }, { id: 1 }, { id: 2 }, { id: 2 }]);
    expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
    // no resource state was written: the state rows are the ones of run 1 only (schema names, no sources)
    expect(p.state.sources).toBeUndefined();
  });

  it('a stateless resource of a source that only re-yields known-shaped rows is loaded on every run', async () => {
    const r = resource(function* daily() {
      yield [{ day: 'mon', n: 1 }];
    });
    const p = testPipeline({ pipelineName: 'info_daily' });
    for (let run = 1; run <= 3; run++) {
      const info = await p.run(source('cal', [r]));
      expect(info.loadId).not.toBeNull();
      expect(info.tables).toEqual({ daily: { rows: 1 } });
      expect(await rows(p, 'daily', 'n', 'n')).toEqual(Array(run).fill({ n: 1 }));
    }
  });
});

describe('bookkeeping tables', () => {
  it('_dlt_loads, _dlt_pipeline_state and _dlt_version have dlt columns; one state row per changed run, carrying the load id', async () => {
    const r = resource(
      function* (ctx) {
        const n = ((ctx.state.n as number) ?? 0) + 1;
        ctx.state.n = n;
        yield { n, when: `2024-01-0${n}T00:00:00Z` };
      },
      { name: 'ticks' },
    );
    const p = testPipeline({ pipelineName: 'books' });
    const i1 = await p.run(source('clock', [r]));
    const i2 = await p.run(source('clock', [r]));
    await expectCommittedState(p, { clock: { resources: { ticks: { n: 2 } } } }, 2);

    const loadsCols = await columnTypes(p, '_dlt_loads');
    expect(Object.keys(loadsCols).slice(0, 5)).toEqual(['load_id', 'schema_name', 'status', 'inserted_at', 'schema_version_hash']);
    expect(loadsCols).toMatchObject({ load_id: 'character varying', schema_name: 'character varying', status: 'bigint', inserted_at: 'timestamp with time zone', schema_version_hash: 'character varying' });

    expect(await columnTypes(p, '_dlt_pipeline_state')).toEqual({
      version: 'bigint',
      engine_version: 'bigint',
      pipeline_name: 'character varying',
      state: 'character varying',
      created_at: 'timestamp with time zone',
      version_hash: 'character varying',
      _dlt_load_id: 'character varying',
      _dlt_id: 'character varying',
    });
    const versionCols = await columnTypes(p, '_dlt_version');
    expect(Object.keys(versionCols)).toEqual(['version', 'engine_version', 'inserted_at', 'schema_name', 'version_hash', 'schema']);

    const loads = await p.query(`SELECT load_id, schema_name, status, schema_version_hash FROM "${p.datasetName}"._dlt_loads ORDER BY load_id`);
    expect(loads.map((l) => [l.load_id, l.schema_name, Number(l.status)])).toEqual([
      [i1.loadId, 'clock', 0],
      [i2.loadId, 'clock', 0],
    ]);
    const versions = await p.query(`SELECT version, schema_name, version_hash, schema FROM "${p.datasetName}"._dlt_version ORDER BY version`);
    expect(versions.map((v) => [Number(v.version), v.schema_name])).toEqual([[1, 'clock']]);
    expect(loads[0].schema_version_hash).toBe(versions[0].version_hash);
    expect(loads[1].schema_version_hash).toBe(versions[0].version_hash);
    const storedSchema = JSON.parse(versions[0].schema as string);
    expect(storedSchema.name).toBe('clock');
    expect(Object.keys(storedSchema.tables)).toEqual(expect.arrayContaining(['ticks']));

    const states = await storedStates(p);
    expect(states.map((s) => [s.version, s.engine_version, s.pipeline_name, s._dlt_load_id, s.completed])).toEqual([
      [1, 4, 'books', i1.loadId, true],
      [2, 4, 'books', i2.loadId, true],
    ]);
    expect(states[1].version_hash).toBe(p.state._version_hash);
    expect(states[1].state).toMatchObject({
      _state_version: 2,
      _state_engine_version: 4,
      _version_hash: p.state._version_hash,
      pipeline_name: 'books',
      dataset_name: p.datasetName,
      default_schema_name: 'clock',
      schema_names: ['clock'],
      sources: { clock: { resources: { ticks: { n: 2 } } } },
    });
    expect(states[1].state).not.toHaveProperty('_local');
    expect((await columnTypes(p, 'ticks')).when).toBe('timestamp with time zone');
  });
});
