/**
 * restApiSource end to end against a local GitHub-like API: the incremental param (state, second
 * run, scheduler intervals), parent → child resources, response actions, retries (429 with
 * Retry-After, 5xx, a timeout) and the error when retrying gives up. The API records every request,
 * so the tests check exactly which pages were fetched, as well as the exact rows and state.
 */
import { describe, expect, it } from 'vitest';
import { ExtractError, restApiSource, RestApiError, type RestApiConfig } from 'tide';
import { json, startApi, type ApiRequest } from '../helpers/http-api.ts';
import { rows, testPipeline } from '../helpers/pipelines.ts';
import { cursorState, resourceStateOf } from '../helpers/incremental-util.ts';
import type { ServerResponse } from 'node:http';

interface Issue {
  id: number;
  number: number;
  title: string;
  updated_at: string;
}

const day = (d: number) => `2024-01-${String(d).padStart(2, '0')}T00:00:00Z`;
const issue = (n: number, updated = n, title = `issue ${n}`): Issue => ({ id: 100 + n, number: n, title, updated_at: day(updated) });

/**
 * GET /issues: the issues with `since <= updated_at < until` (when given), by updated_at, two per
 * page, with a `next` link that keeps the query (like GitHub's Link header, in the body here).
 */
function issuesRoute(issues: () => Issue[]) {
  return (req: ApiRequest, res: ServerResponse, base: string) => {
    const since = req.query.get('since');
    const until = req.query.get('until');
    const all = issues()
      .filter((i) => (!since || i.updated_at >= since) && (!until || i.updated_at < until))
      .sort((a, b) => a.updated_at.localeCompare(b.updated_at));
    const page = Number(req.query.get('page') ?? 1);
    const next = new URL(req.url, base);
    next.searchParams.set('page', String(page + 1));
    json(res, { items: all.slice((page - 1) * 2, page * 2), next: page * 2 < all.length ? next.toString() : null });
  };
}

const calls = (reqs: ApiRequest[]) => reqs.map((r) => decodeURIComponent(`${r.method} ${r.url}`));

function issuesConfig(base: string, since: Record<string, unknown>): RestApiConfig {
  return {
    client: { baseUrl: base, paginator: { type: 'json_link', nextUrlPath: 'next' } },
    resourceDefaults: { primaryKey: 'id', writeDisposition: 'merge' },
    resources: [{ name: 'issues', endpoint: { path: 'issues', dataSelector: 'items', params: { since: { type: 'incremental', cursorPath: 'updated_at', initialValue: day(1), ...since } } } }],
  };
}

describe('restApiSource incremental params', () => {
  it('the second run asks only from the last value on: no page is fetched twice; rows merge; state like dlt', async () => {
    let issues = [1, 2, 3, 4, 5].map((n) => issue(n));
    const api = await startApi(issuesRoute(() => issues));
    const src = restApiSource(issuesConfig(api.base, {}));
    const p = testPipeline({ pipelineName: 'rest_incremental' });

    expect((await p.run(src)).tables).toEqual({ issues: { rows: 5 } });
    expect(calls(api.requests)).toEqual([`GET /issues?since=${day(1)}`, `GET /issues?since=${day(1)}&page=2`, `GET /issues?since=${day(1)}&page=3`]);
    expect(cursorState(p, 'rest_api', 'issues', 'updated_at')?.last_value).toBe(day(5));

    // a new issue, and issue 3 edited after it
    issues = [...issues.filter((i) => i.number !== 3), issue(6), issue(3, 7, 'issue 3, edited')];
    api.requests.length = 0;
    // issue 5 comes again (since is inclusive) and is dropped as a boundary duplicate
    expect((await p.run(src)).tables).toEqual({ issues: { rows: 2 } });
    expect(calls(api.requests)).toEqual([`GET /issues?since=${day(5)}`, `GET /issues?since=${day(5)}&page=2`]);
    expect(await rows(p, 'issues', 'id', 'id, number, title, updated_at')).toEqual(
      [issue(1), issue(2), issue(3, 7, 'issue 3, edited'), issue(4), issue(5), issue(6)].map((i) => ({ ...i, updated_at: new Date(i.updated_at) })),
    );
    expect(cursorState(p, 'rest_api', 'issues', 'updated_at')?.last_value).toBe(day(7));

    // nothing new: one request, nothing loaded
    api.requests.length = 0;
    await p.run(src);
    expect(calls(api.requests)).toEqual([`GET /issues?since=${day(7)}`]);
  });

  it('a run over a scheduler interval sends its bounds as since/until and leaves the cursor state alone', async () => {
    const issues = [1, 2, 3, 4, 5].map((n) => issue(n));
    const api = await startApi(issuesRoute(() => issues));
    const src = restApiSource(issuesConfig(api.base, { endParam: 'until', allowExternalSchedulers: true }));
    const p = testPipeline({ pipelineName: 'rest_interval' });

    expect((await p.run(src, { interval: { start: day(2), end: day(4) } })).tables).toEqual({ issues: { rows: 2 } });
    expect(calls(api.requests)).toEqual([`GET /issues?since=${day(2)}&until=${day(4)}`]);
    expect((await rows(p, 'issues', 'id', 'number')).map((r) => r.number)).toEqual([2, 3]);
    expect(resourceStateOf(p, 'rest_api', 'issues')).toBeUndefined();

    // without an interval: the stateful range from initialValue, no until
    api.requests.length = 0;
    await p.run(src);
    expect(calls(api.requests)[0]).toBe(`GET /issues?since=${day(1)}`);
    expect(cursorState(p, 'rest_api', 'issues', 'updated_at')?.last_value).toBe(day(5));
  });

  it('convert turns the cursor value into the param (epoch seconds here)', async () => {
    const issues = [1, 2, 3].map((n) => issue(n));
    const api = await startApi((req, res, base) => {
      const since = new Date(Number(req.query.get('since')) * 1000).toISOString().replace('.000Z', 'Z');
      req.query.set('since', since);
      return issuesRoute(() => issues)(req, res, base);
    });
    const src = restApiSource(issuesConfig(api.base, { initialValue: day(2), convert: (v: unknown) => Date.parse(String(v)) / 1000 }));
    const p = testPipeline({ pipelineName: 'rest_convert' });
    await p.run(src);
    expect(calls(api.requests)).toEqual([`GET /issues?since=${Date.parse(day(2)) / 1000}`]);
    expect((await rows(p, 'issues', 'id', 'number')).map((r) => r.number)).toEqual([2, 3]);
  });
});

describe('restApiSource parent → child', () => {
  it('path placeholders and resolve params make transformers; includeFromParent; ignore 404 and a content match', async () => {
    const issues = [1, 2, 3].map((n) => issue(n));
    const api = await startApi((req, res) => {
      let m: RegExpExecArray | null;
      if (req.path === '/issues') return json(res, issues);
      if ((m = /^\/issues\/(\d+)\/comments$/.exec(req.path))) {
        const n = Number(m[1]);
        if (n === 2) return json(res, { message: 'Not Found' }, 404);
        if (n === 3) return json(res, { message: 'comments are disabled for this issue' }, 403);
        return json(res, [{ id: 1000 + n, body: `first on ${n}` }, { id: 2000 + n, body: `second on ${n}` }]);
      }
      if ((m = /^\/issues\/(\d+)$/.exec(req.path))) return json(res, { number: Number(m[1]), locked: Number(m[1]) === 3 });
      if (req.path === '/labels') return json(res, { data: [{ name: `label of ${req.query.get('issue')}` }] });
      json(res, { message: 'no route' }, 500);
    });
    const src = restApiSource({
      client: { baseUrl: api.base },
      resourceDefaults: { endpoint: { paginator: 'single_page' } },
      resources: [
        { name: 'issues', primaryKey: 'id' },
        {
          name: 'comments',
          endpoint: {
            path: 'issues/{resources.issues.number}/comments',
            responseActions: [{ statusCode: 404, action: 'ignore' }, { content: 'comments are disabled', action: 'ignore' }],
          },
          includeFromParent: ['id', 'title'],
        },
        // a path ending in a placeholder is one object (dlt's single-entity rule)
        { name: 'issue_details', endpoint: { path: 'issues/{resources.issues.number}' } },
        { name: 'labels', endpoint: { path: 'labels', params: { issue: { type: 'resolve', resource: 'issues', field: 'number' } } } },
      ],
    });
    const p = testPipeline({ pipelineName: 'rest_children' });
    const info = await p.run(src);
    expect(info.tables).toEqual({ issues: { rows: 3 }, comments: { rows: 2 }, issue_details: { rows: 3 }, labels: { rows: 3 } });
    expect(await rows(p, 'comments', 'id', 'id, body, _issues_id, _issues_title')).toEqual([
      { id: 1001, body: 'first on 1', _issues_id: 101, _issues_title: 'issue 1' },
      { id: 2001, body: 'second on 1', _issues_id: 101, _issues_title: 'issue 1' },
    ]);
    expect(await rows(p, 'issue_details', 'number', 'number, locked')).toEqual([
      { number: 1, locked: false },
      { number: 2, locked: false },
      { number: 3, locked: true },
    ]);
    expect((await rows(p, 'labels', 'name', 'name')).map((r) => r.name)).toEqual(['label of 1', 'label of 2', 'label of 3']);
    expect(calls(api.requests).sort()).toEqual(
      ['GET /issues', ...[1, 2, 3].flatMap((n) => [`GET /issues/${n}/comments`, `GET /issues/${n}`, `GET /labels?issue=${n}`])].sort(),
    );
  });

  it('selecting only the child still runs the parent, without loading it', async () => {
    const api = await startApi((req, res) => (req.path === '/issues' ? json(res, [issue(1)]) : json(res, [{ id: 7 }])));
    const src = restApiSource({
      client: { baseUrl: api.base, paginator: 'single_page' },
      resources: ['issues', { name: 'comments', endpoint: 'issues/{resources.issues.number}/comments' }],
    }).withResources('comments');
    const p = testPipeline({ pipelineName: 'rest_child_only' });
    expect((await p.run(src)).tables).toEqual({ comments: { rows: 1 } });
  });

  it('a parent item without the field its child needs: an ExtractError naming both and showing the item; nothing loaded', async () => {
    const api = await startApi((req, res) => (req.path === '/issues' ? json(res, [issue(1), { id: 7, title: 'no number' }]) : json(res, [{ id: 1 }])));
    const src = restApiSource({
      client: { baseUrl: api.base, paginator: 'single_page' },
      resources: ['issues', { name: 'comments', endpoint: 'issues/{resources.issues.number}/comments' }],
    });
    const p = testPipeline({ pipelineName: 'rest_bad_parent' });
    const err = await p.run(src).catch((e) => e);
    expect(err).toBeInstanceOf(ExtractError);
    expect(err.resource).toBe('comments');
    expect(err.item).toEqual({ id: 7, title: 'no number' });
    expect(err.message).toContain('Resource "comments" needs field "number" of each "issues" item for {resources.issues.number}');
    expect(await p.query(`SELECT to_regclass('"${p.datasetName}".issues') AS t`)).toEqual([{ t: null }]);
  });

  it('a body that is not JSON: a RestApiError with the status and the start of the body', async () => {
    const api = await startApi((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    const p = testPipeline({ pipelineName: 'rest_not_json' });
    const err = await p.run(restApiSource({ client: { baseUrl: api.base }, resources: ['issues'] })).catch((e) => e);
    expect(err).toBeInstanceOf(RestApiError);
    expect([err.resource, err.status, err.retryable]).toEqual(['issues', 200, false]);
    expect(err.message).toContain('answered 200 with a body that is not JSON: <html>maintenance</html>');
  });

  it('a config naming a parent that does not exist fails at definition', () => {
    expect(() => restApiSource({ client: { baseUrl: 'http://127.0.0.1:1' }, resources: [{ name: 'comments', endpoint: 'issues/{resources.issuez.number}/comments' }] })).toThrow(
      /resource "comments" depends on "issuez", which is not a resource/,
    );
  });
});

describe('restApiSource retries and errors', () => {
  /** `/items?page=N`, N = 1..3, one item each; `fail(req, attempt)` may answer first (attempt counts requests of that URL). */
  async function flakyApi(fail: (req: ApiRequest, attempt: number, res: ServerResponse) => boolean) {
    const seen = new Map<string, number>();
    return startApi((req, res, base) => {
      const attempt = (seen.get(req.url) ?? 0) + 1;
      seen.set(req.url, attempt);
      if (fail(req, attempt, res)) return;
      const page = Number(req.query.get('page') ?? 1);
      json(res, { data: [{ id: page }], next: page < 3 ? `${base}/items?page=${page + 1}` : null });
    });
  }

  const config = (base: string, extra: Partial<RestApiConfig['client']> = {}): RestApiConfig => ({
    client: { baseUrl: base, paginator: 'json_link', retry: { backoffFactor: 0.01 }, ...extra },
    resources: [{ name: 'items', primaryKey: 'id', writeDisposition: 'merge' }],
  });

  it('429 waits for Retry-After, 5xx backs off; each page is fetched again only after a failure', async () => {
    const api = await flakyApi((req, attempt, res) => {
      if (req.query.get('page') === '2' && attempt === 1) return json(res, { message: 'slow down' }, 429, { 'retry-after': '1' }), true;
      if (req.query.get('page') === '3' && attempt <= 2) return json(res, { message: 'oops' }, attempt === 1 ? 502 : 503), true;
      return false;
    });
    const log: string[] = [];
    const p = testPipeline({ pipelineName: 'rest_retry', log: (m) => log.push(m) });
    await p.run(restApiSource(config(api.base)));
    expect((await rows(p, 'items', 'id', 'id')).map((r) => r.id)).toEqual([1, 2, 3]);
    expect(calls(api.requests)).toEqual(['GET /items', 'GET /items?page=2', 'GET /items?page=2', 'GET /items?page=3', 'GET /items?page=3', 'GET /items?page=3']);
    const waits = log.filter((l) => l.includes('retrying in')).map((l) => l.replace(/^.*answered (\d+); retrying in (.*)$/, '$1 $2'));
    expect(waits).toEqual(['429 1s', '502 0.01s', '503 0.02s']);
  });

  it('a request that times out is retried', async () => {
    const api = await flakyApi((_req, attempt) => attempt === 1 && _req.url === '/items'); // the first request never gets an answer
    const p = testPipeline({ pipelineName: 'rest_timeout' });
    await p.run(restApiSource(config(api.base, { timeout: 1 })));
    expect((await rows(p, 'items', 'id', 'id')).map((r) => r.id)).toEqual([1, 2, 3]);
    expect(calls(api.requests)).toEqual(['GET /items', 'GET /items', 'GET /items?page=2', 'GET /items?page=3']);
  });

  it('giving up: a retryable RestApiError naming resource, URL and status; the earlier load and state stay', async () => {
    let broken = false;
    const api = await flakyApi((req, _attempt, res) => (broken && req.query.get('page') === '2' ? (json(res, { message: 'down' }, 500), true) : false));
    const src = restApiSource(config(api.base, { retry: { maxAttempts: 3, backoffFactor: 0.01 } }));
    const p = testPipeline({ pipelineName: 'rest_give_up' });
    await p.run(src);
    const stateBefore = JSON.stringify(p.state);
    broken = true;
    api.requests.length = 0;
    const err = await p.run(src).catch((e) => e);
    expect(err).toBeInstanceOf(RestApiError);
    expect([err.resource, err.status, err.retryable, err.url]).toEqual(['items', 500, true, `${api.base}/items?page=2`]);
    expect(err.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/items\?page=2 failed after 3 attempts with 500/);
    expect(calls(api.requests)).toEqual(['GET /items', 'GET /items?page=2', 'GET /items?page=2', 'GET /items?page=2']);
    expect((await rows(p, 'items', 'id', 'id')).map((r) => r.id)).toEqual([1, 2, 3]);
    expect(JSON.stringify(p.state)).toBe(stateBefore);
  });
});
