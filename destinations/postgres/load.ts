/**
 * One load into Postgres, in one transaction: rows stream in with COPY while the resources run
 * (append tables straight into their table, replace and merge tables into temporary staging tables
 * visible to this load only), then dispositions, the state row, the schema version and the
 * `_dlt_loads` row are written and everything commits together, or nothing does.
 */
import type pg from 'pg';
import type { CommitRequest, LoadSession, Row } from '../../pipeline/destination.ts';
import { LoadError } from '../../pipeline/errors.ts';
import type { ColumnSchema, Schema, TableSchema } from '../../pipeline/schema.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE, nestedTablesOf, rootTableOf } from '../../pipeline/schema.ts';
import { toStoredSchema } from '../../pipeline/schema-store.ts';
import { compressState, decompressState, STATE_ENGINE_VERSION } from '../../pipeline/state.ts';
import { uniqueId } from '../../pipeline/normalize/hash.ts';
import { toLoadError } from './client.ts';
import { copyRows, EncodeError, RowEncoder } from './copy.ts';
import { applyMerge } from './merge.ts';
import { addColumnsSql, createTableSql, ident, pgType, qualified } from './sql.ts';

interface Buffer {
  rows: Row[];
  items: unknown[];
  resource: string;
}

interface Relation {
  /** schema-qualified name */
  name: string;
  columns: Set<string>;
  /** column list the cached encoder was built for */
  encoder?: RowEncoder;
  encoderSize?: number;
}

const COPY_WHERE = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/;

export class PostgresLoadSession implements LoadSession {
  readonly rowCounts: Record<string, number> = {};
  readonly #client: pg.PoolClient;
  readonly #ds: string;
  readonly #schema: Schema;
  readonly #pipeline: string;
  readonly #batchSize: number;
  readonly #buffers = new Map<string, Buffer>();
  /** final tables as they exist in the database */
  readonly #final = new Map<string, Relation>();
  /** staging tables of replace / merge tables */
  readonly #staging = new Map<string, Relation>();
  #buffered = 0;
  #pending: Promise<void> = Promise.resolve();
  #done = false;

  private constructor(
    client: pg.PoolClient,
    ds: string,
    readonly loadId: string,
    pipeline: string,
    schema: Schema,
    batchSize: number,
  ) {
    this.#client = client;
    this.#ds = ds;
    this.#pipeline = pipeline;
    this.#schema = schema;
    this.#batchSize = batchSize;
  }

  static async begin(pool: pg.Pool, ds: string, opts: { loadId: string; pipelineName: string; schema: Schema; batchSize?: number }): Promise<PostgresLoadSession> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const s = new PostgresLoadSession(client, ds, opts.loadId, opts.pipelineName, opts.schema, opts.batchSize ?? 10_000);
      const cols = await client.query<{ table_name: string; column_name: string }>(
        'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1',
        [ds],
      );
      for (const r of cols.rows) {
        let rel = s.#final.get(r.table_name);
        if (!rel) s.#final.set(r.table_name, (rel = { name: qualified(ds, r.table_name), columns: new Set() }));
        rel.columns.add(r.column_name);
      }
      return s;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw toLoadError(e, { pipeline: opts.pipelineName });
    }
  }

  add(table: string, row: Row, item: unknown, resource: string): boolean {
    let b = this.#buffers.get(table);
    if (!b) this.#buffers.set(table, (b = { rows: [], items: [], resource }));
    b.rows.push(row);
    b.items.push(item);
    return ++this.#buffered >= this.#batchSize;
  }

  async prepare(p: { drop: string[]; truncate: string[] }): Promise<void> {
    const drop = p.drop.filter((t) => this.#final.has(t));
    if (drop.length) {
      await this.#q(`DROP TABLE IF EXISTS ${drop.map((t) => qualified(this.#ds, t)).join(', ')} CASCADE`);
      for (const t of drop) this.#final.delete(t);
    }
    const truncate = p.truncate.filter((t) => this.#final.has(t));
    if (truncate.length) await this.#q(`TRUNCATE ${truncate.map((t) => qualified(this.#ds, t)).join(', ')}`);
  }

  async flush(): Promise<void> {
    // backpressure: at most one batch in flight while the next one is normalized
    await this.#pending;
    if (this.#buffered === 0) return;
    const batches = [...this.#buffers.entries()];
    this.#buffers.clear();
    this.#buffered = 0;
    const chain = (async () => {
      for (const [table, buf] of batches) await this.#copyBatch(table, buf);
    })();
    chain.catch(() => undefined); // surfaced by the next await of #pending
    this.#pending = chain;
  }

  #disposition(table: string): TableSchema {
    const root = rootTableOf(this.#schema, table);
    if (!root) throw new LoadError(`Table "${table}" is not in the schema`, { table, pipeline: this.#pipeline });
    return root;
  }

  async #q(text: string, params?: unknown[], table?: string): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(text, params as unknown[]);
    } catch (e) {
      throw toLoadError(e, { sql: text, table, pipeline: this.#pipeline });
    }
  }

  /** Creates or evolves the final table (and its staging table) to match the schema. */
  async #ensureTable(table: string): Promise<Relation> {
    const ts = this.#schema.tables[table];
    const cols = Object.values(ts.columns);
    let rel = this.#final.get(table);
    if (!rel) {
      await this.#q(createTableSql(this.#ds, ts, cols), undefined, table);
      rel = { name: qualified(this.#ds, table), columns: new Set() };
      this.#final.set(table, rel);
      // the table may have existed (created by a concurrent load): make sure every column is there
      await this.#q(addColumnsSql(this.#ds, table, cols), undefined, table);
      for (const c of cols) rel.columns.add(c.name);
    } else {
      const missing = cols.filter((c) => !rel!.columns.has(c.name));
      if (missing.length) {
        await this.#q(addColumnsSql(this.#ds, table, missing), undefined, table);
        for (const c of missing) rel.columns.add(c.name);
      }
    }
    const root = this.#disposition(table);
    if (root.writeDisposition === 'replace' || root.writeDisposition === 'merge') return this.#ensureStaging(table, cols);
    return rel;
  }

  async #ensureStaging(table: string, cols: ColumnSchema[]): Promise<Relation> {
    let st = this.#staging.get(table);
    if (!st) {
      const name = ident(`tide_stg_${this.#staging.size}`);
      // TEMP: visible to this load only (dlt#4297); dropped with the transaction
      await this.#q(`CREATE TEMP TABLE ${name} (${cols.map((c) => `${ident(c.name)} ${pgTypeOf(c)}`).join(', ')}) ON COMMIT DROP`, undefined, table);
      st = { name, columns: new Set(cols.map((c) => c.name)) };
      this.#staging.set(table, st);
    } else {
      const missing = cols.filter((c) => !st!.columns.has(c.name));
      if (missing.length) {
        await this.#q(`ALTER TABLE ${st.name} ${missing.map((c) => `ADD COLUMN ${ident(c.name)} ${pgTypeOf(c)}`).join(', ')}`, undefined, table);
        for (const c of missing) st.columns.add(c.name);
      }
    }
    return st;
  }

  async #copyBatch(table: string, buf: Buffer): Promise<void> {
    const target = await this.#ensureTable(table);
    const cols = Object.values(this.#schema.tables[table].columns);
    if (!target.encoder || target.encoderSize !== cols.length) {
      target.encoder = new RowEncoder(cols);
      target.encoderSize = cols.length;
    }
    const [schemaName, tableName] = splitQualified(target.name);
    const fail = (index: number, err: EncodeError): never => {
      throw new LoadError(`Cannot load value into column "${err.column}": ${err.message}`, {
        pipeline: this.#pipeline,
        resource: buf.resource,
        table,
        column: err.column,
        value: err.value,
        item: buf.items[index],
        loadId: this.loadId,
      });
    };
    try {
      await copyRows(this.#client, schemaName, tableName, target.encoder, buf.rows, fail);
    } catch (e) {
      if (e instanceof LoadError) throw e;
      const pe = e as pg.DatabaseError;
      const m = typeof pe?.where === 'string' ? COPY_WHERE.exec(pe.where) : null;
      const line = m ? Number(m[1]) : undefined;
      const base = toLoadError(e, { table, pipeline: this.#pipeline });
      throw new LoadError(`Postgres rejected a row of table "${table}"${line ? ` (COPY line ${line})` : ''}: ${pe?.message ?? e}`, {
        pipeline: this.#pipeline,
        resource: buf.resource,
        table,
        column: m?.[2],
        item: line ? buf.items[line - 1] : undefined,
        sqlState: base.sqlState,
        detail: base.detail,
        where: base.where,
        retryable: base.retryable,
        loadId: this.loadId,
        cause: e,
      });
    }
    this.rowCounts[table] = (this.rowCounts[table] ?? 0) + buf.rows.length;
  }

  async commit(req: CommitRequest): Promise<void> {
    await this.flush();
    await this.#pending;
    const ds = this.#ds;
    const pipelineLock = `tide:state:${ds}:${this.#pipeline}`;
    try {
      // per-table advisory locks in a fixed order: parallel loads into one table serialize, never deadlock
      const roots = [...new Set([...req.tables.map((t) => rootTableOf(req.schema, t.table)?.name ?? t.table), ...req.truncate])].sort();
      for (const r of roots) await this.#q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:table:${ds}.${r}`]);

      // tables that exist in the schema but got no rows in this load still need creating (e.g. a replace that emptied them)
      for (const root of roots) {
        const rootSchema = req.schema.tables[root];
        if (!rootSchema) continue;
        const family = [rootSchema, ...nestedTablesOf(req.schema, root)];
        const disposition = rootSchema.writeDisposition ?? 'append';
        if (disposition === 'replace') {
          const existing = family.filter((t) => this.#final.has(t.name)).map((t) => qualified(ds, t.name));
          if (existing.length) await this.#q(`TRUNCATE ${existing.join(', ')}`, undefined, root);
          for (const t of family) await this.#insertFromStaging(t.name);
        } else if (disposition === 'merge') {
          await applyMerge({
            q: (text, params) => this.#q(text, params, root),
            ds,
            schema: req.schema,
            root: rootSchema,
            family,
            staging: (t) => this.#staging.get(t)?.name,
            finalExists: (t) => this.#final.has(t),
            loadId: this.loadId,
          });
        }
      }

      if (req.resolveState) {
        await this.#q('SELECT pg_advisory_xact_lock(hashtext($1))', [pipelineLock]);
        const latest = await this.#q(
          `SELECT s.state FROM ${qualified(ds, STATE_TABLE)} s JOIN ${qualified(ds, LOADS_TABLE)} l ON l.load_id = s._dlt_load_id
           WHERE s.pipeline_name = $1 AND l.status = 0 ORDER BY s.version DESC, s._dlt_load_id DESC LIMIT 1`,
          [this.#pipeline],
        );
        const state = req.resolveState(latest.rows[0] ? decompressState(latest.rows[0].state) : undefined);
        if (state) {
          await this.#q(
            `INSERT INTO ${qualified(ds, STATE_TABLE)} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) VALUES ($1, $2, $3, $4, now(), $5, $6, $7)`,
            [state._state_version, STATE_ENGINE_VERSION, this.#pipeline, compressState(state), state._version_hash ?? null, this.loadId, uniqueId()],
          );
        }
      }
      if (req.schemaChanged) {
        const v = await this.#q(`SELECT coalesce(max(version), 0) + 1 AS v FROM ${qualified(ds, VERSION_TABLE)} WHERE schema_name = $1`, [req.schema.name]);
        const version = Number(v.rows[0].v);
        await this.#q(
          `INSERT INTO ${qualified(ds, VERSION_TABLE)} (version, engine_version, inserted_at, schema_name, version_hash, schema) VALUES ($1, 11, now(), $2, $3, $4)`,
          [version, req.schema.name, req.schemaVersionHash, JSON.stringify(toStoredSchema(req.schema, version))],
        );
      }
      const rows = Object.values(this.rowCounts).reduce((a, b) => a + b, 0);
      await this.#q(
        `INSERT INTO ${qualified(ds, LOADS_TABLE)} (load_id, schema_name, status, inserted_at, schema_version_hash, tide_pipeline_name, tide_interval_start, tide_interval_end, tide_rows) VALUES ($1, $2, 0, now(), $3, $4, $5, $6, $7)`,
        [this.loadId, req.schema.name, req.schemaVersionHash, this.#pipeline, req.interval?.start ?? null, req.interval?.end ?? null, rows],
      );
      await this.#q('COMMIT');
      this.#done = true;
    } catch (e) {
      await this.rollback();
      throw e;
    } finally {
      if (this.#done) this.#client.release();
    }
  }

  async #insertFromStaging(table: string): Promise<void> {
    const st = this.#staging.get(table);
    if (!st) return;
    await this.#ensureTable(table);
    const cols = [...st.columns].map(ident).join(', ');
    await this.#q(`INSERT INTO ${qualified(this.#ds, table)} (${cols}) SELECT ${cols} FROM ${st.name}`, undefined, table);
  }

  async rollback(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#pending.catch(() => undefined);
    try {
      await this.#client.query('ROLLBACK');
      this.#client.release();
    } catch (e) {
      // a broken connection must not go back to the pool
      this.#client.release(e as Error);
    }
  }
}

function pgTypeOf(c: ColumnSchema): string {
  return pgType(c);
}

function splitQualified(name: string): [string, string] {
  // name is either "schema"."table" or a temp "table"
  const m = /^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$/.exec(name);
  if (m) return [m[1].replace(/""/g, '"'), m[2].replace(/""/g, '"')];
  return ['pg_temp', name.slice(1, -1).replace(/""/g, '"')];
}
