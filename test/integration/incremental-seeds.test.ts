/**
 * Incremental loading, end to end on Postgres: the cursor-field examples of the seeds
 * (`001_…` and `004_…` "Incremental loading") ported to TypeScript. Every example runs at least twice and
 * asserts the exact rows loaded and the exact cursor state (`initial_value`, `last_value`, `unique_hashes`,
 * `start_value`) after each run. APIs are served by a local HTTP server that records what it was asked.
 */
import { describe, expect, it } from 'vitest';
import { incremental, resource, source, transformer } from 'tide';
import type { Pipeline, ResourceContext } from 'tide';
import { cleanup, rows, testPipeline } from '../helpers/pipelines.ts';
import { getJson, loadIds, tablesOf, type TestServer } from '../helpers/state-db.ts';
import { cursorState, dltHash, expectedCursor, pagedApi, resourceStateOf } from '../helpers/incremental-util.ts';

async function serve<T extends TestServer>(s: Promise<T>): Promise<T> {
  return cleanup(await s);
}

const EPOCH = '1970-01-01T00:00:00Z';

describe('seed: repo_issues — cursor field, start_value used as the API `since`', () => {
  for (const cursor of ['updated_at', 'created_at'] as const) {
    it(`${cursor}: run 2 asks since=<run 1 last value>, boundary rows are deduplicated by id`, async () => {
      const issues: Record<string, unknown>[] = [
        { id: 1, title: 'one', [cursor]: '2024-01-01T00:00:00Z' },
        { id: 2, title: 'two', [cursor]: '2024-01-02T00:00:00Z' },
        { id: 3, title: 'three', [cursor]: '2024-01-03T00:00:00Z' },
        { id: 4, title: 'four', [cursor]: '2024-01-05T00:00:00Z' },
        { id: 5, title: 'five', [cursor]: '2024-01-05T00:00:00Z' },
      ];
      // GitHub: `since` is inclusive, results ordered by the cursor, 2 per page
      const api = await serve(
        pagedApi({
          '/repos/acme/widgets/issues': {
            pageSize: 2,
            items: (q) => issues.filter((i) => (i[cursor] as string) >= (q.get('since') ?? '')).sort((a, b) => ((a[cursor] as string) < (b[cursor] as string) ? -1 : 1)),
          },
        }),
      );
      const lastValues: unknown[] = [];
      const repoIssues = resource(
        async function* repo_issues(ctx: ResourceContext, baseUrl: string, repository: string) {
          const inc = ctx.incremental!;
          // get issues since the value stored in state on the previous run (or initial_value on the first run)
          for (let page = 1; ; page++) {
            const items = await getJson<unknown[]>(`${baseUrl}/repos/${repository}/issues?since=${encodeURIComponent(String(inc.startValue))}&page=${page}`);
            if (!items.length) return;
            yield items;
            lastValues.push(inc.lastValue); // last_value is updated after every page
          }
        },
        { primaryKey: 'id', incremental: incremental(cursor, { initialValue: EPOCH }) },
      ).bind(api.url, 'acme/widgets');
      const p = testPipeline({ pipelineName: 'github_issues' });

      const i1 = await p.run(repoIssues);
      expect(i1.tables).toEqual({ repo_issues: { rows: 5 } });
      expect(api.queries('/repos/acme/widgets/issues').map((q) => [q.since, q.page])).toEqual([
        [EPOCH, '1'],
        [EPOCH, '2'],
        [EPOCH, '3'],
        [EPOCH, '4'],
      ]);
      expect(lastValues).toEqual(['2024-01-02T00:00:00Z', '2024-01-05T00:00:00Z', '2024-01-05T00:00:00Z']);
      expect(await rows(p, 'repo_issues', 'id', `id, title, ${cursor}`)).toEqual(issues.map((i) => ({ ...i, [cursor]: new Date(i[cursor] as string) })));
      expect(cursorState(p, 'github_issues', 'repo_issues', cursor)).toEqual(expectedCursor(EPOCH, '2024-01-05T00:00:00Z', [4, 5], EPOCH));

      // run 2: one new issue and one issue changed again (updated_at moves; for created_at it is a new issue)
      issues.push({ id: 6, title: 'six', [cursor]: '2024-01-06T00:00:00Z' });
      issues.push({ id: 7, title: 'seven', [cursor]: '2024-01-07T00:00:00Z' });
      api.reset();
      lastValues.splice(0);
      const i2 = await p.run(repoIssues);
      expect(i2.tables).toEqual({ repo_issues: { rows: 2 } });
      // the since the server received on run 2 is run 1's last value
      expect(api.queries('/repos/acme/widgets/issues').map((q) => q.since)).toEqual(Array(3).fill('2024-01-05T00:00:00Z'));
      expect(lastValues).toEqual(['2024-01-05T00:00:00Z', '2024-01-07T00:00:00Z']); // page 1 = the deduplicated boundary
      expect(await rows(p, 'repo_issues', 'id', 'id')).toEqual([1, 2, 3, 4, 5, 6, 7].map((id) => ({ id })));
      expect(cursorState(p, 'github_issues', 'repo_issues', cursor)).toEqual(
        expectedCursor(EPOCH, '2024-01-07T00:00:00Z', [7], '2024-01-05T00:00:00Z'),
      );

      // run 3: nothing new — the boundary issue comes back and is deduplicated; nothing is loaded
      api.reset();
      const i3 = await p.run(repoIssues);
      expect(i3.loadId).toBeNull();
      expect(api.queries('/repos/acme/widgets/issues').map((q) => q.since)).toEqual(Array(2).fill('2024-01-07T00:00:00Z'));
      expect(await rows(p, 'repo_issues', 'id', 'id')).toHaveLength(7);
      expect(cursorState(p, 'github_issues', 'repo_issues', cursor)).toEqual(
        expectedCursor(EPOCH, '2024-01-07T00:00:00Z', [7], '2024-01-05T00:00:00Z'),
      );
      expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
    });
  }
});

/** GitHub events, newest first, string ids (hashed as quoted JSON strings). */
function githubEvents(n: number, startDay = 1): Record<string, unknown>[] {
  const types = ['PushEvent', 'IssuesEvent', 'WatchEvent'];
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = startDay + i;
    out.push({ id: `ev${String(d).padStart(3, '0')}`, type: types[d % 3], created_at: `2024-02-${String(d).padStart(2, '0')}T12:00:00Z`, actor: { login: `u${d}` } });
  }
  return out.reverse(); // newest first
}

describe('seed: GitHub events dispatched by type, merged by id, out-of-range early stop', () => {
  for (const variant of ['row_order desc', 'manual start_out_of_range break'] as const) {
    it(`${variant}: no page after the first out-of-range page is requested`, async () => {
      let events = githubEvents(8);
      // the events API cannot filter: it always returns everything, newest first, 3 per page
      const api = await serve(pagedApi({ '/repos/acme/widgets/events': { pageSize: 3, items: () => events } }));
      const closed: number[] = [];
      const manual = variant !== 'row_order desc';
      const repoEvents = resource(
        async function* repo_events(ctx: ResourceContext) {
          let page = 1;
          try {
            for (; ; page++) {
              const items = await getJson<unknown[]>(`${api.url}/repos/acme/widgets/events?per_page=3&page=${page}`);
              if (!items.length) return;
              yield items;
              // stop requesting more pages once an element older than the start value was seen
              if (manual && ctx.incremental!.startOutOfRange) break;
            }
          } finally {
            closed.push(page);
          }
        },
        {
          primaryKey: 'id',
          writeDisposition: 'merge',
          tableName: (i) => i.type,
          incremental: incremental('created_at', { initialValue: EPOCH, lastValueFunc: 'max', ...(manual ? {} : { rowOrder: 'desc' as const }) }),
        },
      );
      const p = testPipeline({ pipelineName: 'github_events' });
      const idsOf = async (t: string) => (await rows(p, t, 'id', 'id')).map((r) => r.id);

      await p.run(repoEvents);
      expect(api.count('/repos/acme/widgets/events')).toBe(4); // 3 + 3 + 2 + the empty page: nothing out of range
      expect((await tablesOf(p)).filter((t) => !t.startsWith('_dlt'))).toEqual(['issues_event', 'push_event', 'watch_event']);
      expect(await idsOf('push_event')).toEqual(['ev003', 'ev006']);
      expect(await idsOf('issues_event')).toEqual(['ev001', 'ev004', 'ev007']);
      expect(await idsOf('watch_event')).toEqual(['ev002', 'ev005', 'ev008']);
      expect(cursorState(p, 'github_events', 'repo_events', 'created_at')).toEqual(expectedCursor(EPOCH, '2024-02-08T12:00:00Z', ['ev008'], EPOCH));

      // run 2: three new events on top (page 1); page 2 starts with the boundary event ev008 (deduplicated,
      // which counts as out of range like in dlt) followed by older ones → closed: no page 3
      events = [...githubEvents(3, 9), ...events];
      api.reset();
      closed.splice(0);
      const i2 = await p.run(repoEvents);
      expect(i2.tables).toEqual({ watch_event: { rows: 1 }, issues_event: { rows: 1 }, push_event: { rows: 1 } });
      expect(api.queries('/repos/acme/widgets/events').map((q) => q.page)).toEqual(['1', '2']);
      expect(closed).toEqual([2]);
      expect(await idsOf('push_event')).toEqual(['ev003', 'ev006', 'ev009']);
      expect(await idsOf('issues_event')).toEqual(['ev001', 'ev004', 'ev007', 'ev010']);
      expect(await idsOf('watch_event')).toEqual(['ev002', 'ev005', 'ev008', 'ev011']);
      expect(cursorState(p, 'github_events', 'repo_events', 'created_at')).toEqual(
        expectedCursor(EPOCH, '2024-02-11T12:00:00Z', ['ev011'], '2024-02-08T12:00:00Z'),
      );

      // run 3: nothing new: one page, nothing loaded
      api.reset();
      const i3 = await p.run(repoEvents);
      expect(i3.loadId).toBeNull();
      expect(api.queries('/repos/acme/widgets/events').map((q) => q.page)).toEqual(['1']);
      expect(cursorState(p, 'github_events', 'repo_events', 'created_at')).toEqual(
        expectedCursor(EPOCH, '2024-02-11T12:00:00Z', ['ev011'], '2024-02-08T12:00:00Z'),
      );
    });
  }
});

/** The seed's `by_event_type`: last value = { [type]: max created_at of that type }. */
function byEventType(event: unknown[]): Record<string, string> {
  let item: Record<string, string>;
  let lastValue: Record<string, string> | null = null;
  if (event.length === 1) [item] = event as [Record<string, string>];
  else [item, lastValue] = event as [Record<string, string>, Record<string, string> | null];
  lastValue = lastValue == null ? {} : { ...lastValue };
  const itemType = item.type;
  const prev = lastValue[itemType] ?? EPOCH;
  lastValue[itemType] = item.created_at > prev ? item.created_at : prev;
  return lastValue;
}

describe('seed: by_event_type custom last_value_func on the whole item ($)', () => {
  it('keeps a max per event type; deleting one type from the stored last value reloads only that type', async () => {
    const file = [
      { id: 'e1', type: 'PushEvent', created_at: '2024-01-06T00:00:00Z' },
      { id: 'e2', type: 'WatchEvent', created_at: '2024-01-05T00:00:00Z' },
      { id: 'e3', type: 'PushEvent', created_at: '2024-01-04T00:00:00Z' },
      { id: 'e4', type: 'IssuesEvent', created_at: '2024-01-03T00:00:00Z' },
      { id: 'e5', type: 'WatchEvent', created_at: '2024-01-02T00:00:00Z' },
      { id: 'e6', type: 'IssuesEvent', created_at: '2024-01-01T00:00:00Z' },
    ];
    let yields = 0;
    const getEvents = resource(
      function* get_events() {
        yields++;
        yield structuredClone(file); // like json.load(f) of the same file on every run
      },
      { primaryKey: 'id', writeDisposition: 'merge', tableName: (i) => i.type, incremental: incremental('$', { lastValueFunc: byEventType }) },
    );
    const p = testPipeline({ pipelineName: 'events_by_type' });
    const all = { PushEvent: '2024-01-06T00:00:00Z', WatchEvent: '2024-01-05T00:00:00Z', IssuesEvent: '2024-01-03T00:00:00Z' };

    const i1 = await p.run(getEvents);
    expect(i1.tables).toEqual({ push_event: { rows: 2 }, watch_event: { rows: 2 }, issues_event: { rows: 2 } });
    // e4 is the last row that moved the last value: the boundary holds its id
    expect(cursorState(p, 'events_by_type', 'get_events', '$')).toEqual(expectedCursor(null, all, ['e4'], null));

    const i2 = await p.run(getEvents);
    expect(i2.loadId).toBeNull();
    expect(cursorState(p, 'events_by_type', 'get_events', '$')).toEqual(expectedCursor(null, all, ['e4'], null));

    // State surgery, the tide way: a one-off run of a resource with the same name (same resource state)
    // that deletes the WatchEvent key from its stored last value and yields nothing. It is committed like
    // any run (`p.state` is a read-only view of the committed state and is not written to).
    const forgetWatch = resource(
      function* get_events(ctx: ResourceContext) {
        const st = (ctx.state.incremental as Record<string, { last_value: Record<string, string> }>)['$'];
        delete st.last_value.WatchEvent;
      },
      { name: 'get_events' },
    );
    const i3 = await p.run(forgetWatch);
    expect(i3.tables).toEqual({});
    const { WatchEvent: _w, ...withoutWatch } = all;
    void _w;
    expect(cursorState(p, 'events_by_type', 'get_events', '$')).toEqual(expectedCursor(null, withoutWatch, ['e4'], null));

    const i4 = await p.run(getEvents);
    expect(i4.tables).toEqual({ watch_event: { rows: 2 } });
    expect(await rows(p, 'watch_event', 'id', 'id')).toEqual([{ id: 'e2' }, { id: 'e5' }]);
    expect(await rows(p, 'push_event', 'id', 'id')).toEqual([{ id: 'e1' }, { id: 'e3' }]);
    expect(await rows(p, 'issues_event', 'id', 'id')).toEqual([{ id: 'e4' }, { id: 'e6' }]);
    expect(cursorState(p, 'events_by_type', 'get_events', '$')).toEqual(expectedCursor(null, all, ['e2'], withoutWatch));
    expect(yields).toBe(3);
  });
});

describe('seed: end_value backfill (july_issues / august_issues)', () => {
  it('stateless ranges [initial, end) chain without overlap and never touch the stored cursor', async () => {
    const issues = [
      { id: 1, created_at: '2022-06-15T00:00:00Z' },
      { id: 2, created_at: '2022-07-01T00:00:00Z' },
      { id: 3, created_at: '2022-07-20T00:00:00Z' },
      { id: 4, created_at: '2022-08-01T00:00:00Z' },
      { id: 5, created_at: '2022-08-15T00:00:00Z' },
      { id: 6, created_at: '2022-09-01T00:00:00Z' },
      { id: 7, created_at: '2022-09-10T00:00:00Z' },
    ];
    // the API honours `since` (inclusive) but ignores `until`: tide must cut at end_value itself
    const api = await serve(
      pagedApi({ '/repos/acme/widgets/issues': { pageSize: 10, items: (q) => issues.filter((i) => i.created_at >= (q.get('since') ?? '')) } }),
    );
    const repoIssues = resource(
      async function* repo_issues(ctx: ResourceContext, repository: string) {
        const inc = ctx.incremental!;
        const q = `since=${encodeURIComponent(String(inc.startValue))}&until=${encodeURIComponent(String(inc.endValue))}`;
        for (let page = 1; ; page++) {
          const items = await getJson<unknown[]>(`${api.url}/repos/${repository}/issues?${q}&page=${page}`);
          if (!items.length) return;
          yield items;
        }
      },
      { primaryKey: 'id', incremental: incremental('created_at', { initialValue: EPOCH, endValue: '2022-07-01T00:00:00Z' }) },
    ).bind('acme/widgets');
    const julyIssues = repoIssues.with({ incremental: incremental({ initialValue: '2022-07-01T00:00:00Z', endValue: '2022-08-01T00:00:00Z' }) });
    const augustIssues = repoIssues.with({ incremental: incremental({ initialValue: '2022-08-01T00:00:00Z', endValue: '2022-09-01T00:00:00Z' }) });
    // the everyday stateful load of the same resource (no end value)
    const live = repoIssues.with({ incremental: null }).with({ incremental: incremental('created_at', { initialValue: '2022-09-01T00:00:00Z' }) });
    expect(julyIssues.incremental?.cursorPath).toBe('created_at');

    const p = testPipeline({ pipelineName: 'issues_backfill' });
    await p.run(live);
    const liveState = expectedCursor('2022-09-01T00:00:00Z', '2022-09-10T00:00:00Z', [7], '2022-09-01T00:00:00Z');
    expect(cursorState(p, 'issues_backfill', 'repo_issues', 'created_at')).toEqual(liveState);
    const version = p.state._state_version;
    expect(await rows(p, 'repo_issues', 'id', 'id')).toEqual([{ id: 6 }, { id: 7 }]);

    const ids = async () => (await rows(p, 'repo_issues', 'id', 'id')).map((r) => r.id);
    api.reset();
    expect((await p.run(repoIssues)).tables).toEqual({ repo_issues: { rows: 1 } });
    expect((await p.run(julyIssues)).tables).toEqual({ repo_issues: { rows: 2 } });
    expect((await p.run(augustIssues)).tables).toEqual({ repo_issues: { rows: 2 } });
    expect(await ids()).toEqual([1, 2, 3, 4, 5, 6, 7]); // every issue exactly once
    // each run: page 1, then the empty page 2
    expect(api.queries('/repos/acme/widgets/issues').map((q) => [q.since, q.until, q.page])).toEqual([
      [EPOCH, '2022-07-01T00:00:00Z', '1'],
      [EPOCH, '2022-07-01T00:00:00Z', '2'],
      ['2022-07-01T00:00:00Z', '2022-08-01T00:00:00Z', '1'],
      ['2022-07-01T00:00:00Z', '2022-08-01T00:00:00Z', '2'],
      ['2022-08-01T00:00:00Z', '2022-09-01T00:00:00Z', '1'],
      ['2022-08-01T00:00:00Z', '2022-09-01T00:00:00Z', '2'],
    ]);
    // state untouched by the backfills
    expect(cursorState(p, 'issues_backfill', 'repo_issues', 'created_at')).toEqual(liveState);
    expect(p.state._state_version).toBe(version);

    // backfills are stateless: running july again loads july again (append)
    expect((await p.run(julyIssues)).tables).toEqual({ repo_issues: { rows: 2 } });
    expect(await ids()).toEqual([1, 2, 2, 3, 3, 4, 5, 6, 7]);
    // and the live load continues from its own state
    issues.push({ id: 8, created_at: '2022-09-11T00:00:00Z' });
    expect((await p.run(live)).tables).toEqual({ repo_issues: { rows: 1 } });
    expect(cursorState(p, 'issues_backfill', 'repo_issues', 'created_at')).toEqual(
      expectedCursor('2022-09-01T00:00:00Z', '2022-09-11T00:00:00Z', [8], '2022-09-10T00:00:00Z'),
    );
  });
});

function zendeskTickets(): Record<string, unknown>[] {
  return [
    { id: 1, subject: 'a', updated_at: '2022-12-20T00:00:00Z' },
    { id: 2, subject: 'b', updated_at: '2023-01-05T00:00:00Z' },
    { id: 3, subject: 'c', updated_at: '2023-01-10T00:00:00Z' },
    { id: 4, subject: 'd', updated_at: '2023-01-20T00:00:00Z' },
    { id: 5, subject: 'e', updated_at: '2023-02-01T00:00:00Z' },
    { id: 6, subject: 'f', updated_at: '2023-02-10T00:00:00Z' },
    { id: 7, subject: 'g', updated_at: '2023-03-01T00:00:00Z' },
    { id: 8, subject: 'h', updated_at: '2023-03-02T00:00:00Z' },
  ];
}

/** Zendesk incremental tickets: `start_time` filter only, ascending, 2 per page. */
async function zendeskApi() {
  const tickets = zendeskTickets();
  return serve(
    pagedApi({
      '/api/v2/incremental/tickets': { pageSize: 2, items: (q) => tickets.filter((t) => (t.updated_at as string) >= (q.get('start_time') ?? '')) },
    }),
  );
}

describe('seed: Zendesk tickets backfill, stop at end_value', () => {
  for (const variant of ['row_order asc', 'manual end_out_of_range return'] as const) {
    it(`${variant}: the generator is closed after the first page beyond end_value`, async () => {
      const api = await zendeskApi();
      const manual = variant !== 'row_order asc';
      const tickets = resource(
        async function* tickets(ctx: ResourceContext, client: { url: string }) {
          const updatedAt = ctx.incremental!;
          for (let page = 1; ; page++) {
            const items = await getJson<unknown[]>(`${client.url}/api/v2/incremental/tickets?start_time=${encodeURIComponent(String(updatedAt.startValue))}&page=${page}`);
            if (!items.length) return;
            yield items;
            // Optimization: stop loading when we reach the end value
            if (manual && updatedAt.endOutOfRange) return;
          }
        },
        {
          primaryKey: 'id',
          incremental: incremental('updated_at', {
            initialValue: '2023-01-01T00:00:00Z',
            endValue: '2023-02-01T00:00:00Z',
            ...(manual ? {} : { rowOrder: 'asc' as const }),
          }),
        },
      ).bind({ url: api.url });
      const p = testPipeline({ pipelineName: 'zendesk_support_backfill' });
      for (let run = 1; run <= 2; run++) {
        api.reset();
        const info = await p.run(tickets);
        expect(info.tables).toEqual({ tickets: { rows: 3 } });
        // pages: [2, 3], [4, 5] — ticket 5 is at end_value → no third request
        expect(api.queries('/api/v2/incremental/tickets').map((q) => [q.start_time, q.page])).toEqual([
          ['2023-01-01T00:00:00Z', '1'],
          ['2023-01-01T00:00:00Z', '2'],
        ]);
        // stateless (end_value): run 2 loads the same range again
        expect((await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((r) => r.id)).toEqual(run === 1 ? [2, 3, 4] : [2, 2, 3, 3, 4, 4]);
        expect(resourceStateOf(p, 'zendesk_support_backfill', 'tickets')).toBeUndefined();
      }
    });
  }

  for (const check of [true, false]) {
    it(`transformer: ${check ? 'canClose() ends the loop' : 'without canClose() the transformer is not closed for it'}`, async () => {
      const api = await zendeskApi();
      const clients = resource(function* zendesk_client() {
        yield { url: api.url };
      });
      const tickets = transformer(
        async function* tickets(ctx: ResourceContext, client: { url: string }) {
          const updatedAt = ctx.incremental!;
          for (let page = 1; ; page++) {
            const items = await getJson<unknown[]>(`${client.url}/api/v2/incremental/tickets?start_time=${encodeURIComponent(String(updatedAt.startValue))}&page=${page}`);
            if (!items.length) return;
            yield items;
            if (check && updatedAt.canClose()) return;
          }
        },
        {
          dataFrom: clients,
          primaryKey: 'id',
          incremental: incremental('updated_at', { initialValue: '2023-01-01T00:00:00Z', endValue: '2023-02-01T00:00:00Z', rowOrder: 'asc' }),
        },
      );
      const p = testPipeline({ pipelineName: 'zendesk_transformer' });
      for (let run = 1; run <= 2; run++) {
        api.reset();
        const info = await p.run(tickets); // the parent runs only to feed the transformer
        expect(info.tables).toEqual({ tickets: { rows: 3 } });
        expect(api.count('/api/v2/incremental/tickets')).toBe(check ? 2 : 5); // 4 pages + the empty one
        expect((await rows(p, 'tickets', 'id, _dlt_load_id', 'id')).map((r) => r.id)).toEqual(run === 1 ? [2, 3, 4] : [2, 2, 3, 3, 4, 4]);
      }
    });
  }
});

describe('seed: resources created dynamically from one generator function (Stripe endpoints)', () => {
  it('each endpoint keeps its own cursor state', async () => {
    const data: Record<string, { id: string; created: number }[]> = {
      customers: [
        { id: 'cus_1', created: 100 },
        { id: 'cus_2', created: 200 },
      ],
      invoices: [{ id: 'in_1', created: 150 }],
      charges: [
        { id: 'ch_1', created: 50 },
        { id: 'ch_2', created: 60 },
        { id: 'ch_3', created: 60 },
      ],
    };
    const seen: Record<string, unknown[]> = {};
    // declare a generator function
    function* getResource(ctx: ResourceContext, endpoint: string) {
      (seen[endpoint] ??= []).push(ctx.incremental!.startValue);
      yield data[endpoint].filter((x) => ctx.incremental!.startValue == null || x.created >= (ctx.incremental!.startValue as number));
    }
    const stripe = () =>
      source(
        'stripe',
        Object.keys(data).map((endpoint) =>
          // create resources for several endpoints on a single function
          resource(getResource, { name: endpoint, writeDisposition: 'merge', primaryKey: 'id', incremental: incremental('created') }).bind(endpoint),
        ),
      );
    const p = testPipeline({ pipelineName: 'stripe_analytics' });
    const inc = (r: string) => cursorState(p, 'stripe', r, 'created');

    const i1 = await p.run(stripe());
    expect(i1.tables).toEqual({ customers: { rows: 2 }, invoices: { rows: 1 }, charges: { rows: 3 } });
    expect(inc('customers')).toEqual(expectedCursor(null, 200, ['cus_2'], null));
    expect(inc('invoices')).toEqual(expectedCursor(null, 150, ['in_1'], null));
    expect(inc('charges')).toEqual(expectedCursor(null, 60, ['ch_2', 'ch_3'], null));

    data.invoices.push({ id: 'in_2', created: 300 });
    data.charges.push({ id: 'ch_4', created: 60 });
    const i2 = await p.run(stripe());
    expect(i2.tables).toEqual({ invoices: { rows: 1 }, charges: { rows: 1 } });
    expect(seen).toEqual({ customers: [null, 200], invoices: [null, 150], charges: [null, 60] });
    expect(inc('customers')).toEqual(expectedCursor(null, 200, ['cus_2'], null));
    expect(inc('invoices')).toEqual(expectedCursor(null, 300, ['in_2'], 150));
    expect(inc('charges')).toEqual(expectedCursor(null, 60, ['ch_2', 'ch_3', 'ch_4'], 60));
    expect(await rows(p, 'charges', 'id', 'id, created')).toEqual([
      { id: 'ch_1', created: 50 },
      { id: 'ch_2', created: 60 },
      { id: 'ch_3', created: 60 },
      { id: 'ch_4', created: 60 },
    ]);
    expect(await rows(p, 'invoices', 'id', 'id')).toEqual([{ id: 'in_1' }, { id: 'in_2' }]);
  });

  it('the typical mistake — a started generator instead of the function — is rejected', () => {
    function* getResource(_ctx: ResourceContext, endpoint: string) {
      yield { endpoint };
    }
    expect(() => resource(getResource(undefined as unknown as ResourceContext, 'customers') as unknown as Iterable<unknown>, { name: 'customers' })).toThrow(
      expect.objectContaining({ name: 'IncrementalUnboundError' }),
    );
  });
});

describe('seed: primary_key=() disables deduplication (nested item.ts cursor)', () => {
  it('rows on the boundary are loaded again; with the resource key they are not', async () => {
    const ts = 1_700_000_000.5; // pendulum.now().timestamp(), frozen
    const make = (pk: boolean) =>
      resource(
        function* some_data() {
          for (let i = -10; i < 10; i++) yield { delta: i, item: { ts } };
        },
        // disable the unique value check by passing [] as primary key to incremental
        { primaryKey: 'delta', incremental: incremental('item.ts', pk ? {} : { primaryKey: [] }) },
      );
    const p = testPipeline({ pipelineName: 'nodedup' });
    expect((await p.run(make(false))).tables).toEqual({ some_data: { rows: 20 } });
    expect(cursorState(p, 'nodedup', 'some_data', 'item.ts')).toEqual(expectedCursor(null, ts, [], null));
    expect((await p.run(make(false))).tables).toEqual({ some_data: { rows: 20 } });
    expect(cursorState(p, 'nodedup', 'some_data', 'item.ts')).toEqual(expectedCursor(null, ts, [], ts));
    const r = await rows(p, 'some_data', 'delta, _dlt_load_id', 'delta, item__ts');
    expect(r).toHaveLength(40);
    expect(r.slice(0, 2)).toEqual([
      { delta: -10, item__ts: ts },
      { delta: -10, item__ts: ts },
    ]);

    // the same resource deduplicating by its primary key `delta`
    const q = testPipeline({ pipelineName: 'withdedup' });
    expect((await q.run(make(true))).tables).toEqual({ some_data: { rows: 20 } });
    const deltas = Array.from({ length: 20 }, (_, i) => i - 10);
    expect(cursorState(q, 'withdedup', 'some_data', 'item.ts')).toEqual(expectedCursor(null, ts, deltas, null));
    expect((await q.run(make(true))).loadId).toBeNull();
    expect(cursorState(q, 'withdedup', 'some_data', 'item.ts')).toEqual(expectedCursor(null, ts, deltas, null));
    // vectors of dlt 1.31 and 1.26: the helper is dlt's hash
    expect(dltHash(3)).toBe('Cn/dwi436vBb');
    expect(dltHash(3, 'long')).toBe('Cn/dwi436vBbdERZ9hKf');
  });
});
