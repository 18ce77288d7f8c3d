/**
 * restApiSource paginators against a local HTTP API: each kind, declared and auto-detected. Every
 * test checks the exact rows at the destination and the exact requests the API received, so a
 * paginator that fetched a page twice, skipped one or ran past the end fails.
 */
import { describe, expect, it } from 'vitest';
import { restApiSource, type PaginatorConfig } from 'tide';
import { json, startApi, type ApiHandler } from '../helpers/http-api.ts';
import { rows, testPipeline } from '../helpers/pipelines.ts';

const ITEMS = [1, 2, 3, 4, 5].map((id) => ({ id, name: `item ${id}` }));

/** Loads `/items` with `paginator` (undefined: auto) and returns the loaded rows and the requests made. */
async function load(handler: ApiHandler, paginator: PaginatorConfig | undefined, dataSelector?: string) {
  const api = await startApi(handler);
  const src = restApiSource({
    client: { baseUrl: `${api.base}/api/`, paginator },
    resources: [{ name: 'items', primaryKey: 'id', endpoint: { path: 'items', dataSelector } }],
  });
  const p = testPipeline({ pipelineName: 'rest_paginators' });
  const info = await p.run(src);
  return { info, rows: await rows(p, 'items', 'id', 'id, name'), calls: api.calls() };
}

describe('restApiSource paginators', () => {
  it('json_link: follows the next URL in the body until it is null', async () => {
    const got = await load(
      (req, res, base) => {
        const page = Number(req.query.get('page') ?? 1);
        json(res, { data: ITEMS.slice((page - 1) * 2, page * 2), links: { next: page < 3 ? `${base}/api/items?page=${page + 1}` : null } });
      },
      { type: 'json_link', nextUrlPath: 'links.next' },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.info.tables).toEqual({ items: { rows: 5 } });
    expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?page=2', 'GET /api/items?page=3']);
  });

  it('header_link: follows Link rel="next" (relative URLs resolve against the request)', async () => {
    const got = await load(
      (req, res) => {
        const page = Number(req.query.get('page') ?? 1);
        const link: Record<string, string> = page < 3 ? { link: `</api/items?page=${page + 1}>; rel="next", </api/items?page=1>; rel="first"` } : {};
        json(res, ITEMS.slice((page - 1) * 2, page * 2), 200, link);
      },
      'header_link',
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?page=2', 'GET /api/items?page=3']);
  });

  it('offset: offset and limit params, stops at the total', async () => {
    const got = await load(
      (req, res) => {
        const offset = Number(req.query.get('skip'));
        const limit = Number(req.query.get('take'));
        json(res, { results: ITEMS.slice(offset, offset + limit), meta: { count: ITEMS.length } });
      },
      { type: 'offset', limit: 2, offsetParam: 'skip', limitParam: 'take', totalPath: 'meta.count' },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items?skip=0&take=2', 'GET /api/items?skip=2&take=2', 'GET /api/items?skip=4&take=2']);
  });

  it('offset without a total: stops at the first empty page', async () => {
    const got = await load(
      (req, res) => {
        const offset = Number(req.query.get('offset'));
        json(res, { items: ITEMS.slice(offset, offset + 3) });
      },
      { type: 'offset', limit: 3, totalPath: null },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items?offset=0&limit=3', 'GET /api/items?offset=3&limit=3', 'GET /api/items?offset=6&limit=3']);
  });

  it('page_number: 1-based pages up to total_pages', async () => {
    const got = await load(
      (req, res) => {
        const page = Number(req.query.get('p'));
        json(res, { items: ITEMS.slice((page - 1) * 2, page * 2), total_pages: 3 });
      },
      { type: 'page_number', basePage: 1, pageParam: 'p', totalPath: 'total_pages' },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items?p=1', 'GET /api/items?p=2', 'GET /api/items?p=3']);
  });

  it('cursor: the cursor from the body goes back as a param until it is null', async () => {
    const got = await load(
      (req, res) => {
        const from = Number(req.query.get('after') ?? 0);
        const page = ITEMS.filter((i) => i.id > from).slice(0, 2);
        const last = page.at(-1)!.id;
        json(res, { entries: page, paging: { next_cursor: last < 5 ? String(last) : null } });
      },
      { type: 'cursor', cursorPath: 'paging.next_cursor', cursorParam: 'after' },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?after=2', 'GET /api/items?after=4']);
  });

  it('header_cursor: the cursor from a response header goes back as a param until the header is gone', async () => {
    const got = await load(
      (req, res) => {
        const from = Number(req.query.get('cursor') ?? 0);
        const page = ITEMS.filter((i) => i.id > from).slice(0, 2);
        const last = page.at(-1)!.id;
        json(res, page, 200, last < 5 ? { 'x-next-cursor': String(last) } : {});
      },
      { type: 'header_cursor', cursorKey: 'X-Next-Cursor' },
    );
    expect(got.rows).toEqual(ITEMS);
    expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?cursor=2', 'GET /api/items?cursor=4']);
  });

  it('single_page: one request, even when the body has a next link', async () => {
    const got = await load((_req, res, base) => json(res, { data: ITEMS.slice(0, 2), next: `${base}/api/items?page=2` }), 'single_page');
    expect(got.rows).toEqual(ITEMS.slice(0, 2));
    expect(got.calls).toEqual(['GET /api/items']);
  });

  it('POST with the cursor and the offset in the JSON body (cursorBodyPath, offsetBodyPath, limitBodyPath)', async () => {
    const bodies: unknown[] = [];
    const api = await startApi((req, res) => {
      const body = JSON.parse(req.body);
      bodies.push(body);
      if (req.path === '/search') {
        const after = Number(body.page.after ?? 0);
        const page = ITEMS.filter((i) => i.id > after).slice(0, body.page.size);
        return json(res, { hits: page, next: page.at(-1)!.id < 5 ? page.at(-1)!.id : null });
      }
      json(res, { rows: ITEMS.slice(body.window.from, body.window.from + body.window.count), total: 5 });
    });
    const src = restApiSource({
      client: { baseUrl: api.base },
      resources: [
        { name: 'search', endpoint: { method: 'POST', json: { query: 'x', page: { size: 2 } }, paginator: { type: 'cursor', cursorPath: 'next', cursorBodyPath: 'page.after' } } },
        { name: 'windowed', endpoint: { method: 'POST', json: { query: 'y' }, paginator: { type: 'offset', limit: 3, offsetBodyPath: 'window.from', limitBodyPath: 'window.count' } } },
      ],
    });
    const p = testPipeline({ pipelineName: 'rest_post_body' });
    await p.run(src);
    expect(await rows(p, 'search', 'id', 'id, name')).toEqual(ITEMS);
    expect(await rows(p, 'windowed', 'id', 'id, name')).toEqual(ITEMS);
    expect(api.calls()).toEqual(['POST /search', 'POST /search', 'POST /search', 'POST /windowed', 'POST /windowed']);
    expect(bodies).toEqual([
      { query: 'x', page: { size: 2 } },
      { query: 'x', page: { size: 2, after: 2 } },
      { query: 'x', page: { size: 2, after: 4 } },
      { query: 'y', window: { from: 0, count: 3 } },
      { query: 'y', window: { from: 3, count: 3 } },
    ]);
  });

  describe('auto-detection (no paginator given)', () => {
    it('a Link header', async () => {
      const got = await load((req, res) => {
        const page = Number(req.query.get('page') ?? 1);
        json(res, ITEMS.slice((page - 1) * 3, page * 3), 200, page < 2 ? { link: `</api/items?page=2>; rel="next"` } : {});
      }, undefined);
      expect(got.rows).toEqual(ITEMS);
      expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?page=2']);
    });

    it('a next URL in the body ({ next: { href } })', async () => {
      const got = await load((req, res) => {
        const page = Number(req.query.get('page') ?? 1);
        json(res, { items: ITEMS.slice((page - 1) * 3, page * 3), _links: { next: { href: page < 2 ? '/api/items?page=2' : null } } });
      }, 'auto');
      expect(got.rows).toEqual(ITEMS);
      expect(got.calls).toEqual(['GET /api/items', 'GET /api/items?page=2']);
    });

    it('nothing to detect: a single page; the records found under "data"', async () => {
      const got = await load((_req, res) => json(res, { meta: { tags: ['x'] }, data: ITEMS }), undefined);
      expect(got.rows).toEqual(ITEMS);
      expect(got.calls).toEqual(['GET /api/items']);
    });
  });

  it('dataSelector picks the records by JSONPath', async () => {
    const got = await load((_req, res) => json(res, { response: { list: ITEMS.slice(0, 3), other: [{ id: 99 }] } }), 'single_page', 'response.list');
    expect(got.rows).toEqual(ITEMS.slice(0, 3));
  });
});
