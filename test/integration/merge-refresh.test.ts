/** Full refresh of merge sources (seed "Doing a full refresh") and refresh modes (ST-14). */
import { describe, expect, it } from 'vitest';
import { incremental, resource, source } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';

type P = ReturnType<typeof testPipeline>;
const count = async (p: P, t: string) => Number((await p.query<{ n: string }>(`SELECT count(*) AS n FROM "${p.datasetName}"."${t}"`))[0].n);
const exists = async (p: P, t: string) => (await p.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, [p.datasetName, t])).length > 0;

/** A merge source: `merge_table` with an incremental cursor and a nested list, `other` append. */
function mergeSource(data: { id: number; updated_at: number; tags?: string[] }[], other: unknown[] = [{ x: 1 }]) {
  const mergeTable = resource(
    function* (ctx) {
      const start = ctx.incremental!.startValue as number;
      yield data.filter((d) => d.updated_at >= start);
    },
    { name: 'merge_table', primaryKey: 'id', writeDisposition: 'merge', incremental: incremental('updated_at', { initialValue: 0 }) },
  );
  const otherRes = resource(
    function* (ctx) {
      ctx.state.seen = ((ctx.state.seen as number) ?? 0) + 1;
      yield other;
    },
    { name: 'other' },
  );
  return source('merge_source', [mergeTable, otherRes]);
}

describe('full refresh and refresh modes', () => {
  it('run(…, { writeDisposition: "replace" }) replaces merge data and restarts the incremental', async () => {
    const p = testPipeline();
    const v1 = [
      { id: 1, updated_at: 1, tags: ['a'] },
      { id: 2, updated_at: 2, tags: ['b', 'c'] },
    ];
    await p.run(mergeSource(v1));
    await p.run(mergeSource([...v1, { id: 2, updated_at: 3, tags: ['d'] }]));
    expect(await rows(p, 'merge_table', 'id', 'id, updated_at')).toEqual([
      { id: 1, updated_at: 1 },
      { id: 2, updated_at: 3 },
    ]);
    // full refresh: data deleted and loaded fresh, the incremental starts from its initial value
    await p.run(mergeSource([{ id: 5, updated_at: 1, tags: ['z'] }]), { writeDisposition: 'replace' });
    expect(await rows(p, 'merge_table', 'id', 'id')).toEqual([{ id: 5 }]);
    expect(await count(p, 'merge_table__tags')).toBe(1);
    // a full refresh of just one table
    await p.run(mergeSource([{ id: 6, updated_at: 1 }]).withResources('merge_table'), { writeDisposition: 'replace' });
    expect(await rows(p, 'merge_table', 'id', 'id')).toEqual([{ id: 6 }]);
    expect(await count(p, 'merge_table__tags')).toBe(0);
    // then a normal merge again
    await p.run(mergeSource([{ id: 6, updated_at: 2, tags: ['y'] }, { id: 7, updated_at: 2 }]));
    expect(await rows(p, 'merge_table', 'id', 'id, updated_at')).toEqual([
      { id: 6, updated_at: 2 },
      { id: 7, updated_at: 2 },
    ]);
    expect(p.schema('merge_source')!.tables.merge_table.writeDisposition).toBe('merge');
    expect(await count(p, 'merge_table__tags')).toBe(1);
    await p.close();
  });

  it('drop_sources drops every table of the source and wipes the source state', async () => {
    const p = testPipeline();
    await p.run(mergeSource([{ id: 1, updated_at: 5, tags: ['a'] }]));
    expect(await exists(p, 'other')).toBe(true);
    await p.run(mergeSource([{ id: 2, updated_at: 1 }]).withResources('merge_table'), { refresh: 'drop_sources' });
    expect(await exists(p, 'other')).toBe(false);
    expect(await exists(p, 'merge_table__tags')).toBe(false);
    // incremental restarted at initialValue: id 2 (updated_at 1 < 5) is loaded
    expect(await rows(p, 'merge_table', 'id', 'id')).toEqual([{ id: 2 }]);
    const src = p.state.sources!.merge_source as { resources: Record<string, unknown> };
    expect(Object.keys(src.resources)).toEqual(['merge_table']);
    await p.close();
  });

  it('drop_resources drops only the selected resources and their state', async () => {
    const p = testPipeline();
    await p.run(mergeSource([{ id: 1, updated_at: 5, tags: ['a'] }]));
    await p.run(mergeSource([{ id: 2, updated_at: 1 }]).withResources('merge_table'), { refresh: 'drop_resources' });
    expect(await exists(p, 'other')).toBe(true);
    expect(await count(p, 'other')).toBe(1);
    expect(await exists(p, 'merge_table__tags')).toBe(false);
    expect(await rows(p, 'merge_table', 'id', 'id')).toEqual([{ id: 2 }]);
    const src = p.state.sources!.merge_source as { resources: Record<string, Record<string, unknown>> };
    expect(src.resources.other).toEqual({ seen: 1 });
    await p.close();
  });

  it('drop_data truncates the selected tables, keeps their columns, resets their state', async () => {
    const p = testPipeline();
    await p.run(mergeSource([{ id: 1, updated_at: 5, tags: ['a'] }]));
    await p.run(mergeSource([{ id: 2, updated_at: 1 }]).withResources('merge_table'), { refresh: 'drop_data' });
    expect(await rows(p, 'merge_table', 'id', 'id')).toEqual([{ id: 2 }]);
    expect(await exists(p, 'merge_table__tags')).toBe(true);
    expect(await count(p, 'merge_table__tags')).toBe(0);
    expect(await count(p, 'other')).toBe(1);
    expect(p.schema('merge_source')!.tables.merge_table__tags).toBeDefined();
    // the next merge still works through _dlt_root_id of the kept nested table
    await p.run(mergeSource([{ id: 2, updated_at: 7, tags: ['q', 'r'] }]).withResources('merge_table'));
    expect(await count(p, 'merge_table__tags')).toBe(2);
    await p.close();
  });
});
