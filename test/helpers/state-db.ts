/**
 * Helpers for state / bookkeeping tests: reads `_dlt_pipeline_state`, `_dlt_loads` and
 * `information_schema` straight from Postgres, and decodes the state column independently of the
 * engine (base64 → zlib inflate → JSON), so a bug in tide's own decoder cannot hide a bad row.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';
import type { Pipeline } from 'tide';

export interface StoredStateRow {
  version: number;
  engine_version: number;
  pipeline_name: string;
  state: Record<string, unknown>;
  version_hash: string | null;
  _dlt_load_id: string;
  /** whether a `_dlt_loads` row with status 0 exists for this row's load */
  completed: boolean;
}

/** Decodes the `state` column: base64(zlib(JSON)). */
export function decodeStateColumn(text: string): Record<string, unknown> {
  return JSON.parse(inflateSync(Buffer.from(text, 'base64')).toString('utf8')) as Record<string, unknown>;
}

export async function tableExists(p: Pipeline, table: string): Promise<boolean> {
  const r = await p.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${p.datasetName}"."${table}"`]);
  return r[0]?.t != null;
}

/** All rows of `_dlt_pipeline_state`, oldest version first (empty when the table does not exist). */
export async function storedStates(p: Pipeline): Promise<StoredStateRow[]> {
  if (!(await tableExists(p, '_dlt_pipeline_state'))) return [];
  const hasLoads = await tableExists(p, '_dlt_loads');
  const r = await p.query<Record<string, unknown>>(
    `SELECT s.version, s.engine_version, s.pipeline_name, s.state, s.version_hash, s._dlt_load_id,
            ${hasLoads ? `EXISTS (SELECT 1 FROM "${p.datasetName}"."_dlt_loads" l WHERE l.load_id = s._dlt_load_id AND l.status = 0)` : 'false'} AS completed
       FROM "${p.datasetName}"."_dlt_pipeline_state" s ORDER BY s.version, s._dlt_load_id`,
  );
  return r.map((x) => ({
    version: Number(x.version),
    engine_version: Number(x.engine_version),
    pipeline_name: x.pipeline_name as string,
    state: decodeStateColumn(x.state as string),
    version_hash: (x.version_hash as string | null) ?? null,
    _dlt_load_id: x._dlt_load_id as string,
    completed: x.completed as boolean,
  }));
}

/** The state a fresh machine would restore: newest version whose load completed (ST-9). */
export async function restorableState(p: Pipeline): Promise<Record<string, unknown> | undefined> {
  const all = (await storedStates(p)).filter((s) => s.completed);
  return all.at(-1)?.state;
}

export async function loadIds(p: Pipeline): Promise<string[]> {
  if (!(await tableExists(p, '_dlt_loads'))) return [];
  const r = await p.query<{ load_id: string }>(`SELECT load_id FROM "${p.datasetName}"."_dlt_loads" ORDER BY load_id`);
  return r.map((x) => x.load_id);
}

/** `{ column: data_type }` of a table, from information_schema, in ordinal order. */
export async function columnTypes(p: Pipeline, table: string): Promise<Record<string, string>> {
  const r = await p.query<{ column_name: string; data_type: string }>(
    'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [p.datasetName, table],
  );
  return Object.fromEntries(r.map((x) => [x.column_name, x.data_type]));
}

/** Column names in ordinal order. */
export async function columnNames(p: Pipeline, table: string): Promise<string[]> {
  return Object.keys(await columnTypes(p, table));
}

/** Tables of the dataset, sorted. */
export async function tablesOf(p: Pipeline): Promise<string[]> {
  const r = await p.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [p.datasetName],
  );
  return r.map((x) => x.table_name);
}

/** The pipeline state without volatile fields (hash), for exact comparisons across runs. */
export function snapshot<T>(v: T): T {
  return structuredClone(v);
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request path (with query string), in arrival order. */
  requests: string[];
  /** How many times each path (without query string) was requested. */
  count(path: string): number;
  reset(): void;
  close(): Promise<void>;
}

/** A local HTTP server on 127.0.0.1:0 answering JSON from `handler(url)`; 404 when it returns undefined. */
export async function jsonServer(handler: (url: URL, req: IncomingMessage) => unknown): Promise<TestServer> {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '/');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    try {
      body = handler(url, req);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
      return;
    }
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.split('?')[0] === path).length,
    reset: () => void requests.splice(0),
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections?.();
        server.close(() => res());
      }),
  };
}

/** GET a JSON document; throws on a non-2xx status. */
export async function getJson<T = any>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

/**
 * Asserts the pipeline's in-memory state: its `sources` part and `_state_version`, and that the
 * state a fresh machine would restore from Postgres is exactly the same document (minus `_local`).
 */
export async function expectCommittedState(p: Pipeline, sources: Record<string, unknown>, version: number): Promise<void> {
  const { expect } = await import('vitest');
  expect(p.state.sources ?? {}).toEqual(sources);
  expect(p.state._state_version).toBe(version);
  expect(p.state.pipeline_name).toBe(p.pipelineName);
  expect(p.state.dataset_name).toBe(p.datasetName);
  const stored = await restorableState(p);
  const { _local, ...local } = p.state as Record<string, unknown>;
  void _local;
  expect(stored).toEqual(JSON.parse(JSON.stringify(local)));
}
