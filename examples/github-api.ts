/**
 * A small GitHub-like REST API for the examples and tests: deterministic issues with `updated_at`,
 * `since` / `until` filters, `page` / `per_page` pagination with a `Link` header, and a rate limit
 * (every `rateLimitEvery`-th request answers 429 with `retry-after`).
 *
 * Issues exist from 2026-01-01 on; the API only shows what is "already updated" at its clock, so a
 * daily run sees new and changed issues, like the real thing.
 */
import { createServer, type Server } from 'node:http';

export interface ApiIssue {
  id: number;
  number: number;
  title: string;
  state: 'open' | 'closed';
  user: { login: string; id: number };
  labels: { name: string; color: string }[];
  comments: number;
  created_at: string;
  updated_at: string;
}

export interface GithubApiOptions {
  /** Issues per day of 2026 (default 6). */
  issuesPerDay?: number;
  /** The API's clock (default: the real clock). */
  now?: () => Date;
  /** Every n-th request is rate limited (default 25; 0 disables). */
  rateLimitEvery?: number;
}

const BASE = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const LABELS = [
  { name: 'bug', color: 'd73a4a' },
  { name: 'enhancement', color: 'a2eeef' },
  { name: 'docs', color: '0075ca' },
  { name: 'question', color: 'd876e3' },
];
const USERS = ['octocat', 'hubot', 'monalisa', 'defunkt', 'mojombo'];

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every issue of the year, sorted by updated_at (the API filters by its clock). */
export function allIssues(issuesPerDay = 6): ApiIssue[] {
  const r = rng(42);
  const out: ApiIssue[] = [];
  let id = 1;
  for (let day = 0; day < 365; day++) {
    for (let k = 0; k < issuesPerDay; k++) {
      const created = BASE + day * DAY + Math.floor(r() * DAY);
      const updated = created + Math.floor(r() * r() * 20 * DAY);
      const nLabels = Math.floor(r() * 3);
      const login = USERS[Math.floor(r() * USERS.length)];
      out.push({
        id: 1_000_000 + id,
        number: id,
        title: `Issue ${id}: ${['crash on start', 'add a flag', 'typo in docs', 'slow query', 'how to configure'][id % 5]}`,
        state: r() < 0.6 ? 'open' : 'closed',
        user: { login, id: USERS.indexOf(login) + 1 },
        labels: LABELS.slice(0, nLabels),
        comments: Math.floor(r() * 10),
        created_at: new Date(created).toISOString().replace('.000Z', 'Z'),
        updated_at: new Date(updated).toISOString().replace('.000Z', 'Z'),
      });
      id++;
    }
  }
  return out.sort((a, b) => (a.updated_at < b.updated_at ? -1 : a.updated_at > b.updated_at ? 1 : a.id - b.id));
}

export interface RunningApi {
  url: string;
  /** Requests served so far (429s included). */
  requests: () => number;
  close(): Promise<void>;
}

/** Starts the API on 127.0.0.1 (a free port unless given). */
export async function startGithubApi(opts: GithubApiOptions & { port?: number } = {}): Promise<RunningApi> {
  const issues = allIssues(opts.issuesPerDay ?? 6);
  const now = opts.now ?? (() => new Date());
  const every = opts.rateLimitEvery ?? 25;
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (every > 0 && count % every === 0) {
      res.writeHead(429, { 'retry-after': '0.05', 'x-ratelimit-remaining': '0', 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'API rate limit exceeded' }));
      return;
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)\/issues$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    const since = url.searchParams.get('since');
    const until = url.searchParams.get('until');
    const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const clock = now().toISOString();
    const visible = issues.filter(
      (i) => i.updated_at <= clock && (!since || i.updated_at >= since) && (!until || i.updated_at < until),
    );
    const slice = visible.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-ratelimit-remaining': String(every ? every - (count % every) : 5000) };
    if (page * perPage < visible.length) {
      const next = new URL(url.toString());
      next.searchParams.set('page', String(page + 1));
      headers.link = `<http://${req.headers.host}${next.pathname}${next.search}>; rel="next"`;
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify(slice));
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  server.unref();
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
