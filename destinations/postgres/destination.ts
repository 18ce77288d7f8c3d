/**
 * The Postgres destination: a dataset is a Postgres schema holding the data tables and dlt's
 * bookkeeping tables (`_dlt_loads`, `_dlt_pipeline_state`, `_dlt_version`), with a staging schema
 * (`<dataset>_staging`) for staged loads.
 */
import pg from 'pg';
import type { Destination, DestinationClient, LoadRecord, LoadSession, OutcomeStreak, RestoredState, RunOutcome, Row, StagedPackage, TableCount } from '../../pipeline/destination.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE } from '../../pipeline/schema.ts';
import { ensureEmbeddedPostgres } from './embedded.ts';
import { configuredPostgresUrl } from './credentials.ts';
import { applyPackages, discardPackages, dropStalePackages, stagedPackage, type AppliedPackage } from './package.ts';
import { PostgresLoadSession, type SessionOptions } from './session.ts';
import { createDatasetSql, dropDatasetSql, dropTablesSql, PACKAGES_TABLE, qualified, stagingSchemaOf } from './sql.ts';
import { appendRunLog, intervalLoads, isLoaded, latestSchema, latestState, markNotified, recentLoads, recordOutcome, runLog, wasNotified } from './state.ts';
import type { RunLogKey, RunLogLine, StoredRunLogLine } from '../../pipeline/run-log.ts';
import { datasetLock, poolQueryable, Tx, type Queryable } from './transaction.ts';

export interface PostgresOptions {
  /** A connection string; unset → `TIDE_POSTGRES_URL`, else the configured credentials (docs/configuration.md), else the embedded server under `.tide/`. */
  connectionString?: string;
  /** Or an existing pool (tide does not end it). */
  pool?: pg.Pool;
  /** Pool size (default 4). */
  max?: number;
  /**
   * `UNIQUE` on `_dlt_id` (and other columns with the unique hint) of the tables tide creates, as dlt's
   * `create_indexes` does by default. Default false: tide's ids are unique by construction, and the
   * index roughly doubles the server's COPY time of root and nested rows (see bench/README.md).
   */
  createIndexes?: boolean;
}

/** bigint columns read back as numbers when exact (as Python ints in dlt), else as strings. */
function typeParser(oid: number, format?: string): (v: string) => unknown {
  if (oid === 20) return (v: string) => {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  };
  return pg.types.getTypeParser(oid, format as 'text');
}

class PostgresClient implements DestinationClient {
  readonly datasetName: string;
  readonly #pool: pg.Pool;
  readonly #db: Queryable;
  readonly #createIndexes: boolean;

  constructor(pool: pg.Pool, datasetName: string, createIndexes: boolean) {
    this.#pool = pool;
    this.datasetName = datasetName;
    this.#db = poolQueryable(pool);
    this.#createIndexes = createIndexes;
  }

  /** Whether each of the given tables (schema, table) exists, in one round trip. */
  async #exist(...tables: [string, string][]): Promise<boolean[]> {
    const r = await this.#db.q(`SELECT ${tables.map((_, i) => `to_regclass($${i + 1}) AS t${i}`).join(', ')}`, tables.map(([s, t]) => qualified(s, t)));
    return tables.map((_, i) => !!r.rows[0]?.[`t${i}`]);
  }

  async datasetExists(): Promise<boolean> {
    const [state] = await this.#exist([this.datasetName, STATE_TABLE]);
    return state;
  }

  async ensureDataset(): Promise<void> {
    const ds = this.datasetName;
    // the common case, every run after the first: one round trip instead of a locked DDL block
    const [version, packages] = await this.#exist([ds, VERSION_TABLE], [stagingSchemaOf(ds), PACKAGES_TABLE]);
    if (version && packages) return;
    const tx = await Tx.begin(this.#pool, ds);
    await tx.commitAfter(async () => {
      await tx.lock(datasetLock(ds));
      for (const statement of createDatasetSql(ds)) await tx.q(statement);
    });
  }

  async restore(pipelineName: string, schemaName: string): Promise<RestoredState> {
    if (!(await this.datasetExists())) return {};
    return {
      state: await latestState(this.#db, this.datasetName, pipelineName),
      schema: await latestSchema(this.#db, this.datasetName, schemaName),
    };
  }

  async beginLoad(opts: SessionOptions): Promise<LoadSession> {
    return PostgresLoadSession.begin(this.#pool, this.datasetName, opts, this.#createIndexes);
  }

  async stagedPackage(packageId: string): Promise<StagedPackage | undefined> {
    return stagedPackage(this.#pool, this.datasetName, packageId);
  }

  async loadPackages(pipelineName: string, loadId: string, packageIds = [loadId], failedComponents?: string[]): Promise<AppliedPackage> {
    return applyPackages(this.#pool, this.datasetName, pipelineName, { loadId, packageIds, failedComponents }, this.#createIndexes);
  }

  async discardPackages(packageIds: string[]): Promise<void> {
    await discardPackages(this.#pool, this.datasetName, packageIds);
  }

  async wasNotified(key: string): Promise<boolean> {
    return wasNotified(this.#db, this.datasetName, key);
  }

  async markNotified(key: string): Promise<void> {
    await markNotified(this.#db, this.datasetName, key);
  }

  recordOutcome(pipelineName: string, runKey: string, outcome: RunOutcome): Promise<OutcomeStreak> {
    return recordOutcome(this.#db, this.datasetName, pipelineName, runKey, outcome);
  }

  async appendRunLog(key: RunLogKey, lines: RunLogLine[]): Promise<void> {
    await appendRunLog(this.#db, this.datasetName, key, lines);
  }

  async runLog(pipelineName: string, run: string): Promise<StoredRunLogLine[]> {
    return runLog(this.#db, this.datasetName, pipelineName, run);
  }

  async isLoaded(loadId: string): Promise<boolean> {
    const [ledger] = await this.#exist([this.datasetName, LOADS_TABLE]);
    return ledger && isLoaded(this.#db, this.datasetName, loadId);
  }

  async dropStalePackages(olderThanHours: number): Promise<number> {
    return dropStalePackages(this.#pool, this.datasetName, olderThanHours);
  }

  async query<T>(text: string, params?: unknown[]): Promise<T[]> {
    return (await this.#db.q(text, params)).rows as T[];
  }

  async loads(pipelineName: string, limit: number): Promise<LoadRecord[]> {
    const [ledger] = await this.#exist([this.datasetName, LOADS_TABLE]);
    return ledger ? recentLoads(this.#db, this.datasetName, pipelineName, limit) : [];
  }

  async intervalLoads(pipelineName: string, from: string, to: string): Promise<LoadRecord[]> {
    const [ledger] = await this.#exist([this.datasetName, LOADS_TABLE]);
    if (!ledger) return [];
    // a ledger dlt made and tide never wrote to has no interval columns: no interval loads
    const cols = await this.#db.q(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'tide_interval_start'`, [this.datasetName, LOADS_TABLE]);
    return cols.rowCount ? intervalLoads(this.#db, this.datasetName, pipelineName, from, to) : [];
  }

  async tableCounts(): Promise<TableCount[]> {
    const ds = this.datasetName;
    const tables = await this.#db.q(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt\\_%' ORDER BY table_name`,
      [ds],
    );
    const names: string[] = tables.rows.map((r: { table_name: string }) => r.table_name);
    if (!names.length) return [];
    const counts = await this.#db.q(names.map((t, i) => `SELECT ${i} AS i, count(*) AS n FROM ${qualified(ds, t)}`).join(' UNION ALL '));
    const byIndex = new Map(counts.rows.map((r: { i: number; n: number }) => [r.i, Number(r.n)]));
    return names.map((table, i) => ({ table, rows: byIndex.get(i) ?? 0 }));
  }

  async preview(table: string, limit: number): Promise<Row[]> {
    return (await this.#db.q(`SELECT * FROM ${qualified(this.datasetName, table)} LIMIT $1`, [limit])).rows;
  }

  async dropTables(tables: string[]): Promise<void> {
    if (!tables.length) return;
    await this.#db.q(dropTablesSql(tables.map((t) => qualified(this.datasetName, t)), true));
  }

  async dropDataset(): Promise<void> {
    for (const statement of dropDatasetSql(this.datasetName)) await this.#db.q(statement);
  }

  async close(): Promise<void> {}
}

/** The Postgres destination. Connection: the argument, else `TIDE_POSTGRES_URL`, else the configured credentials, else an embedded server under `.tide/`. */
export function postgres(connection?: string | PostgresOptions): Destination {
  const opts: PostgresOptions = typeof connection === 'string' ? { connectionString: connection } : (connection ?? {});
  let pool: pg.Pool | undefined = opts.pool;
  const ownsPool = !opts.pool;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let opening: Promise<pg.Pool> | undefined;

  const getPool = async (): Promise<pg.Pool> => {
    if (pool) return pool;
    opening ??= (async () => {
      let url = opts.connectionString ?? configuredPostgresUrl();
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
      return new PostgresClient(await getPool(), datasetName, opts.createIndexes ?? false);
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
