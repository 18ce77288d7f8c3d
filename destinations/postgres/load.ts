/**
 * Loads into Postgres, in one transaction each.
 *
 * - `direct` (an in-process `run()`): rows stream in with COPY while the resources run — append
 *   tables straight into their table, replace and merge tables into TEMP staging tables visible to
 *   this load only — then dispositions, the state row, the schema version and the `_dlt_loads` row
 *   are written and everything commits together, or nothing does.
 * - `stage` (the Temporal `extract` activity): rows go to tables of the load in `<dataset>_staging`
 *   and a package row records what the load will do; that transaction commits on its own. Later
 *   `applyPackage` (the `load` activity) applies the package in one transaction, idempotently: a
 *   load id already in `_dlt_loads` is a no-op.
 */
import type pg from 'pg';
import type { CommitRequest, LoadSession, Row } from '../../pipeline/destination.ts';
import { LoadError } from '../../pipeline/errors.ts';
import type { ColumnSchema, DataType, Schema } from '../../pipeline/schema.ts';
import { LOADS_TABLE, STATE_TABLE, VERSION_TABLE, columnsRevision, hintedColumns, nestedTablesOf, rootTableOf, type ColumnsRevision } from '../../pipeline/schema.ts';
import { toStoredSchema } from '../../pipeline/schema-store.ts';
import { compressState, decodeTypedJson, decompressState, encodeTypedJson, mergeConcurrentState, STATE_ENGINE_VERSION } from '../../pipeline/state.ts';
import { uniqueId } from '../../pipeline/normalize/hash.ts';
import { toLoadError } from './client.ts';
import { copyBuffer, CopyBuffer, EncodeError, RowEncoder } from './copy.ts';
import { applyMerge, ensureKeyIndex, ensureUniqueKeyIndex, hardDeleteOf, planDeleteInsertBatch, planReplaceBatch, planUpsertBatch } from './merge.ts';
import { addColumnsSql, createTableSql, ident, pgType, qualified } from './sql.ts';

export type LoadMode = 'direct' | 'stage';

export const PACKAGES_TABLE = '_tide_packages';
export function stagingSchemaOf(ds: string): string {
  return `${ds}_staging`;
}

/** Rows of one table buffered for the next COPY: one CopyBuffer per column list the table had. */
interface TableRows {
  buffers: CopyBuffer[];
  /** the schema's columns revision when the last buffer's column list was checked */
  revision: number;
}

interface Relation {
  /** schema-qualified, quoted name */
  name: string;
  columns: Set<string>;
}

/** Batches queued for COPY before `flush()` waits (memory: this many batches of encoded rows). */
const IN_FLIGHT = 3;

/** Merge strategies whose batches can be merged while the load runs (load.ts #mergesEarly). */
const EARLY_STRATEGIES = new Set<string>(['delete-insert', 'upsert', 'insert-only']);

/** Primary-key types an early merge passes as a Postgres array parameter. */
const EARLY_KEY_TYPES = new Set<DataType | undefined>(['bigint', 'text', 'timestamp', 'date']);

const COPY_WHERE = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/;

/** A transaction on one connection, with the dataset's tables as they exist in it. */
class Tx {
  readonly final = new Map<string, Relation>();
  done = false;
  constructor(
    readonly client: pg.PoolClient,
    readonly ds: string,
    readonly pipeline: string,
  ) {}

  static async open(pool: pg.Pool, ds: string, pipeline: string): Promise<Tx> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw toLoadError(e, { pipeline });
    }
    try {
      await client.query('BEGIN');
      const tx = new Tx(client, ds, pipeline);
      const cols = await client.query<{ table_name: string; column_name: string }>(
        'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1',
        [ds],
      );
      for (const r of cols.rows) {
        let rel = tx.final.get(r.table_name);
        if (!rel) tx.final.set(r.table_name, (rel = { name: qualified(ds, r.table_name), columns: new Set() }));
        rel.columns.add(r.column_name);
      }
      return tx;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw toLoadError(e, { pipeline });
    }
  }

  async q(text: string, params?: unknown[], table?: string): Promise<pg.QueryResult> {
    try {
      return await this.client.query(text, params as unknown[]);
    } catch (e) {
      throw toLoadError(e, { sql: text, table, pipeline: this.pipeline });
    }
  }

  /** Creates or evolves a final table to match the schema. */
  async ensureFinal(schema: Schema, table: string): Promise<Relation> {
    const ts = schema.tables[table];
    const cols = Object.values(ts.columns);
    let rel = this.final.get(table);
    if (!rel) {
      await this.q(createTableSql(this.ds, ts, cols), undefined, table);
      rel = { name: qualified(this.ds, table), columns: new Set() };
      this.final.set(table, rel);
      // the table may have existed (created by a concurrent load): make sure every column is there
      if (cols.length) await this.q(addColumnsSql(this.ds, table, cols), undefined, table);
      for (const c of cols) rel.columns.add(c.name);
    } else {
      const missing = cols.filter((c) => !rel!.columns.has(c.name));
      if (missing.length) {
        await this.q(addColumnsSql(this.ds, table, missing), undefined, table);
        for (const c of missing) rel.columns.add(c.name);
      }
    }
    return rel;
  }

  async commit(): Promise<void> {
    await this.q('COMMIT');
    this.done = true;
    this.client.release();
  }

  async rollback(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.client.query('ROLLBACK');
      this.client.release();
    } catch (e) {
      // a broken connection must not go back to the pool
      this.client.release(e as Error);
    }
  }
}

/** What a staged package records: everything the load step needs, and nothing else. */
interface PackageRecord {
  request: Omit<CommitRequest, 'state'> & { state?: { base: string; draft: string; sourceName: string; touched: string[] } };
  prepare: { drop: string[]; truncate: string[] };
  staging: Record<string, string>;
  rowCounts: Record<string, number>;
}

export class PostgresLoadSession implements LoadSession {
  readonly rowCounts: Record<string, number> = {};
  readonly #tx: Tx;
  readonly #mode: LoadMode;
  readonly #schema: Schema;
  readonly #revision: ColumnsRevision;
  readonly #batchSize: number;
  readonly #buffers = new Map<string, TableRows>();
  /** staging tables of this load (TEMP in direct mode, `<dataset>_staging` tables in stage mode) */
  readonly #staging = new Map<string, Relation>();
  #prepare: { drop: string[]; truncate: string[] } = { drop: [], truncate: [] };
  #buffered = 0;
  #pending: Promise<void> = Promise.resolve();
  #inFlight = 0;

  /** the one root table this load writes (beginLoad's `onlyRoot`), when the caller knows it */
  readonly #onlyRoot: string | undefined;
  /** per merge root: true while every batch of it was merged early (#mergesEarly), false once one was staged */
  readonly #mergedEarly = new Map<string, boolean>();
  /** scratch tables of early-merged batches, per table (and their unquoted names) */
  readonly #batches = new Map<string, Relation>();
  readonly #batchNames = new Map<string, string>();

  private constructor(tx: Tx, readonly loadId: string, mode: LoadMode, schema: Schema, batchSize: number, onlyRoot: string | undefined) {
    this.#tx = tx;
    this.#mode = mode;
    this.#schema = schema;
    this.#revision = columnsRevision(schema);
    this.#batchSize = batchSize;
    this.#onlyRoot = onlyRoot;
  }

  static async begin(
    pool: pg.Pool,
    ds: string,
    opts: { loadId: string; pipelineName: string; schema: Schema; batchSize?: number; mode?: LoadMode; onlyRoot?: string },
  ): Promise<PostgresLoadSession> {
    const tx = await Tx.open(pool, ds, opts.pipelineName);
    return new PostgresLoadSession(tx, opts.loadId, opts.mode ?? 'direct', opts.schema, opts.batchSize ?? 10_000, opts.onlyRoot);
  }

  get #pipeline(): string {
    return this.#tx.pipeline;
  }

  async prepare(p: { drop: string[]; truncate: string[] }): Promise<void> {
    this.#prepare = { drop: [...p.drop], truncate: [...p.truncate] };
    if (this.#mode === 'direct') await applyPrepare(this.#tx, this.#prepare);
  }

  add(table: string, row: Row, item: unknown, resource: string): boolean {
    let b = this.#buffers.get(table);
    if (!b || b.revision !== this.#revision.value) b = this.#tableRows(table, b, resource);
    let buf = b.buffers[b.buffers.length - 1];
    if (buf.resource !== resource) b.buffers.push((buf = new CopyBuffer(buf.encoder, resource, buf.keyColumn, buf.flagColumn)));
    try {
      buf.push(row, item);
    } catch (e) {
      if (e instanceof EncodeError) {
        throw new LoadError(`Cannot load value into column "${e.column}": ${e.message}`, {
          pipeline: this.#pipeline,
          resource,
          table,
          column: e.column,
          value: e.value,
          item,
          loadId: this.loadId,
        });
      }
      throw e;
    }
    return ++this.#buffered >= this.#batchSize;
  }

  /** The buffers of `table`, with a new one when the table gained columns since the last row. */
  #tableRows(table: string, b: TableRows | undefined, resource: string): TableRows {
    const revision = this.#revision.value;
    const tableSchema = this.#schema.tables[table];
    if (!tableSchema) throw new LoadError(`Table "${table}" is not in the schema`, { table, pipeline: this.#pipeline });
    const last = b?.buffers[b.buffers.length - 1];
    let count = 0;
    for (const _ in tableSchema.columns) count++;
    if (b && last && last.encoder.columns.length === count) {
      b.revision = revision;
      return b;
    }
    const encoder = new RowEncoder(Object.values(tableSchema.columns));
    if (!b) this.#buffers.set(table, (b = { buffers: [], revision }));
    b.revision = revision;
    // an empty buffer of the old column list is replaced, not copied
    if (last && last.lines === 0) b.buffers.pop()!.release();
    const key = this.#earlyMergeKey(table);
    b.buffers.push(new CopyBuffer(encoder, resource, key, key === undefined ? undefined : hintedColumns(tableSchema, 'hardDelete')[0]));
    return b;
  }

  async flush(): Promise<void> {
    // backpressure: at most IN_FLIGHT batches queued for COPY while the next one is normalized
    // (Postgres' pace varies with checkpoints and the other core's load: one queued batch often leaves the
    // normalizer waiting)
    if (this.#inFlight >= IN_FLIGHT) await this.#pending;
    // one event-loop turn: the queued COPYs only move on when Postgres' replies are read, and a caller
    // that adds rows without awaiting any I/O would otherwise leave the server idle until the queue is full
    else await new Promise((resolve) => setImmediate(resolve));
    if (this.#buffered === 0) return;
    const batches = [...this.#buffers.entries()];
    this.#buffers.clear();
    this.#buffered = 0;
    const previous = this.#pending;
    this.#inFlight++;
    const chain = (async () => {
      try {
        await previous;
        for (const [table, b] of batches) for (const buf of b.buffers) if (buf.lines) await this.#copyBatch(table, buf);
      } finally {
        this.#inFlight--;
      }
    })();
    chain.catch(() => undefined); // surfaced by the next await of #pending
    this.#pending = chain;
  }

  async drain(): Promise<void> {
    await this.flush();
    await this.#pending;
  }

  /** Where rows of `table` go in this load. */
  async #target(table: string): Promise<Relation> {
    const root = rootTableOf(this.#schema, table);
    if (!root) throw new LoadError(`Table "${table}" is not in the schema`, { table, pipeline: this.#pipeline });
    const cols = Object.values(this.#schema.tables[table].columns);
    if (this.#mode === 'direct') {
      const rel = await this.#tx.ensureFinal(this.#schema, table);
      if (root.writeDisposition !== 'replace' && root.writeDisposition !== 'merge') return rel;
    }
    return this.#ensureStaging(table, cols);
  }

  async #ensureStaging(table: string, cols: ColumnSchema[]): Promise<Relation> {
    let st = this.#staging.get(table);
    const colDdl = (c: ColumnSchema) => `${ident(c.name)} ${pgType(c)}`;
    if (!st) {
      let name: string;
      if (this.#mode === 'direct') {
        // TEMP: visible to this load only (dlt#4297); dropped with the transaction
        name = ident(`tide_stg_${this.#staging.size}`);
        await this.#tx.q(`CREATE TEMP TABLE ${name} (${cols.map(colDdl).join(', ')}) ON COMMIT DROP`, undefined, table);
      } else {
        // a table of this load only, in the staging schema, until the load step applies it
        name = qualified(stagingSchemaOf(this.#tx.ds), `l${this.loadId.replace('.', '_')}_${this.#staging.size}`);
        await this.#tx.q(`CREATE TABLE ${name} (${cols.map(colDdl).join(', ')})`, undefined, table);
      }
      st = { name, columns: new Set(cols.map((c) => c.name)) };
      this.#staging.set(table, st);
    } else {
      const missing = cols.filter((c) => !st!.columns.has(c.name));
      if (missing.length) {
        await this.#tx.q(`ALTER TABLE ${st.name} ${missing.map((c) => `ADD COLUMN ${colDdl(c)}`).join(', ')}`, undefined, table);
        for (const c of missing) st.columns.add(c.name);
      }
    }
    return st;
  }

  async #copyBatch(table: string, buf: CopyBuffer): Promise<void> {
    const early = await this.#mergesEarly(table, buf);
    if (early && this.#copiesToFinal(table, buf)) return this.#replaceInFinal(table, early, buf);
    const target = early ? await this.#batchTable(table) : await this.#target(table);
    await this.#copyInto(table, target.name, buf);
    if (early) await this.#mergeBatch(table, early, buf, target);
  }

  /** COPY `buf` into `relation`; a row Postgres rejects becomes a LoadError naming its item. */
  async #copyInto(table: string, relation: string, buf: CopyBuffer): Promise<void> {
    const [schemaName, tableName] = splitQualified(relation);
    try {
      await copyBuffer(this.#tx.client, schemaName, tableName, buf);
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
    buf.release();
    this.rowCounts[table] = (this.rowCounts[table] ?? 0) + buf.lines;
  }

  /**
   * Whether an early-merged batch can skip the scratch table: delete-insert or upsert, no key twice in
   * the batch and no row flagged as a delete. Then replacing rows is deleting the batch's keys and
   * COPYing its rows straight into the final table (upsert too: one flat table with a unique key, the
   * updated row is the delete + insert of the same values).
   */
  #copiesToFinal(table: string, buf: CopyBuffer): boolean {
    const strategy = this.#schema.tables[table].mergeStrategy ?? 'delete-insert';
    if (strategy !== 'delete-insert' && strategy !== 'upsert') return false;
    return !buf.flagged && !buf.repeatsKeys;
  }

  async #replaceInFinal(table: string, key: string, buf: CopyBuffer): Promise<void> {
    const t = this.#schema.tables[table];
    const rel = await this.#tx.ensureFinal(this.#schema, table);
    const upsert = t.mergeStrategy === 'upsert';
    const del = planReplaceBatch({ final: { schema: this.#tx.ds, name: table }, key, keyType: pgType(t.columns[key]), keys: buf.keys!, upsert, loadId: this.loadId });
    const r = await this.#tx.q(del.sql, del.parameters as unknown[], table);
    if (upsert && (r.rows[0] as { repeated: number }).repeated > 0) throw this.#repeatedKey(table, key, buf);
    await this.#copyInto(table, rel.name, buf);
  }

  #repeatedKey(table: string, key: string, buf: CopyBuffer): LoadError {
    // (a key repeated inside one batch fails in the statement itself, like the whole-load upsert)
    return new LoadError(`A primary key value of table "${table}" appears more than once in this load: upsert needs unique primary keys in the data`, {
      pipeline: this.#pipeline,
      resource: buf.resource,
      table,
      column: key,
      sqlState: '21000',
      loadId: this.loadId,
    });
  }

  /**
   * Whether this batch of `table` is merged now rather than staged for the end of the load (the key
   * column when it is): a merge root this load alone writes (so its table lock can be taken now,
   * before any other), see #earlyMergeKey. Such a batch is COPY'd to a scratch table, then merged
   * into the final table (delete-insert: its keys deleted, its winners inserted; upsert and
   * insert-only: ON CONFLICT on the unique key index). Postgres does that on its own core while the
   * next batch is normalized, instead of after the last one. Once a batch of the table is staged, the
   * rest are too: the end of the load merges them, over what the early batches wrote.
   */
  async #mergesEarly(table: string, buf: CopyBuffer): Promise<string | undefined> {
    const t = this.#schema.tables[table];
    if (!t || t.parent || t.writeDisposition !== 'merge' || this.#mode !== 'direct') return undefined;
    const key = buf.keyColumn;
    let ok = key !== undefined && buf.keys !== undefined && this.#mergedEarly.get(table) !== false && this.#earlyMergeKey(table) === key;
    if (ok && !this.#mergedEarly.has(table)) {
      const q = (text: string, params?: unknown[]) => this.#tx.q(text, params, table);
      // the lock applyLoad would take: concurrent loads of this table merge one after the other
      await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:table:${this.#tx.ds}.${table}`]);
      await this.#tx.ensureFinal(this.#schema, table);
      if ((t.mergeStrategy ?? 'delete-insert') === 'delete-insert') await ensureKeyIndex({ q, ds: this.#tx.ds }, table, 'pk', [key!]);
      // without a unique key index (existing duplicates) the end of the load merges without ON CONFLICT
      else ok = await ensureUniqueKeyIndex({ q, ds: this.#tx.ds }, table, [key!]);
    }
    this.#mergedEarly.set(table, ok);
    return ok ? key : undefined;
  }

  /** The primary-key column of `table` when its batches can be merged early (see #mergesEarly). */
  #earlyMergeKey(table: string): string | undefined {
    if (this.#mode !== 'direct' || table !== this.#onlyRoot) return undefined;
    const t = this.#schema.tables[table];
    if (!t || t.parent || t.writeDisposition !== 'merge' || !EARLY_STRATEGIES.has(t.mergeStrategy ?? 'delete-insert')) return undefined;
    const cols = Object.values(t.columns);
    const pk = cols.filter((c) => c.primaryKey);
    // dedupSort picks a winner among all rows of the load: not batch by batch
    if (pk.length !== 1 || !EARLY_KEY_TYPES.has(pk[0].dataType) || cols.some((c) => c.mergeKey || c.dedupSort)) return undefined;
    if (nestedTablesOf(this.#schema, table).length) return undefined;
    return pk[0].name;
  }

  /** The scratch table a batch of `table` is COPY'd to before it is merged (TEMP, emptied per batch). */
  async #batchTable(table: string): Promise<Relation> {
    // every column the table has now, not only the batch's: the schema may have grown (a hardDelete
    // column, say) while this batch waited, and the merge statements refer to it. Taken before the
    // final table is evolved, which then has at least these (the schema grows during any await).
    const cols = Object.values(this.#schema.tables[table].columns);
    await this.#tx.ensureFinal(this.#schema, table);
    const colDdl = (c: ColumnSchema) => `${ident(c.name)} ${pgType(c)}`;
    let rel = this.#batches.get(table);
    if (!rel) {
      const unquoted = `tide_batch_${this.#batches.size}`;
      this.#batchNames.set(table, unquoted);
      rel = { name: ident(unquoted), columns: new Set(cols.map((c) => c.name)) };
      await this.#tx.q(`CREATE TEMP TABLE ${rel.name} (${cols.map(colDdl).join(', ')}) ON COMMIT DROP`, undefined, table);
      this.#batches.set(table, rel);
      return rel;
    }
    // emptied by TRUNCATE, not DELETE: rows of the next batch then lie in COPY order (ctid), which the
    // in-batch dedup relies on
    await this.#tx.q(`TRUNCATE ${rel.name}`, undefined, table);
    const missing = cols.filter((c) => !rel!.columns.has(c.name));
    if (missing.length) {
      await this.#tx.q(`ALTER TABLE ${rel.name} ${missing.map((c) => `ADD COLUMN ${colDdl(c)}`).join(', ')}`, undefined, table);
      for (const c of missing) rel.columns.add(c.name);
    }
    return rel;
  }

  async #mergeBatch(table: string, key: string, buf: CopyBuffer, batchTable: Relation): Promise<void> {
    const t = this.#schema.tables[table];
    const final = { schema: this.#tx.ds, name: table };
    const batch = this.#batchNames.get(table)!;
    const columns = [...batchTable.columns];
    const strategy = t.mergeStrategy ?? 'delete-insert';
    // a hardDelete column the schema gained after this batch was encoded is NULL in all its rows
    const hd = hardDeleteOf(t);
    const hardDelete = hd && batchTable.columns.has(hd.column) ? hd : undefined;
    const statements =
      strategy === 'delete-insert'
        ? planDeleteInsertBatch({ final, batch, columns, key, keyType: pgType(t.columns[key]), keys: buf.keys!, hardDelete, repeatsKeys: buf.repeatsKeys })
        : planUpsertBatch({ final, batch, columns, key, hardDelete, insertOnly: strategy === 'insert-only' });
    let r: pg.QueryResult | undefined;
    for (const q of statements) r = await this.#tx.q(q.sql, q.parameters as unknown[], table);
    if (strategy === 'upsert') {
      const { written, live } = r!.rows[0] as { written: number; live: number };
      if (written < live) throw this.#repeatedKey(table, key, buf);
    }
  }


  async commit(req: CommitRequest): Promise<void> {
    await this.flush();
    await this.#pending;
    try {
      if (this.#mode === 'direct') {
        await applyLoad(this.#tx, this.loadId, req, (t) => this.#staging.get(t)?.name, this.rowCounts);
      } else {
        const record: PackageRecord = {
          request: {
            ...req,
            state: req.state && {
              base: encodeTypedJson(req.state.base),
              draft: encodeTypedJson(req.state.draft),
              sourceName: req.state.sourceName,
              touched: req.state.touched,
            },
          },
          prepare: this.#prepare,
          staging: Object.fromEntries([...this.#staging].map(([t, r]) => [t, r.name])),
          rowCounts: this.rowCounts,
        };
        await this.#tx.q(
          `INSERT INTO ${qualified(stagingSchemaOf(this.#tx.ds), PACKAGES_TABLE)} (load_id, pipeline_name, created_at, package) VALUES ($1, $2, now(), $3)`,
          [this.loadId, this.#pipeline, JSON.stringify(record)],
        );
      }
      await this.#tx.commit();
    } catch (e) {
      await this.rollback();
      throw e;
    }
  }

  async rollback(): Promise<void> {
    await this.#pending.catch(() => undefined);
    await this.#tx.rollback();
  }
}

async function applyPrepare(tx: Tx, p: { drop: string[]; truncate: string[] }): Promise<void> {
  const drop = p.drop.filter((t) => tx.final.has(t));
  if (drop.length) {
    await tx.q(`DROP TABLE IF EXISTS ${drop.map((t) => qualified(tx.ds, t)).join(', ')} CASCADE`);
    for (const t of drop) tx.final.delete(t);
  }
  const truncate = p.truncate.filter((t) => tx.final.has(t));
  if (truncate.length) await tx.q(`TRUNCATE ${truncate.map((t) => qualified(tx.ds, t)).join(', ')}`);
}

/** The load step proper: dispositions, state, schema version, `_dlt_loads` — inside `tx`. */
async function applyLoad(
  tx: Tx,
  loadId: string,
  req: CommitRequest,
  staging: (table: string) => string | undefined,
  rowCounts: Record<string, number>,
): Promise<void> {
  const ds = tx.ds;
  // per-table advisory locks in a fixed order: parallel loads into one table serialize, never deadlock
  const roots = [...new Set([...req.tables.map((t) => rootTableOf(req.schema, t.table)?.name ?? t.table), ...req.truncate])].sort();
  for (const r of roots) await tx.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:table:${ds}.${r}`]);

  for (const root of roots) {
    const rootSchema = req.schema.tables[root];
    if (!rootSchema) continue;
    const family = [rootSchema, ...nestedTablesOf(req.schema, root)];
    const disposition = rootSchema.writeDisposition ?? 'append';
    if (disposition === 'replace') {
      const existing = family.filter((t) => tx.final.has(t.name)).map((t) => qualified(ds, t.name));
      if (existing.length) await tx.q(`TRUNCATE ${existing.join(', ')}`, undefined, root);
      for (const t of family) await insertFromStaging(tx, req.schema, t.name, staging(t.name));
    } else if (disposition === 'merge') {
      for (const t of family) if (staging(t.name)) await tx.ensureFinal(req.schema, t.name);
      await applyMerge({
        q: (text, params) => tx.q(text, params, root),
        ds,
        schema: req.schema,
        root: rootSchema,
        family,
        staging,
        finalExists: (t) => tx.final.has(t),
        finalColumns: (t) => [...(tx.final.get(t)?.columns ?? [])],
        loadId,
      });
    } else {
      // append: already in place in direct mode; from the staging tables in stage mode
      for (const t of family) await insertFromStaging(tx, req.schema, t.name, staging(t.name));
    }
  }

  if (req.state) {
    await tx.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:state:${ds}:${tx.pipeline}`]);
    const latest = await tx.q(
      `SELECT s.state FROM ${qualified(ds, STATE_TABLE)} s JOIN ${qualified(ds, LOADS_TABLE)} l ON l.load_id = s._dlt_load_id
       WHERE s.pipeline_name = $1 AND l.status = 0 ORDER BY s.version DESC, s._dlt_load_id DESC LIMIT 1`,
      [tx.pipeline],
    );
    const state = mergeConcurrentState(
      latest.rows[0] ? decompressState(latest.rows[0].state) : undefined,
      req.state.base,
      req.state.draft,
      req.state.sourceName,
      req.state.touched,
    );
    await tx.q(
      `INSERT INTO ${qualified(ds, STATE_TABLE)} (version, engine_version, pipeline_name, state, created_at, version_hash, _dlt_load_id, _dlt_id) VALUES ($1, $2, $3, $4, now(), $5, $6, $7)`,
      [state._state_version, STATE_ENGINE_VERSION, tx.pipeline, compressState(state), state._version_hash ?? null, loadId, uniqueId()],
    );
  }
  if (req.schemaChanged) {
    const v = await tx.q(`SELECT coalesce(max(version), 0) + 1 AS v FROM ${qualified(ds, VERSION_TABLE)} WHERE schema_name = $1`, [req.schema.name]);
    const version = Number(v.rows[0].v);
    await tx.q(
      `INSERT INTO ${qualified(ds, VERSION_TABLE)} (version, engine_version, inserted_at, schema_name, version_hash, schema) VALUES ($1, 11, now(), $2, $3, $4)`,
      [version, req.schema.name, req.schemaVersionHash, JSON.stringify(toStoredSchema(req.schema, version))],
    );
  }
  const rows = Object.values(rowCounts).reduce((a, b) => a + b, 0);
  await tx.q(
    `INSERT INTO ${qualified(ds, LOADS_TABLE)} (load_id, schema_name, status, inserted_at, schema_version_hash, tide_pipeline_name, tide_interval_start, tide_interval_end, tide_rows) VALUES ($1, $2, 0, now(), $3, $4, $5, $6, $7)`,
    [loadId, req.schema.name, req.schemaVersionHash, tx.pipeline, req.interval?.start ?? null, req.interval?.end ?? null, rows],
  );
}

async function insertFromStaging(tx: Tx, schema: Schema, table: string, staged: string | undefined): Promise<void> {
  if (!staged) return;
  await tx.ensureFinal(schema, table);
  const cols = Object.keys(schema.tables[table].columns).filter((c) => !schema.tables[table].columns[c].x_valid_from && !schema.tables[table].columns[c].x_valid_to);
  const list = cols.map(ident).join(', ');
  await tx.q(`INSERT INTO ${qualified(tx.ds, table)} (${list}) SELECT ${list} FROM ${staged}`, undefined, table);
}

export interface AppliedPackage {
  loadId: string;
  /** The schema (source) the package loaded. */
  schemaName?: string;
  /** false when the load id was already committed (a retried load step). */
  applied: boolean;
  tables: Record<string, number>;
  state?: string;
}

/**
 * The load step of a staged package: applies it in one transaction and drops its staging tables.
 * Idempotent by load id.
 */
export async function applyPackage(pool: pg.Pool, ds: string, pipeline: string, loadId: string): Promise<AppliedPackage> {
  const tx = await Tx.open(pool, ds, pipeline);
  try {
    // one load step per package at a time
    await tx.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:package:${ds}:${loadId}`]);
    const done = await tx.q(`SELECT 1 FROM ${qualified(ds, LOADS_TABLE)} WHERE load_id = $1`, [loadId]);
    const pkgRow = await tx.q(`SELECT package FROM ${qualified(stagingSchemaOf(ds), PACKAGES_TABLE)} WHERE load_id = $1`, [loadId]);
    if (done.rowCount) {
      await tx.rollback();
      return { loadId, applied: false, tables: pkgRow.rows[0] ? readPackage(pkgRow.rows[0].package).rowCounts : {} };
    }
    if (!pkgRow.rowCount) throw new LoadError(`Load package ${loadId} not found in ${stagingSchemaOf(ds)}: it was never staged or was dropped`, { pipeline, loadId });
    // stored as text, not jsonb: jsonb reorders keys, and the schema read back must hash the same
    const pkg = readPackage(pkgRow.rows[0].package);
    const r = pkg.request;
    const req: CommitRequest = {
      ...r,
      state: r.state && {
        base: decodeTypedJson(r.state.base) as never,
        draft: decodeTypedJson(r.state.draft) as never,
        sourceName: r.state.sourceName,
        touched: r.state.touched,
      },
    };
    await applyPrepare(tx, pkg.prepare);
    await applyLoad(tx, loadId, req, (t) => pkg.staging[t], pkg.rowCounts);
    const stagedTables = Object.values(pkg.staging);
    if (stagedTables.length) await tx.q(`DROP TABLE IF EXISTS ${stagedTables.join(', ')}`);
    await tx.q(`DELETE FROM ${qualified(stagingSchemaOf(ds), PACKAGES_TABLE)} WHERE load_id = $1`, [loadId]);
    await tx.commit();
    return { loadId, applied: true, tables: pkg.rowCounts, schemaName: req.schema.name };
  } catch (e) {
    await tx.rollback();
    throw e;
  }
}

/** The package column is text; datasets staged by an earlier tide have it as jsonb (already parsed). */
function readPackage(v: unknown): PackageRecord {
  return (typeof v === 'string' ? JSON.parse(v) : v) as PackageRecord;
}

function splitQualified(name: string): [string, string] {
  // name is either "schema"."table" or a temp "table"
  const m = /^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$/.exec(name);
  if (m) return [m[1].replace(/""/g, '"'), m[2].replace(/""/g, '"')];
  return ['pg_temp', name.slice(1, -1).replace(/""/g, '"')];
}

/**
 * Staged packages nobody will load: an extract whose worker died after staging but before it
 * reported leaves its package behind (the retry stages a new one). Packages older than
 * `olderThanHours` are dropped with their staging tables. Returns how many were dropped.
 */
export async function dropStalePackages(pool: pg.Pool, ds: string, olderThanHours: number): Promise<number> {
  const stale = await pool.query<{ load_id: string; package: string }>(
    `SELECT load_id, package FROM ${qualified(stagingSchemaOf(ds), PACKAGES_TABLE)} WHERE created_at < now() - make_interval(hours => $1)`,
    [olderThanHours],
  );
  for (const row of stale.rows) {
    const tx = await Tx.open(pool, ds, 'gc');
    try {
      await tx.q('SELECT pg_advisory_xact_lock(hashtext($1))', [`tide:package:${ds}:${row.load_id}`]);
      const tables = Object.values(readPackage(row.package).staging);
      if (tables.length) await tx.q(`DROP TABLE IF EXISTS ${tables.join(', ')}`);
      await tx.q(`DELETE FROM ${qualified(stagingSchemaOf(ds), PACKAGES_TABLE)} WHERE load_id = $1`, [row.load_id]);
      await tx.commit();
    } catch (e) {
      await tx.rollback();
      throw e;
    }
  }
  return stale.rows.length;
}
