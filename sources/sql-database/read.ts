/**
 * Reading a source table: a connection whose type parsers give the normalizer values it takes
 * without loss, and a server-side cursor fetched `chunkSize` rows at a time, so memory is bounded by
 * two chunks whatever the table's size, and the whole read sees one snapshot.
 */
import pg from 'pg';
import type { SelectQuery } from './select.ts';

/** A connection string or pg's client configuration. */
export type SqlCredentials = string | pg.ClientConfig;

const { builtins } = pg.types;

/** int8 as a number when it is exact, else a BigInt (pg's default is a string). */
function int8(s: string): number | bigint {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

/** Nested arrays with `f` applied to every leaf. */
function mapLeaves(v: unknown, f: (s: string) => unknown): unknown {
  return Array.isArray(v) ? v.map((x) => mapLeaves(x, f)) : v === null ? null : f(v as string);
}

/** `2024-01-02 03:04:05.123456+00` (the session runs in UTC) → `2024-01-02T03:04:05.123456+00:00`. */
function timestamptz(s: string): string {
  return s.length >= 22 && s.endsWith('+00') ? `${s.slice(0, 10)}T${s.slice(11)}:00` : s;
}

/** `2024-01-02 03:04:05.123456` → `2024-01-02T03:04:05.123456`: naive, microseconds kept (a JS Date would keep ms). */
function timestamp(s: string): string {
  return s.length >= 19 && s[10] === ' ' ? `${s.slice(0, 10)}T${s.slice(11)}` : s;
}

const identity = (s: string) => s;
/** `int8[]`: pg.types.builtins names no array types. */
const INT8_ARRAY = 1016;
const int8Array = pg.types.getTypeParser(INT8_ARRAY as never, 'text') as (s: string) => unknown;

/**
 * Text parsers by type oid: exact int8, timestamps as ISO strings with every digit, dates as
 * `YYYY-MM-DD` (not a local-midnight Date), json as its text (the json column parses it: a JSON
 * scalar stays a scalar). Everything else is pg's default (numeric and uuid stay strings, bytea a Buffer).
 */
const PARSERS: Record<number, (s: string) => unknown> = {
  [builtins.INT8]: int8,
  [INT8_ARRAY]: (s) => mapLeaves(int8Array(s), int8),
  [builtins.TIMESTAMPTZ]: timestamptz,
  [builtins.TIMESTAMP]: timestamp,
  [builtins.DATE]: identity,
  [builtins.JSON]: identity,
  [builtins.JSONB]: identity,
};

const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    (format ?? 'text') === 'text' && PARSERS[oid] ? PARSERS[oid] : pg.types.getTypeParser(oid as never, format as never),
} as pg.CustomTypesConfig;

/** `application_name` of the source connections unless the credentials set one. */
export const SOURCE_APPLICATION_NAME = 'tide sql source';

/** A connected client with the source's type parsers, its session in UTC. */
export async function connectSource(credentials: SqlCredentials): Promise<pg.Client> {
  const config = typeof credentials === 'string' ? { connectionString: credentials } : credentials;
  // the name shows in the source's pg_stat_activity, so its DBA can tell tide's reads apart
  const client = new pg.Client({ application_name: SOURCE_APPLICATION_NAME, ...config, types });
  await client.connect();
  await client.query(`SET TIME ZONE 'UTC'`);
  return client;
}

/**
 * The rows of `query`, `chunkSize` at a time, through a cursor in a read-only repeatable-read
 * transaction. Stopping early (the incremental closing the resource) rolls it back and disconnects.
 */
export async function* readChunks(credentials: SqlCredentials, query: SelectQuery, chunkSize: number): AsyncGenerator<Record<string, unknown>[]> {
  const client = await connectSource(credentials);
  const fetch = () => client.query<Record<string, unknown>>(`FETCH FORWARD ${chunkSize} FROM tide_rows`);
  let next: ReturnType<typeof fetch> | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`DECLARE tide_rows NO SCROLL CURSOR FOR ${query.text}`, query.values);
    // the next chunk is asked for before this one is yielded: the server reads it while tide
    // normalizes and stages this one (two chunks in memory at most)
    next = fetch();
    while (next) {
      const rows: Record<string, unknown>[] = (await next).rows;
      next = rows.length === chunkSize ? fetch() : undefined;
      if (rows.length) yield rows;
    }
  } finally {
    // stopped early: the fetch under way is not wanted any more, nor its error
    next?.catch(() => undefined);
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
