/**
 * The Postgres destination: a dataset is a Postgres schema holding the data tables and dlt's
 * bookkeeping tables (`_dlt_loads`, `_dlt_pipeline_state`, `_dlt_version`).
 */
import pg from 'pg';
import type { Destination, DestinationClient, LoadSession, RestoredState } from '../../pipeline/destination.ts';
import { LoadError } from '../../pipeline/errors.ts';
import type { Schema } from '../../pipeline/schema.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE } from '../../pipeline/schema.ts';
import { decompressState } from '../../pipeline/state.ts';
import { ensureEmbeddedPostgres } from './embedded.ts';
import { applyPackage, dropStalePackages, PACKAGES_TABLE, PostgresLoadSession, stagingSchemaOf, type LoadMode } from './load.ts';
import { fromStoredSchema } from '../../pipeline/schema-store.ts';
import { ident, qualified } from './sql.ts';

export interface PostgresOptions {
  /** A connection string; unset → `TIDE_POSTGRES_URL`, else the embedded server under `.tide/`. */
  connectionString?: string;
  /** Or an existing pool (tide does not end it). */
  pool?: pg.Pool;
  /** Pool size (default 4). */
  max?: number;
}

/** bigint columns read back as numbers when exact (as Python ints in dlt), else as strings. */
function typeParser(oid: number, format?: string): (v: string) => unknown {
  if (oid === 20) return (v: string) => {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  };
  return pg.types.getTypeParser(oid, format as 'text');
}

/** Maps a driver error to a LoadError carrying every server field. */
export function toLoadError(e: unknown, fields: { table?: string; sql?: string; pipeline?: string } = {}): LoadError {
  if (e instanceof LoadError) return e;
  const err = e as pg.DatabaseError & { code?: string };
  const sqlState = typeof err?.code === 'string' ? err.code : undefined;
  // connection-level trouble is worth retrying; data/constraint errors are not
  const retryable =
    !sqlState ||
    sqlState.startsWith('08') ||
    sqlState.startsWith('57') ||
    sqlState === '40001' ||
    sqlState === '40P01' ||
    sqlState === '53300';
  return new LoadError(`Postgres: ${err?.message ?? String(e)}`, {
    sqlState,
    detail: err?.detail,
    where: err?.where,
    table: fields.table ?? err?.table,
    column: err?.column,
    sql: fields.sql,
    pipeline: fields.pipeline,
    retryable,
    cause: e,
  });
}

class PostgresClient implements DestinationClient {
  constructor(
    readonly pool: pg.Pool,
    readonly datasetName: string,
  ) {}

  async datasetExists(): Promise<boolean> {
    try {
      const r = await this.pool.query('SELECT to_regclass($1) AS t', [`${ident(this.datasetName)}.${ident(STATE_TABLE)}`]);
      return !!r.rows[0]?.t;
    } catch (e) {
      throw toLoadError(e);
    }
  }

  async ensureDataset(): Promise<void> {
    const ds = this.datasetName;
    // the common case, every run after the first: one round trip instead of a locked DDL block
    try {
      const r = await this.pool.query('SELECT to_regclass($1) AS v, to_regclass($2) AS p', [
        `${ident(ds)}.${ident(VERSION_TABLE)}`,
        `${ident(stagingSchemaOf(ds))}.${ident(PACKAGES_TABLE)}`,
      ]);
      if (r.rows[0]?.v && r.rows[0]?.p) return;
    } catch (e) {
      throw toLoadError(e);
    }
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw toLoadError(e);
    }
    try {
      await c.query('BEGIN');
      // serialize concurrent first runs: CREATE … IF NOT EXISTS races on the catalog otherwise
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:dataset:${ds}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(ds)}`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(ds, LOADS_TABLE)} (load_id varchar NOT NULL, schema_name varchar, status bigint NOT NULL, inserted_at timestamp with time zone NOT NULL, schema_version_hash varchar, tide_pipeline_name varchar, tide_interval_start timestamp with time zone, tide_interval_end timestamp with time zone, tide_rows bigint)`,
      );
      await c.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${ident(`${LOADS_TABLE}_load_id`)} ON ${qualified(ds, LOADS_TABLE)} (load_id)`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(ds, STATE_TABLE)} (version bigint NOT NULL, engine_version bigint NOT NULL, pipeline_name varchar NOT NULL, state varchar NOT NULL, created_at timestamp with time zone NOT NULL, version_hash varchar, _dlt_load_id varchar NOT NULL, _dlt_id varchar NOT NULL UNIQUE)`,
      );
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(ds, VERSION_TABLE)} (version bigint NOT NULL, engine_version bigint NOT NULL, inserted_at timestamp with time zone NOT NULL, schema_name varchar NOT NULL, version_hash varchar NOT NULL, schema varchar NOT NULL)`,
      );
      // staged packages of the extract → load split (Temporal): one table set per load id
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${ident(stagingSchemaOf(ds))}`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${qualified(stagingSchemaOf(ds), PACKAGES_TABLE)} (load_id varchar PRIMARY KEY, pipeline_name varchar NOT NULL, created_at timestamp with time zone NOT NULL, package text NOT NULL)`,
      );
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw toLoadError(e);
    } finally {
      c.release();
    }
  }

  async restore(pipelineName: string, schemaName: string): Promise<RestoredState> {
    const ds = this.datasetName;
    if (!(await this.datasetExists())) return {};
    // a state row counts only if its load completed (ST-9)
    const st = await this.pool.query(
      `SELECT s.state FROM ${qualified(ds, STATE_TABLE)} s JOIN ${qualified(ds, LOADS_TABLE)} l ON l.load_id = s._dlt_load_id
       WHERE s.pipeline_name = $1 AND l.status = 0 ORDER BY s.version DESC, s._dlt_load_id DESC LIMIT 1`,
      [pipelineName],
    );
    const sc = await this.pool.query(
      `SELECT schema FROM ${qualified(ds, VERSION_TABLE)} WHERE schema_name = $1 ORDER BY version DESC, inserted_at DESC LIMIT 1`,
      [schemaName],
    );
    return {
      state: st.rows[0] ? decompressState(st.rows[0].state) : undefined,
      schema: sc.rows[0] ? fromStoredSchema(JSON.parse(sc.rows[0].schema)) : undefined,
    };
  }

  async beginLoad(opts: { loadId: string; pipelineName: string; schema: Schema; batchSize?: number; mode?: LoadMode; onlyRoot?: string }): Promise<LoadSession> {
    return PostgresLoadSession.begin(this.pool, this.datasetName, opts);
  }

  async loadPackage(pipelineName: string, loadId: string): Promise<{ applied: boolean; tables: Record<string, number>; schemaName?: string }> {
    return applyPackage(this.pool, this.datasetName, pipelineName, loadId);
  }

  async dropStalePackages(olderThanHours: number): Promise<number> {
    return dropStalePackages(this.pool, this.datasetName, olderThanHours);
  }

  async query<T>(text: string, params?: unknown[]): Promise<T[]> {
    try {
      const r = await this.pool.query(text, params as unknown[]);
      return r.rows as T[];
    } catch (e) {
      throw toLoadError(e, { sql: text });
    }
  }

  async dropTables(tables: string[]): Promise<void> {
    if (!tables.length) return;
    await this.pool.query(`DROP TABLE IF EXISTS ${tables.map((t) => qualified(this.datasetName, t)).join(', ')} CASCADE`);
  }

  async dropDataset(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${ident(this.datasetName)} CASCADE`);
    await this.pool.query(`DROP SCHEMA IF EXISTS ${ident(stagingSchemaOf(this.datasetName))} CASCADE`);
  }

  async close(): Promise<void> {}
}

/** The Postgres destination. Connection: the argument, else `TIDE_POSTGRES_URL`, else an embedded server under `.tide/`. */
export function postgres(connection?: string | PostgresOptions): Destination {
  const opts: PostgresOptions = typeof connection === 'string' ? { connectionString: connection } : (connection ?? {});
  let pool: pg.Pool | undefined = opts.pool;
  const ownsPool = !opts.pool;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let opening: Promise<pg.Pool> | undefined;

  const getPool = async (): Promise<pg.Pool> => {
    if (pool) return pool;
    opening ??= (async () => {
      let url = opts.connectionString ?? process.env.TIDE_POSTGRES_URL;
      if (!url) {
        const embedded = await ensureEmbeddedPostgres();
        url = embedded.url;
        stopEmbedded = embedded.release;
      }
      const p = new pg.Pool({ connectionString: url, max: opts.max ?? 4, types: { getTypeParser: typeParser } as pg.CustomTypesConfig });
      p.on('error', () => undefined); // idle client errors (server restart) surface on the next query
      pool = p;
      return p;
    })();
    return opening;
  };

  return Object.freeze({
    type: 'postgres',
    async open(datasetName: string): Promise<DestinationClient> {
      return new PostgresClient(await getPool(), datasetName);
    },
    async close(): Promise<void> {
      const p = pool;
      pool = undefined;
      opening = undefined;
      if (p && ownsPool) await p.end().catch(() => undefined);
      const stop = stopEmbedded;
      stopEmbedded = undefined;
      if (stop) await stop();
    },
  });
}
