/**
 * Driver errors become LoadErrors whose `retryable` says whether a retry can help: connection
 * trouble can (server SQL states 08…, 57…, serialization and deadlock, too many connections, and
 * Node's socket errors), bad data cannot.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { LoadError } from 'tide';
import { toLoadError, Tx } from '../../destinations/postgres/transaction.ts';

describe('toLoadError', () => {
  it('keeps the server fields; bad data is not retryable', () => {
    const e = toLoadError(Object.assign(new Error('numeric field overflow'), { code: '22003', detail: 'd', where: 'w', table: 't' }), { sql: 'SELECT 1' });
    expect(e).toBeInstanceOf(LoadError);
    expect([e.sqlState, e.detail, e.where, e.table, e.sql, e.retryable]).toEqual(['22003', 'd', 'w', 't', 'SELECT 1', false]);
  });

  it('losing the catalog race of two loads creating one table or schema is retryable (the retry finds the table); other unique violations are not', () => {
    const race = Object.assign(new Error('duplicate key value violates unique constraint "pg_type_typname_nsp_index"'), { code: '23505', constraint: 'pg_type_typname_nsp_index' });
    expect(toLoadError(race).retryable).toBe(true);
    expect(toLoadError(Object.assign(new Error('relation "events" already exists'), { code: '42P07' })).retryable).toBe(true);
    // the schema of a new dataset, created by a run and its SLA watch at once
    const schemaRace = Object.assign(new Error('duplicate key value violates unique constraint "pg_namespace_nspname_index"'), { code: '23505', constraint: 'pg_namespace_nspname_index' });
    expect(toLoadError(schemaRace).retryable).toBe(true);
    expect(toLoadError(Object.assign(new Error('duplicate key'), { code: '23505', constraint: 'events_pkey' })).retryable).toBe(false);
  });

  it('connection-level SQL states are retryable', () => {
    for (const code of ['08006', '57P01', '40001', '40P01', '53300']) expect(toLoadError(Object.assign(new Error('x'), { code })).retryable).toBe(true);
  });

  it("Node's socket errors are no SQL state and are retryable", () => {
    const e = toLoadError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 }));
    expect(e.sqlState).toBeUndefined();
    expect(e.retryable).toBe(true);
  });

  it('a refused connection when a load transaction opens is a retryable LoadError', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://tide:tide@127.0.0.1:1/tide', connectionTimeoutMillis: 2000 });
    try {
      const e = await Tx.open(pool, 'ds', 'pipe').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LoadError);
      expect((e as LoadError).retryable).toBe(true);
      expect((e as LoadError).pipeline).toBe('pipe');
    } finally {
      await pool.end();
    }
  });
});
