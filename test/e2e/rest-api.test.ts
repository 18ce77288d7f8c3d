/**
 * restApiSource on Temporal: a decomposed backfill over three days against a local API. Each
 * interval's run sends its bounds as since/until (allowExternalSchedulers), pages through the
 * Link headers, feeds a child resource, and leaves the cursor state alone; the independent
 * resource is a component of its own. The API records every request, so the test checks exactly
 * which pages the workers fetched.
 */
import { describe, expect, it } from 'vitest';
import { definePipeline, pipeline, postgres, restApiSource } from 'tide';
import { json, startApi } from '../helpers/http-api.ts';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';
import { restorableState } from '../helpers/state-db.ts';

const at = (day: number, hour: number) => `2026-05-0${day}T${String(hour).padStart(2, '0')}:00:00Z`;
/** Two issues a day, May 1st to 5th. */
const ISSUES = [1, 2, 3, 4, 5].flatMap((d) => [6, 18].map((h, k) => ({ id: d * 10 + k, updated_at: at(d, h) })));

describe('restApiSource on Temporal', () => {
  it('a decomposed backfill: each interval asks for its own range, page by page; parent and child load together', async () => {
    const api = await startApi((req, res, base) => {
      if (req.path === '/users') return json(res, [{ id: 1, login: 'octocat' }]);
      const m = /^\/issues\/(\d+)\/comments$/.exec(req.path);
      if (m) return json(res, [{ id: Number(m[1]) * 100, body: `on ${m[1]}` }]);
      const [since, until] = [req.query.get('since')!, req.query.get('until')!];
      const all = ISSUES.filter((i) => i.updated_at >= since && i.updated_at < until);
      const page = Number(req.query.get('page') ?? 1);
      const next = new URL(req.url, base);
      next.searchParams.set('page', String(page + 1));
      json(res, all.slice(page - 1, page), 200, page < all.length ? { link: `<${next}>; rel="next"` } : {});
    });
    const ds = datasetName('rest_bf');
    const def = definePipeline({
      name: `rest_bf_${Date.now()}`,
      datasetName: ds,
      decompose: 'parallel',
      source: () =>
        restApiSource({
          client: { baseUrl: api.base, paginator: 'header_link' },
          resourceDefaults: { primaryKey: 'id', writeDisposition: 'merge' },
          resources: [
            {
              name: 'issues',
              endpoint: { path: 'issues', params: { since: { type: 'incremental', cursorPath: 'updated_at', initialValue: at(1, 0), endParam: 'until', allowExternalSchedulers: true } } },
            },
            { name: 'comments', endpoint: { path: 'issues/{resources.issues.id}/comments', paginator: 'single_page' }, includeFromParent: ['id'] },
            { name: 'users', endpoint: { path: 'users', paginator: 'single_page' } },
          ],
        }),
    });
    await withWorker([def], async (client) => {
      const h = await client.startBackfill({ pipeline: def.name, from: '2026-05-02', to: '2026-05-05', every: 'day', parallel: 2 });
      expect(await h.result()).toMatchObject({ total: 3, done: 3, failed: 0 });
    });

    const issueCalls = api.requests.filter((r) => r.path === '/issues').map((r) => `${r.query.get('since')} ${r.query.get('until')} ${r.query.get('page') ?? 1}`);
    expect(issueCalls.sort()).toEqual([2, 3, 4].flatMap((d) => [1, 2].map((page) => `${at(d, 0)} ${at(d + 1, 0)} ${page}`)));
    expect(api.requests.filter((r) => r.path === '/users')).toHaveLength(3);

    const p = pipeline({ pipelineName: def.name, destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
    try {
      expect(await p.query(`SELECT id, updated_at FROM "${ds}".issues ORDER BY id`)).toEqual(ISSUES.slice(2, 8).map((i) => ({ ...i, updated_at: new Date(i.updated_at) })));
      expect(await p.query(`SELECT id, _issues_id FROM "${ds}".comments ORDER BY id`)).toEqual(ISSUES.slice(2, 8).map((i) => ({ id: i.id * 100, _issues_id: i.id })));
      expect(await p.query(`SELECT id, login FROM "${ds}".users`)).toEqual([{ id: 1, login: 'octocat' }]);
      // interval runs are stateless: no cursor was stored
      const state = (await restorableState(p)) as { sources?: Record<string, any> } | undefined;
      expect(state?.sources?.rest_api?.resources?.issues?.incremental).toBeUndefined();
    } finally {
      await p.close();
    }
  });
});
