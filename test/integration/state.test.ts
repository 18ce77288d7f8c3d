/**
 * Pipeline state, end to end on Postgres: the seed examples of "advanced state management" ported
 * to TypeScript (tweets / days_loaded / chess archives / search_tweets), resource vs source state,
 * and the state layout. Every test runs the pipeline at least twice and asserts rows and state.
 */
import { describe, expect, it } from 'vitest';
import { current, resource, source, transformer } from 'tide';
import type { Pipeline } from 'tide';
import { cleanup, rows, testPipeline } from '../helpers/pipelines.ts';
import { expectCommittedState, getJson, jsonServer, loadIds, storedStates, type TestServer } from '../helpers/state-db.ts';


describe('seed: preserving the last value in resource state (tweets)', () => {
  it('setdefault(last_updated, None), then sets it after the yield; run 3 with nothing new loads nothing', async () => {
    const feed = [
      { id: 1, text: 'first', ts: '2024-01-01T00:00:00Z' },
      { id: 2, text: 'second', ts: '2024-01-02T00:00:00Z' },
    ];
    const startsSeen: (string | null)[] = [];
    // what `_get_data(start_from=last_val)` returns: the newer tweets and the newest timestamp
    const getData = (startFrom: string | null) => {
      const t = feed.filter((x) => startFrom === null || x.ts > startFrom);
      return { tweets: t, last_timestamp: t.length ? t[t.length - 1].ts : startFrom };
    };
    const tweets = resource(function* tweets() {
      const state = current.resourceState();
      state.last_updated ??= null; // setdefault("last_updated", None)
      const lastVal = state.last_updated as string | null;
      startsSeen.push(lastVal);
      const data = getData(lastVal);
      yield data.tweets;
      current.resourceState().last_updated = data.last_timestamp;
    });
    const p = testPipeline({ pipelineName: 'tweets_pipeline' });

    const i1 = await p.run(tweets);
    expect(i1.tables).toEqual({ tweets: { rows: 2 } });
    expect(await rows(p, 'tweets', 'id', 'id, text')).toEqual([
      { id: 1, text: 'first' },
      { id: 2, text: 'second' },
    ]);
    // standalone resource: state under the default schema name (`tweets_pipeline` → `tweets`)
    await expectCommittedState(p, { tweets: { resources: { tweets: { last_updated: '2024-01-02T00:00:00Z' } } } }, 1);
    expect(p.state.default_schema_name).toBe('tweets');

    feed.push({ id: 3, text: 'third', ts: '2024-01-03T00:00:00Z' });
    const i2 = await p.run(tweets);
    expect(i2.tables).toEqual({ tweets: { rows: 1 } });
    expect(await rows(p, 'tweets', 'id', 'id, text')).toEqual([
      { id: 1, text: 'first' },
      { id: 2, text: 'second' },
      { id: 3, text: 'third' },
    ]);
    await expectCommittedState(p, { tweets: { resources: { tweets: { last_updated: '2024-01-03T00:00:00Z' } } } }, 2);

    const i3 = await p.run(tweets);
    expect(i3.loadId).toBeNull();
    expect(i3.tables).toEqual({});
    expect(startsSeen).toEqual([null, '2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z']);
    expect(await rows(p, 'tweets', 'id', 'id')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    await expectCommittedState(p, { tweets: { resources: { tweets: { last_updated: '2024-01-03T00:00:00Z' } } } }, 2);
    expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
    const stored = await storedStates(p);
    expect(stored.map((s) => [s.version, s._dlt_load_id, s.completed])).toEqual([
      [1, i1.loadId, true],
      [2, i2.loadId, true],
    ]);
  });
});

describe('seed: a list kept in state and mutated in place (days_loaded)', () => {
  it('appending to the list after the yield is committed without setting it back', async () => {
    const dayOf = (n: number) => `2023-01-${String(n).padStart(2, '0')}`;
    const daily = resource(
      function* (ctx) {
        const loaded = (current.resourceState().days_loaded ??= []) as string[];
        expect(ctx.state.days_loaded).toBe(loaded); // ctx.state and current.resourceState() are one object
        const day = dayOf(loaded.length + 1);
        yield [{ day_no: loaded.length + 1, label: `day ${day}` }];
        loaded.push(day); // after the yield, never written back explicitly
      },
      { name: 'days' },
    );
    const p = testPipeline({ pipelineName: 'days_pipeline' });
    await p.run(daily);
    expect(await rows(p, 'days', 'day_no', 'day_no, label')).toEqual([{ day_no: 1, label: 'day 2023-01-01' }]);
    await expectCommittedState(p, { days: { resources: { days: { days_loaded: ['2023-01-01'] } } } }, 1);

    await p.run(daily);
    expect(await rows(p, 'days', 'day_no', 'day_no, label')).toEqual([
      { day_no: 1, label: 'day 2023-01-01' },
      { day_no: 2, label: 'day 2023-01-02' },
    ]);
    await expectCommittedState(p, { days: { resources: { days: { days_loaded: ['2023-01-01', '2023-01-02'] } } } }, 2);
  });
});

describe('seed: chess players_games archive cache (local HTTP server)', () => {
  it('the second run requests no archive already loaded', async () => {
    const archives: Record<string, string[]> = { magnus: ['2023/01', '2023/02'], hikaru: ['2023/02'] };
    const server = await jsonServer((url) => {
      let m = /^\/pub\/player\/(\w+)\/games\/archives$/.exec(url.pathname);
      if (m) return { archives: (archives[m[1]] ?? []).map((a) => `${server.url}/pub/player/${m![1]}/games/${a}`) };
      m = /^\/pub\/player\/(\w+)\/games\/(\d{4})\/(\d{2})$/.exec(url.pathname);
      if (m && archives[m[1]]?.includes(`${m[2]}/${m[3]}`)) {
        return {
          games: [1, 2].map((g) => ({
            url: `https://chess.example/game/${m![1]}-${m![2]}-${m![3]}-${g}`,
            white: { username: m![1], rating: 2800 + g },
            end_time: Number(`${m![2]}${m![3]}${g}`),
          })),
        };
      }
      return undefined;
    });
    cleanup(server);

    const playersGames = resource(
      async function* players_games(_ctx, chessUrl: string, players: string[]) {
        const loadedArchivesCache = (current.resourceState().archives ??= []) as string[];
        const all: string[] = [];
        for (const player of players) all.push(...(await getJson<{ archives: string[] }>(`${chessUrl}/pub/player/${player}/games/archives`)).archives);
        for (const url of all) {
          if (!loadedArchivesCache.includes(url)) {
            loadedArchivesCache.push(url);
            const r = await getJson<{ games?: unknown[] }>(url);
            yield r.games ?? [];
          }
        }
      },
      { writeDisposition: 'append' },
    );
    const chess = source('chess', [playersGames.bind(server.url, ['magnus', 'hikaru'])]);
    const p = testPipeline({ pipelineName: 'chess_pipeline' });
    const archiveUrl = (player: string, a: string) => `${server.url}/pub/player/${player}/games/${a}`;

    const i1 = await p.run(chess);
    expect(i1.tables).toEqual({ players_games: { rows: 6 } });
    expect(await rows(p, 'players_games', 'url', 'url, white__username, white__rating')).toEqual([
      { url: 'https://chess.example/game/hikaru-2023-02-1', white__username: 'hikaru', white__rating: 2801 },
      { url: 'https://chess.example/game/hikaru-2023-02-2', white__username: 'hikaru', white__rating: 2802 },
      { url: 'https://chess.example/game/magnus-2023-01-1', white__username: 'magnus', white__rating: 2801 },
      { url: 'https://chess.example/game/magnus-2023-01-2', white__username: 'magnus', white__rating: 2802 },
      { url: 'https://chess.example/game/magnus-2023-02-1', white__username: 'magnus', white__rating: 2801 },
      { url: 'https://chess.example/game/magnus-2023-02-2', white__username: 'magnus', white__rating: 2802 },
    ]);
    const run1Archives = [archiveUrl('magnus', '2023/01'), archiveUrl('magnus', '2023/02'), archiveUrl('hikaru', '2023/02')];
    await expectCommittedState(p, { chess: { resources: { players_games: { archives: run1Archives } } } }, 1);
    expect(server.count('/pub/player/magnus/games/2023/01')).toBe(1);

    archives.magnus.push('2023/03');
    server.reset();
    const i2 = await p.run(chess);
    expect(i2.tables).toEqual({ players_games: { rows: 2 } });
    // only the archive lists and the one new archive were requested
    expect([...server.requests].sort()).toEqual(
      ['/pub/player/hikaru/games/archives', '/pub/player/magnus/games/2023/03', '/pub/player/magnus/games/archives'].sort(),
    );
    expect((await rows(p, 'players_games', 'url', 'url')).map((r) => r.url)).toEqual([
      'https://chess.example/game/hikaru-2023-02-1',
      'https://chess.example/game/hikaru-2023-02-2',
      'https://chess.example/game/magnus-2023-01-1',
      'https://chess.example/game/magnus-2023-01-2',
      'https://chess.example/game/magnus-2023-02-1',
      'https://chess.example/game/magnus-2023-02-2',
      'https://chess.example/game/magnus-2023-03-1',
      'https://chess.example/game/magnus-2023-03-2',
    ]);
    await expectCommittedState(p, { chess: { resources: { players_games: { archives: [...run1Archives, archiveUrl('magnus', '2023/03')] } } } }, 2);

    server.reset();
    const i3 = await p.run(chess);
    expect(i3.loadId).toBeNull();
    expect([...server.requests].sort()).toEqual(['/pub/player/hikaru/games/archives', '/pub/player/magnus/games/archives']);
    expect(await loadIds(p)).toEqual([i1.loadId, i2.loadId]);
    await expectCommittedState(p, { chess: { resources: { players_games: { archives: [...run1Archives, archiveUrl('magnus', '2023/03')] } } } }, 2);
  });
});

describe('seed: search_tweets with a last value per search term (local HTTP server)', () => {
  it('keeps last_value_<term> per term and asks the API only for newer tweets', async () => {
    const corpus: Record<string, number[]> = { python: [101, 102, 103, 104, 105], typescript: [201, 202, 203] };
    const PAGE = 2;
    const server = await jsonServer((url) => {
      if (url.pathname !== '/2/tweets/search/recent') return undefined;
      const term = url.searchParams.get('query')!;
      const since = Number(url.searchParams.get('since_id') ?? 0);
      const offset = Number(url.searchParams.get('pagination_token') ?? 0);
      const ids = (corpus[term] ?? []).filter((id) => id > since).sort((a, b) => b - a); // newest first, like Twitter
      const page = ids.slice(offset, offset + PAGE);
      if (!page.length) return { meta: { result_count: 0 } };
      return {
        data: page.map((id) => ({ id: String(id), text: `${term} tweet ${id}` })),
        meta: {
          newest_id: String(page[0]),
          oldest_id: String(page[page.length - 1]),
          result_count: page.length,
          ...(offset + PAGE < ids.length ? { next_token: String(offset + PAGE) } : {}),
        },
      };
    });
    cleanup(server);

    const searchTweets = resource(
      async function* search_tweets(_ctx, baseUrl: string, searchTerms: string[]) {
        for (const searchTerm of searchTerms) {
          const key = `last_value_${searchTerm}`;
          const lastValueCache = (current.resourceState()[key] ??= null) as number | null;
          let token: string | undefined;
          do {
            const q = new URLSearchParams({ query: searchTerm });
            if (lastValueCache) q.set('since_id', String(lastValueCache));
            if (token) q.set('pagination_token', token);
            const page = await getJson(`${baseUrl}/2/tweets/search/recent?${q}`);
            token = page.meta?.next_token;
            if (!page.meta?.result_count) break;
            page.search_term = searchTerm;
            const lastId = Number(page.meta?.newest_id ?? 0);
            // pages come newest first: keep the running maximum (the seed's `max(cache, last_id)`)
            const state = current.resourceState();
            state[key] = Math.max((state[key] as number | null) ?? 0, lastId);
            yield page;
          } while (token);
        }
      },
      { writeDisposition: 'append' },
    );
    const twitter = source('twitter', [searchTweets.bind(server.url, ['python', 'typescript'])]);
    const p = testPipeline({ pipelineName: 'twitter_pipeline' });
    const loaded = () =>
      p.query(
        `SELECT d.id, d.text, s.search_term, d._dlt_list_idx AS idx FROM "${p.datasetName}".search_tweets__data d
           JOIN "${p.datasetName}".search_tweets s ON s._dlt_id = d._dlt_parent_id ORDER BY d.id`,
      );

    const i1 = await p.run(twitter);
    expect(i1.tables).toEqual({ search_tweets: { rows: 5 }, search_tweets__data: { rows: 8 } });
    expect((await loaded()).map((r) => [r.id, r.search_term])).toEqual([
      ['101', 'python'],
      ['102', 'python'],
      ['103', 'python'],
      ['104', 'python'],
      ['105', 'python'],
      ['201', 'typescript'],
      ['202', 'typescript'],
      ['203', 'typescript'],
    ]);
    expect(await rows(p, 'search_tweets', 'search_term, meta__newest_id', 'search_term, meta__newest_id, meta__result_count, meta__next_token')).toEqual([
      { search_term: 'python', meta__newest_id: '101', meta__result_count: 1, meta__next_token: null },
      { search_term: 'python', meta__newest_id: '103', meta__result_count: 2, meta__next_token: '4' },
      { search_term: 'python', meta__newest_id: '105', meta__result_count: 2, meta__next_token: '2' },
      { search_term: 'typescript', meta__newest_id: '201', meta__result_count: 1, meta__next_token: null },
      { search_term: 'typescript', meta__newest_id: '203', meta__result_count: 2, meta__next_token: '2' },
    ]);
    await expectCommittedState(p, { twitter: { resources: { search_tweets: { last_value_python: 105, last_value_typescript: 203 } } } }, 1);

    corpus.python.push(106, 107);
    server.reset();
    const i2 = await p.run(twitter);
    expect(i2.tables).toEqual({ search_tweets: { rows: 1 }, search_tweets__data: { rows: 2 } });
    expect(server.requests).toEqual([
      '/2/tweets/search/recent?query=python&since_id=105',
      '/2/tweets/search/recent?query=typescript&since_id=203',
    ]);
    expect((await loaded()).map((r) => r.id)).toEqual(['101', '102', '103', '104', '105', '106', '107', '201', '202', '203']);
    await expectCommittedState(p, { twitter: { resources: { search_tweets: { last_value_python: 107, last_value_typescript: 203 } } } }, 2);
  });
});

describe('resource state is private, source state is shared', () => {
  it('a resource and its transformer share ctx.sourceState / current.sourceState(), each keeps its own resource state', async () => {
    const seenByTransformer: unknown[] = [];
    const orders = resource(
      function* (ctx) {
        const runs = ((ctx.state.runs as number) ?? 0) + 1;
        ctx.state.runs = runs;
        ctx.sourceState.mark = ((ctx.sourceState.mark as number) ?? 1) * 2; // 1 → 2 → 4 (dlt's test_source_state_iterator)
        yield [{ id: runs * 10 + 1 }, { id: runs * 10 + 2 }];
      },
      { name: 'orders' },
    );
    const orderItems = transformer(
      function* (ctx, order: { id: number }) {
        const ss = current.sourceState();
        expect(ss).toBe(ctx.sourceState);
        seenByTransformer.push({ ownKeys: Object.keys(ctx.state).sort(), mark: ss.mark });
        ctx.state.count = ((ctx.state.count as number) ?? 0) + 1;
        yield { order_id: order.id, mark: ss.mark };
      },
      { name: 'order_items', dataFrom: orders },
    );
    const shop = source('shop', [orders, orderItems]);
    const p = testPipeline({ pipelineName: 'shop_pipeline' });

    await p.run(shop);
    expect(await rows(p, 'orders', 'id', 'id')).toEqual([{ id: 11 }, { id: 12 }]);
    expect(await rows(p, 'order_items', 'order_id', 'order_id, mark')).toEqual([
      { order_id: 11, mark: 2 },
      { order_id: 12, mark: 2 },
    ]);
    await expectCommittedState(p, { shop: { mark: 2, resources: { orders: { runs: 1 }, order_items: { count: 2 } } } }, 1);

    await p.run(shop);
    expect(await rows(p, 'order_items', 'order_id', 'order_id, mark')).toEqual([
      { order_id: 11, mark: 2 },
      { order_id: 12, mark: 2 },
      { order_id: 21, mark: 4 },
      { order_id: 22, mark: 4 },
    ]);
    await expectCommittedState(p, { shop: { mark: 4, resources: { orders: { runs: 2 }, order_items: { count: 4 } } } }, 2);
    // the transformer never saw the parent's private keys
    expect(seenByTransformer).toEqual([
      { ownKeys: [], mark: 2 },
      { ownKeys: ['count'], mark: 2 },
      { ownKeys: ['count'], mark: 4 },
      { ownKeys: ['count'], mark: 4 },
    ]);
  });

  it('two sources with a resource of the same name keep separate state; running one keeps the other', async () => {
    const mk = (tag: string) =>
      resource(
        function* (ctx) {
          ctx.state.n = ((ctx.state.n as number) ?? 0) + 1;
          yield { tag, n: ctx.state.n };
        },
        { name: 'items', tableName: `items_${tag}` },
      );
    const a = source('src_a', [mk('a')]);
    const b = source('src_b', [mk('b')]);
    const p = testPipeline({ pipelineName: 'two_sources' });
    await p.run(a);
    await p.run(b);
    await p.run(a);
    expect(await rows(p, 'items_a', 'n', 'tag, n')).toEqual([
      { tag: 'a', n: 1 },
      { tag: 'a', n: 2 },
    ]);
    expect(await rows(p, 'items_b', 'n', 'tag, n')).toEqual([{ tag: 'b', n: 1 }]);
    await expectCommittedState(p, { src_a: { resources: { items: { n: 2 } } }, src_b: { resources: { items: { n: 1 } } } }, 3);
    expect(p.state.schema_names).toEqual(['src_a', 'src_b']);
  });

  it('a standalone resource lives under the normalized pipeline name without `_pipeline`', async () => {
    const r = resource(
      function* (ctx) {
        ctx.state.calls = ((ctx.state.calls as number) ?? 0) + 1;
        yield { call: ctx.state.calls };
      },
      { name: 'Game Results' },
    );
    const p = testPipeline({ pipelineName: 'ChessGames_pipeline' });
    const i1 = await p.run(r);
    expect(i1.tables).toEqual({ game_results: { rows: 1 } });
    await expectCommittedState(p, { chess_games: { resources: { 'Game Results': { calls: 1 } } } }, 1);
    expect(p.state.default_schema_name).toBe('chess_games');
    await p.run(r);
    expect(await rows(p, 'game_results', 'call', 'call')).toEqual([{ call: 1 }, { call: 2 }]);
    await expectCommittedState(p, { chess_games: { resources: { 'Game Results': { calls: 2 } } } }, 2);
    const stored = await storedStates(p);
    expect(stored.map((s) => [s.version, s.engine_version, s.pipeline_name])).toEqual([
      [1, 4, 'ChessGames_pipeline'],
      [2, 4, 'ChessGames_pipeline'],
    ]);
  });
});
