/** merge write disposition, delete-insert strategy (MG-1 … MG-14), against real Postgres. */
import { describe, expect, it } from 'vitest';
import { incremental, resource, source, CannotCoerceNullError, SchemaError, TideError } from 'tide';
import { rows, testPipeline } from '../helpers/pipelines.ts';

const count = async (p: ReturnType<typeof testPipeline>, t: string) => Number((await p.query<{ n: string }>(`SELECT count(*) AS n FROM "${p.datasetName}"."${t}"`))[0].n);
const tableExists = async (p: ReturnType<typeof testPipeline>, t: string) =>
  (await p.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, [p.datasetName, t])).length > 0;

describe('merge: delete-insert', () => {
  it('updates by primary key and keeps one copy (github events)', async () => {
    const p = testPipeline();
    const events = [
      { id: 1, type: 'PushEvent', actor: 'a' },
      { id: 2, type: 'IssuesEvent', actor: 'b' },
    ];
    await p.run(events, { tableName: 'events', writeDisposition: 'merge', primaryKey: 'id' });
    await p.run([{ id: 2, type: 'IssuesEvent', actor: 'b2' }, { id: 3, type: 'PushEvent', actor: 'c' }], { tableName: 'events', writeDisposition: 'merge', primaryKey: 'id' });
    expect(await rows(p, 'events', 'id', 'id, type, actor')).toEqual([
      { id: 1, type: 'PushEvent', actor: 'a' },
      { id: 2, type: 'IssuesEvent', actor: 'b2' },
      { id: 3, type: 'PushEvent', actor: 'c' },
    ]);
    await p.close();
  });

  it('dispatches github events to tables by type and merges each by id', async () => {
    const p = testPipeline();
    const repoEvents = (batch: Record<string, unknown>[]) =>
      resource(batch, { name: 'repo_events', primaryKey: 'id', writeDisposition: 'merge', tableName: (i) => (i as { type: string }).type });
    await p.run(
      repoEvents([
        { id: '1', type: 'PushEvent', created_at: '2024-01-01T00:00:00Z', payload: { commits: [{ sha: 'a' }, { sha: 'b' }] } },
        { id: '2', type: 'WatchEvent', created_at: '2024-01-01T00:00:01Z', payload: { action: 'started' } },
        { id: '3', type: 'PushEvent', created_at: '2024-01-01T00:00:02Z', payload: { commits: [{ sha: 'c' }] } },
      ]),
    );
    // overlapping page: event 3 again (its commits changed), event 4 new
    await p.run(
      repoEvents([
        { id: '3', type: 'PushEvent', created_at: '2024-01-01T00:00:02Z', payload: { commits: [{ sha: 'c2' }] } },
        { id: '4', type: 'WatchEvent', created_at: '2024-01-01T00:00:03Z', payload: { action: 'started' } },
      ]),
    );
    expect(await rows(p, 'push_event', 'id', 'id')).toEqual([{ id: '1' }, { id: '3' }]);
    expect(await rows(p, 'watch_event', 'id', 'id, payload__action')).toEqual([
      { id: '2', payload__action: 'started' },
      { id: '4', payload__action: 'started' },
    ]);
    const commits = await p.query(
      `SELECT e.id, c.sha FROM "${p.datasetName}".push_event__payload__commits c JOIN "${p.datasetName}".push_event e ON e._dlt_id = c._dlt_root_id ORDER BY e.id, c._dlt_list_idx`,
    );
    expect(commits).toEqual([
      { id: '1', sha: 'a' },
      { id: '1', sha: 'b' },
      { id: '3', sha: 'c2' },
    ]);
    expect(await count(p, 'push_event__payload__commits')).toBe(3);
    await p.close();
  });

  it('compound primary key and merge key (MG-7)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'issues', primaryKey: ['id', 'url'], mergeKey: ['node_id', 'repo'], writeDisposition: 'merge' });
    await p.run(
      r([
        { id: 1, url: 'u1', node_id: 'n1', repo: 'r', v: 1 },
        { id: 1, url: 'u2', node_id: 'n2', repo: 'r', v: 1 },
        { id: 2, url: 'u1', node_id: 'n3', repo: 'r', v: 1 },
      ]),
    );
    // pk (1,u1) updated; merge key (n3, r) deletes (2,u1); (1,u2) untouched
    await p.run(
      r([
        { id: 1, url: 'u1', node_id: 'n1', repo: 'r', v: 2 },
        { id: 3, url: 'u3', node_id: 'n3', repo: 'r', v: 2 },
      ]),
    );
    expect(await rows(p, 'issues', 'id, url', 'id, url, node_id, v')).toEqual([
      { id: 1, url: 'u1', node_id: 'n1', v: 2 },
      { id: 1, url: 'u2', node_id: 'n2', v: 1 },
      { id: 3, url: 'u3', node_id: 'n3', v: 2 },
    ]);
    // reloading the same data keeps the count (MG-7)
    await p.run(r([{ id: 1, url: 'u1', node_id: 'n1', repo: 'r', v: 2 }]));
    expect(await count(p, 'issues')).toBe(3);
    await p.close();
  });

  it('merge key replaces a partition (daily batches, MG-8)', async () => {
    const p = testPipeline();
    const batch = (day: string, ids: number[]) => resource(ids.map((id) => ({ id, batch_day: day, v: `${day}-${id}` })), { name: 'daily', mergeKey: 'batch_day', writeDisposition: 'merge' });
    await p.run(batch('2024-01-01', [1, 2, 3]));
    await p.run(batch('2024-01-02', [4]));
    await p.run(batch('2024-01-01', [1, 5]));
    expect(await rows(p, 'daily', 'id', 'id, batch_day')).toEqual([
      { id: 1, batch_day: '2024-01-01' },
      { id: 4, batch_day: '2024-01-02' },
      { id: 5, batch_day: '2024-01-01' },
    ]);
    await p.close();
  });

  it('without keys merge appends (MG-6) and warns', async () => {
    const warnings: string[] = [];
    const p = testPipeline({ warn: (m) => warnings.push(m) });
    const r = resource(Array.from({ length: 55 }, (_, i) => ({ i })), { name: 'nokeys', writeDisposition: 'merge' });
    await p.run(r);
    await p.run(resource(Array.from({ length: 10 }, (_, i) => ({ i })), { name: 'nokeys', writeDisposition: 'merge' }));
    expect(await count(p, 'nokeys')).toBe(65);
    expect(warnings.some((w) => /no primary key or merge key/.test(w))).toBe(true);
    await p.close();
  });

  it('dedups staging by primary key; nested rows follow the winner (MG-9)', async () => {
    const p = testPipeline();
    await p.run(
      [
        { id: 1, v: 'first', list: [1, 2] },
        { id: 1, v: 'last', list: [3, 4, 5] },
      ],
      { tableName: 'dd', writeDisposition: 'merge', primaryKey: 'id' },
    );
    expect(await rows(p, 'dd', 'id', 'id, v')).toEqual([{ id: 1, v: 'last' }]);
    expect((await rows(p, 'dd__list', 'value', 'value')).map((x) => x.value)).toEqual([3, 4, 5]);
    await p.close();
  });

  it('merge key only: no dedup (MG-9)', async () => {
    const p = testPipeline();
    await p.run(
      [
        { id: 1, v: 'a', list: [1, 2, 3] },
        { id: 1, v: 'b', list: [4, 5, 6] },
      ],
      { tableName: 'mk', writeDisposition: 'merge', mergeKey: 'id' },
    );
    expect(await count(p, 'mk')).toBe(2);
    expect(await count(p, 'mk__list')).toBe(6);
    await p.close();
  });

  it('dedup_sort desc / asc with nested values of the winner (MG-10)', async () => {
    for (const [order, want, nested] of [
      ['desc', 'baz', [7, 8, 9]],
      ['asc', 'foo', [1, 2, 3]],
    ] as const) {
      const p = testPipeline();
      await p.run(
        resource(
          [
            { id: 1, val: 'foo', sequence: 1, nested: [1, 2, 3] },
            { id: 1, val: 'baz', sequence: 3, nested: [7, 8, 9] },
            { id: 1, val: 'bar', sequence: 2, nested: [4, 5, 6] },
          ],
          { name: 'dedup_data', primaryKey: 'id', writeDisposition: 'merge', columns: { sequence: { dedupSort: order } } },
        ),
      );
      expect(await rows(p, 'dedup_data', 'id', 'id, val')).toEqual([{ id: 1, val: want }]);
      expect((await rows(p, 'dedup_data__nested', 'value', 'value')).map((x) => x.value)).toEqual(nested);
      await p.close();
    }
  });

  it('hard delete with primary key and bool column (seed example)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'resource', primaryKey: 'id', writeDisposition: 'merge', columns: { deleted_flag: { hardDelete: true, dataType: 'bool' } } });
    await p.run(r([{ id: 1, val: 'foo', deleted_flag: false }]));
    expect(await rows(p, 'resource', 'id', 'id, val, deleted_flag')).toEqual([{ id: 1, val: 'foo', deleted_flag: false }]);
    await p.run(r([{ id: 1, val: 'bar', deleted_flag: null }]));
    expect(await rows(p, 'resource', 'id', 'id, val, deleted_flag')).toEqual([{ id: 1, val: 'bar', deleted_flag: null }]);
    await p.run(r([{ id: 1, val: 'foo', deleted_flag: true }]));
    expect(await count(p, 'resource')).toBe(0);
    await p.run(r([{ id: 1, val: 'foo', deleted_flag: false }, { id: 2, val: 'x', deleted_flag: false }]));
    // only the key and the flag suffice
    await p.run(r([{ id: 1, deleted_flag: true }]));
    expect(await rows(p, 'resource', 'id', 'id, val')).toEqual([{ id: 2, val: 'x' }]);
    await p.close();
  });

  it('hard delete with merge key and a timestamp column (seed example)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'resource', mergeKey: 'id', writeDisposition: 'merge', columns: { deleted_at_ts: { hardDelete: true, dataType: 'timestamp' } } });
    await p.run(
      r([
        { id: 1, val: 'foo', deleted_at_ts: null },
        { id: 1, val: 'bar', deleted_at_ts: null },
        { id: 2, val: 'baz', deleted_at_ts: null },
      ]),
    );
    expect(await count(p, 'resource')).toBe(3);
    await p.run(r([{ id: 1, val: 'foo', deleted_at_ts: '2024-02-22T12:34:56Z' }]));
    expect(await rows(p, 'resource', 'id', 'id, val')).toEqual([{ id: 2, val: 'baz' }]);
    await p.close();
  });

  it('hard delete with dedup_sort: the winner decides (seed example)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) =>
      resource(items, { name: 'resource', primaryKey: 'id', writeDisposition: 'merge', columns: { deleted_flag: { hardDelete: true, dataType: 'bool' }, lsn: { dedupSort: 'desc' } } });
    await p.run(
      r([
        { id: 1, val: 'foo', lsn: 1, deleted_flag: null },
        { id: 1, val: 'baz', lsn: 3, deleted_flag: null },
        { id: 1, val: 'bar', lsn: 2, deleted_flag: true },
      ]),
    );
    expect(await rows(p, 'resource', 'id', 'id, val, lsn')).toEqual([{ id: 1, val: 'baz', lsn: 3 }]);
    await p.run(
      r([
        { id: 2, val: 'foo', lsn: 1, deleted_flag: false },
        { id: 2, lsn: 2, deleted_flag: true },
      ]),
    );
    expect(await rows(p, 'resource', 'id', 'id, val, lsn')).toEqual([{ id: 1, val: 'baz', lsn: 3 }]);
    await p.close();
  });

  it('hard delete removes nested rows two levels deep; no-key flagged rows are not inserted', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'parents', primaryKey: 'id', writeDisposition: 'merge', columns: { deleted: { hardDelete: true, dataType: 'bool' } } });
    await p.run(
      r([
        { id: 1, children: [{ c: 1, grand: [{ g: 1 }, { g: 2 }] }] },
        { id: 2, children: [{ c: 2, grand: [{ g: 3 }] }] },
      ]),
    );
    expect(await count(p, 'parents__children__grand')).toBe(3);
    await p.run(r([{ id: 1, deleted: true }]));
    expect(await rows(p, 'parents', 'id', 'id')).toEqual([{ id: 2 }]);
    expect(await rows(p, 'parents__children', 'c', 'c')).toEqual([{ c: 2 }]);
    expect(await rows(p, 'parents__children__grand', 'g', 'g')).toEqual([{ g: 3 }]);

    const q = testPipeline();
    const nk = (items: unknown[]) => resource(items, { name: 'nk', writeDisposition: 'merge', columns: { deleted: { hardDelete: true, dataType: 'bool' } } });
    await q.run(nk([{ id: 1, deleted: false }, { id: 2, deleted: true }]));
    expect(await rows(q, 'nk', 'id', 'id')).toEqual([{ id: 1 }]);
    await p.close();
    await q.close();
  });

  it('changes deep in nested tables replace the whole subtree (MG-13)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'orders', primaryKey: 'id', writeDisposition: 'merge' });
    await p.run(
      r([
        { id: 1, lines: [{ sku: 'a', tags: ['x', 'y'] }, { sku: 'b', tags: ['z'] }] },
        { id: 2, lines: [{ sku: 'c', tags: ['w'] }] },
      ]),
    );
    await p.run(r([{ id: 1, lines: [{ sku: 'a', tags: ['x2'] }] }, { id: 3 }]));
    expect(await rows(p, 'orders', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    const lines = await p.query(
      `SELECT o.id, l.sku FROM "${p.datasetName}".orders__lines l JOIN "${p.datasetName}".orders o ON o._dlt_id = l._dlt_root_id ORDER BY o.id, l.sku`,
    );
    expect(lines).toEqual([
      { id: 1, sku: 'a' },
      { id: 2, sku: 'c' },
    ]);
    const tags = await p.query(
      `SELECT o.id, t.value FROM "${p.datasetName}".orders__lines__tags t JOIN "${p.datasetName}".orders o ON o._dlt_id = t._dlt_root_id ORDER BY o.id, t.value`,
    );
    expect(tags).toEqual([
      { id: 1, value: 'x2' },
      { id: 2, value: 'w' },
    ]);
    // a root re-delivered without its list loses its nested rows
    await p.run(r([{ id: 2 }]));
    expect(await count(p, 'orders__lines')).toBe(1);
    expect(await count(p, 'orders__lines__tags')).toBe(1);
    await p.close();
  });

  it('key column null or missing fails with CannotCoerceNullError before anything is written (MG-2)', async () => {
    const p = testPipeline();
    await expect(p.run([{ id: 1 }, { id: null }], { tableName: 'k', writeDisposition: 'merge', primaryKey: 'id' })).rejects.toBeInstanceOf(CannotCoerceNullError);
    await expect(p.run([{ id: 1 }, { other: 2 }], { tableName: 'k', writeDisposition: 'merge', primaryKey: 'id' })).rejects.toMatchObject({
      table: 'k',
      column: 'id',
    });
    expect(await tableExists(p, 'k')).toBe(false);
    await p.close();
  });

  it('two hardDelete or two dedupSort columns, or a bad dedupSort value, fail with SchemaError (MG-5)', async () => {
    const p = testPipeline();
    const run = (columns: Record<string, object>) =>
      p.run(resource([{ id: 1, a: 1, b: 2 }], { name: 'bad', primaryKey: 'id', writeDisposition: 'merge', columns }));
    await expect(run({ a: { hardDelete: true }, b: { hardDelete: true } })).rejects.toSatisfy(
      (e: unknown) => e instanceof SchemaError && e.resource === 'bad' && e.table === 'bad' && /hardDelete/.test(e.message),
    );
    await expect(run({ a: { dedupSort: 'asc' }, b: { dedupSort: 'desc' } })).rejects.toBeInstanceOf(SchemaError);
    await expect(run({ a: { dedupSort: 'up' } })).rejects.toSatisfy((e: unknown) => e instanceof SchemaError && (e as SchemaError).column === 'a');
    expect(await tableExists(p, 'bad')).toBe(false);
    await p.close();
  });

  it('invalid merge strategy is a typed error at definition', () => {
    expect(() => resource([{ id: 1 }], { name: 'x', writeDisposition: { disposition: 'merge', strategy: 'nope' as never } })).toThrow(TideError);
  });

  it('facebook ads: source rootKey, replace then merge keeps the other ads', async () => {
    const p = testPipeline();
    const ads = (state: string, items: unknown[]) =>
      source('facebook_ads', [resource(items.filter((i) => (i as { status: string }).status === state), { name: 'ads', primaryKey: 'id', writeDisposition: 'replace' })], { rootKey: true });
    const all = [
      { id: 1, status: 'DISAPPROVED', creatives: [{ c: 'a' }] },
      { id: 2, status: 'DISAPPROVED', creatives: [{ c: 'b' }] },
      { id: 3, status: 'PAUSED', creatives: [{ c: 'c' }, { c: 'd' }] },
    ];
    await p.run(ads('DISAPPROVED', all), { writeDisposition: 'replace' });
    expect(await count(p, 'ads__creatives')).toBe(2);
    await p.run(ads('PAUSED', all), { writeDisposition: 'merge' });
    expect(await rows(p, 'ads', 'id', 'id, status')).toEqual([
      { id: 1, status: 'DISAPPROVED' },
      { id: 2, status: 'DISAPPROVED' },
      { id: 3, status: 'PAUSED' },
    ]);
    // merge again with an update of ad 3: its creatives are replaced through _dlt_root_id
    await p.run(ads('PAUSED', [{ id: 3, status: 'PAUSED', creatives: [{ c: 'e' }] }]), { writeDisposition: 'merge' });
    expect((await rows(p, 'ads__creatives', 'c', 'c')).map((x) => x.c)).toEqual(['a', 'b', 'e']);
    await p.close();
  });

  it('changing the disposition via run() persists in the schema (MG-4)', async () => {
    const p = testPipeline();
    const r = resource([{ id: 1 }, { id: 2 }], { name: 'chg', primaryKey: 'id', writeDisposition: 'merge' });
    await p.run(r);
    await p.run(r);
    expect(await count(p, 'chg')).toBe(2);
    await p.run(r, { writeDisposition: 'append' });
    expect(await count(p, 'chg')).toBe(4);
    expect(p.schema()!.tables.chg.writeDisposition).toBe('append');
    const stored = await p.query<{ schema: string }>(`SELECT schema FROM "${p.datasetName}"._dlt_version ORDER BY version DESC LIMIT 1`);
    expect(JSON.stringify(stored[0].schema)).toContain('append');
    await p.run(r, { writeDisposition: 'replace' });
    expect(await count(p, 'chg')).toBe(2);
    expect(p.schema()!.tables.chg.writeDisposition).toBe('replace');
    await p.close();
  });

  it('merges through a staged package too (extract, then load)', async () => {
    const p = testPipeline();
    const r = (items: unknown[]) => resource(items, { name: 'staged', primaryKey: 'id', writeDisposition: 'merge', columns: { deleted: { hardDelete: true, dataType: 'bool' } } });
    await p.run(r([{ id: 1, v: 'a', kids: [1, 2] }, { id: 2, v: 'b', kids: [3] }]));
    const info = await p.extract(r([{ id: 1, v: 'a2', kids: [9] }, { id: 2, deleted: true }, { id: 3, v: 'c' }]));
    expect(await rows(p, 'staged', 'id', 'id, v')).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ]);
    await p.load(info.loadId!);
    expect(await rows(p, 'staged', 'id', 'id, v')).toEqual([
      { id: 1, v: 'a2' },
      { id: 3, v: 'c' },
    ]);
    expect((await rows(p, 'staged__kids', 'value', 'value')).map((x) => x.value)).toEqual([9]);
    await p.close();
  });

  it('ad hoc merge of overlapping pages keeps one issue per id', async () => {
    const p = testPipeline();
    const pages = [
      [{ id: 1, title: 'a', reactions: 5 }, { id: 2, title: 'b', reactions: 3 }],
      [{ id: 2, title: 'b', reactions: 3 }, { id: 3, title: 'c', reactions: 1 }],
      [{ id: 1, title: 'a', reactions: 5 }],
    ];
    await p.run(pages.flat(), { writeDisposition: 'merge', primaryKey: 'id', tableName: 'issues' });
    expect(await rows(p, 'issues', 'id', 'id, title')).toEqual([
      { id: 1, title: 'a' },
      { id: 2, title: 'b' },
      { id: 3, title: 'c' },
    ]);
    await p.close();
  });

  it('github events by type with a created_at incremental: past events are skipped, new ones merged', async () => {
    const p = testPipeline();
    const events = (batch: Record<string, unknown>[]) =>
      resource(batch, {
        name: 'github_repo_events',
        primaryKey: 'id',
        writeDisposition: 'merge',
        tableName: (i) => (i as { type: string }).type,
        incremental: incremental('created_at', { initialValue: '1970-01-01T00:00:00Z' }),
      });
    const e1 = { id: '1', type: 'PushEvent', created_at: '2024-01-01T00:00:00Z' };
    const e2 = { id: '2', type: 'WatchEvent', created_at: '2024-01-02T00:00:00Z' };
    const e3 = { id: '3', type: 'PushEvent', created_at: '2024-01-03T00:00:00Z' };
    await p.run(events([e3, e2, e1]));
    await p.run(events([{ id: '4', type: 'WatchEvent', created_at: '2024-01-04T00:00:00Z' }, e3, e2, e1]));
    expect(await rows(p, 'push_event', 'id', 'id')).toEqual([{ id: '1' }, { id: '3' }]);
    expect(await rows(p, 'watch_event', 'id', 'id')).toEqual([{ id: '2' }, { id: '4' }]);
    await p.close();
  });
});
