/**
 * restApiSource against dlt's rest_api_source (dlt 1.26.0): one config, written in dlt's keys and
 * camelCased for tide, run by both tools against the same local API, twice (the API changes in
 * between). Both must send the same requests, load the same rows and keep the same cursor: each
 * paginator kind (auto-detected too), an incremental param, and a parent → child pair.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { restApiSource, type RestApiConfig } from 'tide';
import { json, startApi, type ApiRequest } from '../helpers/http-api.ts';
import { datasetName, tempDir, testPipeline } from '../helpers/pipelines.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const VENV = '.venv-1.26.0';

const day = (d: number) => `2024-01-${String(d).padStart(2, '0')}T00:00:00Z`;

/** The API: issues (Link header pages, since), comments per issue, and one endpoint per paginator kind. */
function api(state: { issues: { id: number; number: number; title: string; updated_at: string }[] }) {
  const items = [1, 2, 3, 4, 5].map((id) => ({ id, name: `item ${id}` }));
  return (req: ApiRequest, res: Parameters<typeof json>[0], base: string) => {
    const q = req.query;
    const page = Number(q.get('page') ?? 1);
    const m = /^\/issues\/(\d+)\/comments$/.exec(req.path);
    if (m) return json(res, [{ id: Number(m[1]) * 10, body: `on ${m[1]}` }]);
    switch (req.path) {
      case '/issues': {
        const all = state.issues.filter((i) => !q.get('since') || i.updated_at >= q.get('since')!).sort((a, b) => a.updated_at.localeCompare(b.updated_at));
        const next = new URL(req.url, base);
        next.searchParams.set('page', String(page + 1));
        return json(res, all.slice((page - 1) * 2, page * 2), 200, page * 2 < all.length ? { link: `<${next}>; rel="next"` } : {});
      }
      case '/linked':
        return json(res, { data: items.slice((page - 1) * 2, page * 2), next: page < 3 ? `${base}/linked?page=${page + 1}` : null });
      case '/offset': {
        const offset = Number(q.get('offset'));
        return json(res, { items: items.slice(offset, offset + Number(q.get('limit'))), total: items.length });
      }
      case '/numbered':
        return json(res, { results: items.slice((page - 1) * 2, page * 2), total_pages: 3 });
      case '/cursored': {
        const after = Number(q.get('cursor') ?? 0);
        const slice = items.filter((i) => i.id > after).slice(0, 2);
        return json(res, { records: slice, cursors: { next: slice.at(-1)!.id < 5 ? slice.at(-1)!.id : null } });
      }
    }
    json(res, { message: 'Not Found' }, 404);
  };
}

/** The config in dlt's keys. */
function dltConfig(base: string) {
  return {
    client: { base_url: base },
    resource_defaults: { primary_key: 'id', write_disposition: 'merge' },
    resources: [
      { name: 'issues', endpoint: { path: 'issues', params: { per_page: 2, since: { type: 'incremental', cursor_path: 'updated_at', initial_value: day(1) } } } },
      { name: 'comments', endpoint: { path: 'issues/{resources.issues.number}/comments', paginator: 'single_page' }, include_from_parent: ['title'] },
      { name: 'linked', endpoint: { path: 'linked', paginator: { type: 'json_link', next_url_path: 'next' } } },
      { name: 'offset', endpoint: { path: 'offset', paginator: { type: 'offset', limit: 2, total_path: 'total' } } },
      { name: 'numbered', endpoint: { path: 'numbered', paginator: { type: 'page_number', base_page: 1, total_path: 'total_pages' } } },
      { name: 'cursored', endpoint: { path: 'cursored', paginator: { type: 'cursor', cursor_path: 'cursors.next', cursor_param: 'cursor' } } },
      { name: 'auto_linked', endpoint: { path: 'linked' } },
    ],
  };
}

/** dlt's keys camelCased, except the names of query params (user data). */
function camel(v: unknown, inParams = false): any {
  if (Array.isArray(v)) return v.map((x) => camel(x));
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [inParams ? k : k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), camel(x, k === 'params')]));
}

function runDlt(env: Record<string, string>, request: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(HERE, VENV, 'bin', 'python'),
      [join(HERE, 'rest_api_side.py')],
      { env: { ...process.env, ...env, RUNTIME__LOG_LEVEL: 'WARNING' }, maxBuffer: 64 << 20, timeout: 180_000 },
      (err, stdout, stderr) => {
        const at = stdout.lastIndexOf('@@RESULT@@');
        if (err || at < 0) reject(new Error(`rest_api_side.py failed: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
        else resolve(JSON.parse(stdout.slice(at + '@@RESULT@@'.length)));
      },
    );
    child.stdin!.end(JSON.stringify(request));
  });
}

/** Requests as `METHOD path?query` with the query decoded, sorted (the tools interleave resources differently). */
const requests = (reqs: ApiRequest[]) => reqs.map((r) => `${r.method} ${decodeURIComponent(r.url)}`).sort();

const TABLES: Record<string, string> = {
  issues: 'id, number, title, updated_at',
  comments: 'id, body, _issues_title',
  linked: 'id, name',
  offset: 'id, name',
  numbered: 'id, name',
  cursored: 'id, name',
  auto_linked: 'id, name',
};

describe(`restApiSource and dlt ${VENV.slice(6)} rest_api_source`, () => {
  it('send the same requests, load the same rows and keep the same cursor, over two runs', async () => {
    const state = { issues: [1, 2, 3].map((n) => ({ id: 100 + n, number: n, title: `issue ${n}`, updated_at: day(n) })) };
    const dltApi = await startApi(api(state));
    const tideApi = await startApi(api(state));
    const tide = testPipeline({ pipelineName: 'rest_parity' });
    const tideSource = restApiSource(camel(dltConfig(tideApi.base)) as RestApiConfig, { name: 'rest_parity' });
    const dltDataset = datasetName('rest_dlt');
    const env = {
      PG_URL: inject('pgUrl').replace(/^postgres:\/\/([^:@/]+)@/, 'postgres://$1:interop@'),
      PIPELINE_NAME: 'rest_parity',
      DATASET: dltDataset,
      PIPELINES_DIR: tempDir('tide-rest-dlt-'),
    };
    const dltRows = (table: string) => tide.query(`SELECT ${TABLES[table]} FROM "${dltDataset}"."${table}" ORDER BY id`);
    const tideRows = (table: string) => tide.query(`SELECT ${TABLES[table]} FROM "${tide.datasetName}"."${table}" ORDER BY id`);

    for (const run of [1, 2]) {
      if (run === 2) state.issues = [...state.issues.filter((i) => i.number !== 2), { id: 102, number: 2, title: 'issue 2, edited', updated_at: day(5) }, { id: 104, number: 4, title: 'issue 4', updated_at: day(4) }];
      dltApi.requests.length = 0;
      tideApi.requests.length = 0;
      const dlt = await runDlt(env, { name: 'rest_parity', config: dltConfig(dltApi.base) });
      await tide.run(tideSource);
      expect(requests(tideApi.requests), `requests of run ${run}`).toEqual(requests(dltApi.requests));
      // run 1: 2 pages of issues, a comments request per issue, 3 pages of each paginated endpoint
      if (run === 1) expect(tideApi.requests).toHaveLength(2 + 3 + 5 * 3);
      for (const table of Object.keys(TABLES)) expect(await tideRows(table), `${table} after run ${run}`).toEqual(await dltRows(table));
      const cursor = (s: any) => s.sources.rest_parity.resources.issues.incremental.updated_at;
      expect(cursor(tide.state).last_value).toBe(cursor(dlt.state).last_value);
    }
    expect((await tideRows('issues')).map((r) => r.title)).toEqual(['issue 1', 'issue 2, edited', 'issue 3', 'issue 4']);
    expect(await tideRows('comments')).toHaveLength(4);
    // the second run asked for issues from the last value on only
    expect(requests(tideApi.requests).filter((r) => r.startsWith('GET /issues?'))).toEqual([`GET /issues?per_page=2&since=${day(3)}`, `GET /issues?per_page=2&since=${day(3)}&page=2`]);
  });
});
