/**
 * Helpers for the incremental integration tests: dlt's dedup hash computed independently of the engine
 * (INC-26: base64(shake_128(compact sorted-key JSON, 15 bytes)) without `=`), readers for the cursor state
 * of a resource, and a paginated JSON API on the local test server that records the query it received.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pipeline } from 'tide';
import { jsonServer, type TestServer } from './state-db.ts';
import { tempDir } from './pipelines.ts';

/** Compact JSON with sorted object keys and non-ASCII left as is (Python `json.dumps(..., sort_keys=True, separators=(',', ':'), ensure_ascii=False)`). */
export function sortedJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
    .join(',')}}`;
}

/** The entries of `unique_hashes` as dlt writes them: 9 bytes since dlt 1.29 (`short`), 15 before (`long`). */
export function dltHash(v: unknown, form: 'short' | 'long' = 'short'): string {
  return createHash('shake128', { outputLength: form === 'short' ? 9 : 15 }).update(sortedJson(v), 'utf8').digest('base64').replace(/=+$/, '');
}

export interface CursorState {
  initial_value: unknown;
  last_value: unknown;
  unique_hashes: string[];
  start_value: unknown;
  [k: string]: unknown;
}

/** `p.state.sources[source].resources[resource].incremental[path]` with `unique_hashes` sorted (dlt stores a set). */
export function cursorState(p: Pipeline, source: string, res: string, path: string): CursorState | undefined {
  const s = (p.state.sources as Record<string, any> | undefined)?.[source]?.resources?.[res]?.incremental?.[path] as CursorState | undefined;
  if (!s) return s;
  const c = JSON.parse(JSON.stringify(s)) as CursorState;
  if (Array.isArray(c.unique_hashes)) c.unique_hashes = [...c.unique_hashes].sort();
  return c;
}

/** The expected cursor state, `unique_hashes` given as dedup-key values (hashed and sorted here). */
export function expectedCursor(initial: unknown, last: unknown, keys: unknown[], start: unknown): CursorState {
  return { initial_value: initial, last_value: last, unique_hashes: keys.map((k) => dltHash(k)).sort(), start_value: start };
}

/** The whole resource state (or undefined). */
export function resourceStateOf(p: Pipeline, source: string, res: string): Record<string, unknown> | undefined {
  const s = (p.state.sources as Record<string, any> | undefined)?.[source]?.resources?.[res];
  return s === undefined ? undefined : JSON.parse(JSON.stringify(s));
}

export interface PagedApi extends TestServer {
  /** The query parameters of every request to `path`, in arrival order. */
  queries(path: string): Record<string, string>[];
}

/**
 * A paginated API: GET `<path>?page=N&…` returns the N-th page (1-based) of `items(query)` cut into pages
 * of `pageSize`; past the last page an empty array.
 */
export async function pagedApi(routes: Record<string, { pageSize: number; items: (q: URLSearchParams) => unknown[] }>): Promise<PagedApi> {
  const srv = await jsonServer((url) => {
    const r = routes[url.pathname];
    if (!r) return undefined;
    const page = Number(url.searchParams.get('page') ?? '1');
    const all = r.items(url.searchParams);
    return all.slice((page - 1) * r.pageSize, page * r.pageSize);
  });
  return Object.assign(srv, {
    queries: (path: string) =>
      srv.requests
        .filter((q) => q.split('?')[0] === path)
        .map((q) => Object.fromEntries(new URL(q, 'http://x').searchParams.entries())),
  });
}

/** Writes `<dir>/.tide/config.toml` in a fresh temp folder and returns the folder. */
export function configFolder(toml: string): string {
  const dir = tempDir('tide-inc-config-');
  mkdirSync(join(dir, '.tide'), { recursive: true });
  writeFileSync(join(dir, '.tide', 'config.toml'), toml);
  return dir;
}

/** Runs `fn` with `process.cwd()` set to `dir` (vitest runs this suite in forks, where chdir is allowed). */
export async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const old = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(old);
  }
}

/** Runs `fn` with some env variables set (undefined deletes), restoring them afterwards. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    old[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
