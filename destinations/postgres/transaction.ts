/**
 * One load transaction: a pooled connection inside BEGIN … COMMIT, the dataset's tables as they
 * exist in it (catalog cache), advisory locks, and the mapping of driver errors to LoadErrors.
 */
import type pg from 'pg';
import { LoadError } from '../../pipeline/errors.ts';
import type { ColumnSchema, Schema } from '../../pipeline/schema.ts';
import { copyBuffer, type CopyBuffer } from './copy.ts';
import { addColumnsSql, addLoadColumnsSql, createLoadTableSql, createTableSql, ident, qualified } from './sql.ts';

/** Maps a driver error to a LoadError carrying every server field. */
export function toLoadError(e: unknown, fields: { table?: string; sql?: string; pipeline?: string } = {}): LoadError {
  if (e instanceof LoadError) return e;
  const err = e as pg.DatabaseError & { code?: string; syscall?: string };
  // Node's socket errors (ECONNREFUSED, ECONNRESET, …; they name their syscall) carry a code that is
  // no SQLSTATE: they are connection trouble like class 08
  const sqlState = typeof err?.code === 'string' && err.syscall === undefined ? err.code : undefined;
  // connection-level trouble is worth retrying; data/constraint errors are not
  const retryable =
    !sqlState ||
    sqlState.startsWith('08') ||
    sqlState.startsWith('57') ||
    sqlState === '40001' ||
    sqlState === '40P01' ||
    sqlState === '53300' ||
    lostCatalogRace(err, sqlState);
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

/**
 * Two first loads creating one table or schema at once (parallel backfill intervals into a new
 * dataset, a run and its SLA watch): the loser's `CREATE … IF NOT EXISTS` collides in the catalog
 * (a unique index of pg_type, pg_class or pg_namespace, or the name) instead of finding the object.
 * Its retry finds it and goes on.
 */
const CATALOG_NAME_INDEXES = new Set(['pg_type_typname_nsp_index', 'pg_class_relname_nsp_index', 'pg_namespace_nspname_index']);

function lostCatalogRace(err: { constraint?: string }, sqlState: string | undefined): boolean {
  return sqlState === '42P07' || sqlState === '42P06' || (sqlState === '23505' && CATALOG_NAME_INDEXES.has(err?.constraint ?? ''));
}

/** Something that runs one statement, its errors mapped to LoadErrors: a transaction or the pool. */
export interface Queryable {
  q(text: string, params?: unknown[]): Promise<pg.QueryResult>;
}

/** Statements on the pool, outside any transaction (reads, and DDL that is atomic on its own). */
export function poolQueryable(pool: pg.Pool): Queryable {
  return {
    async q(text, params) {
      try {
        return await pool.query(text, params as unknown[]);
      } catch (e) {
        throw toLoadError(e, { sql: text });
      }
    },
  };
}

// ---------------------------------------------------------------------------------- lock keys
// Advisory lock keys, hashed by Postgres (`hashtext`). Other tide versions take the same keys on
// the same datasets: their text must not change.

/** Loads into one table (and its nested tables) serialize on this, so merges never interleave. */
export function tableLock(ds: string, table: string): string {
  return `tide:table:${ds}.${table}`;
}

/** State writes of one pipeline serialize on this: each merges over the newest committed state. */
export function stateLock(ds: string, pipeline: string): string {
  return `tide:state:${ds}:${pipeline}`;
}

/** One load step (or clean-up) per staged package at a time. */
export function packageLock(ds: string, loadId: string): string {
  return `tide:package:${ds}:${loadId}`;
}

/** Concurrent first runs create a dataset one after the other (CREATE … IF NOT EXISTS races on the catalog). */
export function datasetLock(ds: string): string {
  return `tide:dataset:${ds}`;
}

export const LOCK_SQL = 'SELECT pg_advisory_xact_lock(hashtext($1))';

/** A table as it exists in the database. */
export interface Relation {
  /** as written in SQL: schema-qualified and quoted, or a quoted TEMP table name */
  name: string;
  /** unquoted schema (`pg_temp` for a TEMP table) and table, for COPY */
  schema: string;
  table: string;
  columns: Set<string>;
}

/** Where in a COPY Postgres found a bad value: `COPY <table>, line <n>[, column <c>]`. */
const COPY_WHERE = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/;

/** A transaction on one connection, with the dataset's tables as they exist in it. */
export class Tx implements Queryable {
  /** the dataset's tables, as of this transaction */
  readonly final = new Map<string, Relation>();
  readonly ds: string;
  /** the pipeline whose load this is, named in errors (none for dataset DDL) */
  readonly pipeline: string | undefined;
  /** final tables get `UNIQUE` on columns with the unique hint (dlt's `create_indexes`) */
  readonly createIndexes: boolean;
  readonly #client: pg.PoolClient;
  #done = false;

  private constructor(client: pg.PoolClient, ds: string, pipeline: string | undefined, createIndexes: boolean) {
    this.#client = client;
    this.ds = ds;
    this.pipeline = pipeline;
    this.createIndexes = createIndexes;
  }

  /** BEGIN on a pooled connection, then reads the dataset's tables and columns. */
  static async open(pool: pg.Pool, ds: string, pipeline: string, createIndexes = false): Promise<Tx> {
    return Tx.#begin(pool, ds, pipeline, true, createIndexes);
  }

  /** BEGIN on a pooled connection, without reading the catalog (for dataset DDL). */
  static async begin(pool: pg.Pool, ds: string): Promise<Tx> {
    return Tx.#begin(pool, ds, undefined, false, false);
  }

  static async #begin(pool: pg.Pool, ds: string, pipeline: string | undefined, catalog: boolean, createIndexes: boolean): Promise<Tx> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw toLoadError(e, { pipeline });
    }
    // a connection the server drops while this transaction waits between statements (a crash, a
    // restart) emits 'error' on the client; unheard, that would end the process. The next statement
    // fails with the error anyway, and the client is released as broken.
    client.on('error', ignoreIdleError);
    try {
      await client.query('BEGIN');
      const tx = new Tx(client, ds, pipeline, createIndexes);
      if (catalog) await tx.#readCatalog();
      return tx;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', ignoreIdleError);
      client.release();
      throw toLoadError(e, { pipeline });
    }
  }

  async #readCatalog(): Promise<void> {
    const cols = await this.#client.query<{ table_name: string; column_name: string }>(
      'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1',
      [this.ds],
    );
    for (const r of cols.rows) {
      let rel = this.final.get(r.table_name);
      if (!rel) this.final.set(r.table_name, (rel = this.#finalRelation(r.table_name)));
      rel.columns.add(r.column_name);
    }
  }

  #finalRelation(table: string): Relation {
    return { name: qualified(this.ds, table), schema: this.ds, table, columns: new Set() };
  }

  async q(text: string, params?: unknown[], table?: string): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(text, params as unknown[]);
    } catch (e) {
      throw toLoadError(e, { sql: text, table, pipeline: this.pipeline });
    }
  }

  /** Takes an advisory lock (a key from the lock-key functions above) until this transaction ends. */
  async lock(key: string, table?: string): Promise<void> {
    await this.q(LOCK_SQL, [key], table);
  }

  /**
   * COPY `buf` into `rel`. A row Postgres rejects becomes a LoadError naming its item; other errors
   * are mapped by `toLoadError`.
   */
  async copy(table: string, rel: Relation, buf: CopyBuffer, loadId: string): Promise<void> {
    try {
      await copyBuffer(this.#client, rel.schema, rel.table, buf);
    } catch (e) {
      throw this.#rejectedRow(e, table, buf, loadId);
    }
  }

  #rejectedRow(e: unknown, table: string, buf: CopyBuffer, loadId: string): LoadError {
    if (e instanceof LoadError) return e;
    const pe = e as pg.DatabaseError;
    const m = typeof pe?.where === 'string' ? COPY_WHERE.exec(pe.where) : null;
    const line = m ? Number(m[1]) : undefined;
    const base = toLoadError(e, { table, pipeline: this.pipeline });
    return new LoadError(`Postgres rejected a row of table "${table}"${line ? ` (COPY line ${line})` : ''}: ${pe?.message ?? e}`, {
      pipeline: this.pipeline,
      resource: buf.resource,
      table,
      column: m?.[2],
      item: line ? buf.items[line - 1] : undefined,
      sqlState: base.sqlState,
      detail: base.detail,
      where: base.where,
      retryable: base.retryable,
      loadId,
      cause: e,
    });
  }

  /** Creates or evolves a final table to match the schema. */
  async ensureFinal(schema: Schema, table: string): Promise<Relation> {
    const ts = schema.tables[table];
    const cols = Object.values(ts.columns);
    let rel = this.final.get(table);
    if (!rel) {
      await this.q(createTableSql(this.ds, ts, cols, this.createIndexes), undefined, table);
      rel = this.#finalRelation(table);
      this.final.set(table, rel);
      // the table may have existed (created by a concurrent load): make sure every column is there
      if (cols.length) await this.q(addColumnsSql(this.ds, table, cols, this.createIndexes), undefined, table);
      for (const c of cols) rel.columns.add(c.name);
    } else {
      const missing = cols.filter((c) => !rel!.columns.has(c.name));
      if (missing.length) {
        await this.q(addColumnsSql(this.ds, table, missing, this.createIndexes), undefined, table);
        for (const c of missing) rel.columns.add(c.name);
      }
    }
    return rel;
  }

  /** Runs `fn` in this transaction, then commits; an error rolls everything back and is rethrown. */
  async commitAfter<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      await this.commit();
      return result;
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  /**
   * Commits what this transaction wrote so far and goes on in a new one on the same connection (a
   * checkpoint of a staged extract: its pages so far survive the worker). Catalog caches stay valid:
   * only this load writes its staging tables.
   */
  async commitAndContinue(): Promise<void> {
    await this.q('COMMIT');
    await this.q('BEGIN');
  }

  async commit(): Promise<void> {
    await this.q('COMMIT');
    this.#done = true;
    this.#client.off('error', ignoreIdleError);
    this.#client.release();
  }

  async rollback(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#client.off('error', ignoreIdleError);
    try {
      await this.#client.query('ROLLBACK');
      this.#client.release();
    } catch (e) {
      // a broken connection must not go back to the pool
      this.#client.release(e as Error);
    }
  }
}

function ignoreIdleError(): void {}

/** A table of this load: `schema` undefined for a TEMP table (written unqualified, COPY'd as `pg_temp`). */
export function loadRelation(schema: string | undefined, table: string): Relation {
  return schema === undefined
    ? { name: ident(table), schema: 'pg_temp', table, columns: new Set() }
    : { name: qualified(schema, table), schema, table, columns: new Set() };
}

/**
 * Tables of this load only (staging or scratch tables), one per data table: created with the
 * columns the data table has when its first batch arrives, grown with it. Named by `name(n)` for the
 * n-th table (from 0); TEMP ones drop with the transaction.
 */
export class LoadTables {
  readonly #tx: Tx;
  readonly #temp: boolean;
  readonly #name: (n: number) => Relation;
  readonly #byTable = new Map<string, Relation>();

  constructor(tx: Tx, temp: boolean, name: (n: number) => Relation) {
    this.#tx = tx;
    this.#temp = temp;
    this.#name = name;
  }

  get(table: string): Relation | undefined {
    return this.#byTable.get(table);
  }

  /** Data table → quoted name of its table of this load. */
  names(): Record<string, string> {
    return Object.fromEntries([...this.#byTable].map(([t, r]) => [t, r.name]));
  }

  /** Data table → the columns its table of this load has. */
  columns(): Record<string, string[]> {
    return Object.fromEntries([...this.#byTable].map(([t, r]) => [t, [...r.columns]]));
  }

  /** Takes over a table an earlier attempt of this load created (`name` as `names()` gave it). */
  adopt(table: string, name: string, columns: string[]): void {
    const n = this.#byTable.size;
    const rel = this.#name(n);
    if (rel.name !== name) throw new Error(`staging table ${name} of "${table}" is not this load's table number ${n} (${rel.name})`);
    for (const c of columns) rel.columns.add(c);
    this.#byTable.set(table, rel);
  }

  /** The table of this load for `table`, created or grown to have `columns`. */
  async ensure(table: string, columns: ColumnSchema[]): Promise<Relation> {
    let rel = this.#byTable.get(table);
    if (!rel) {
      rel = this.#name(this.#byTable.size);
      await this.#tx.q(createLoadTableSql(rel.name, columns, this.#temp), undefined, table);
      for (const c of columns) rel.columns.add(c.name);
      this.#byTable.set(table, rel);
      return rel;
    }
    const missing = columns.filter((c) => !rel!.columns.has(c.name));
    if (missing.length) {
      await this.#tx.q(addLoadColumnsSql(rel.name, missing), undefined, table);
      for (const c of missing) rel.columns.add(c.name);
    }
    return rel;
  }
}
