/**
 * The COPY session of one load: rows are encoded into COPY buffers as they arrive, sent to Postgres
 * in batches with back-pressure, and the load ends in one transaction (or only stages, see below).
 *
 * The two load modes are two small strategies (target.ts), not a `'direct' | 'stage'` flag. They
 * differ in exactly three things: where a table's rows go (final and TEMP tables, or tables in the
 * staging schema), when `prepare` runs (at once, or recorded for the load step), and how the
 * transaction ends (the load step, or a package record). With a flag those were six branches spread
 * over the session and its early merge, each to be read with both modes in mind; as a `Target` each
 * mode reads top to bottom in one class and the session only buffers and copies. Only a
 * direct load merges early; that is decided once, when the session begins.
 */
import type pg from 'pg';
import { addRows, type TableCounts } from '../../pipeline/counts.ts';
import type { CommitRequest, LoadSession, Row } from '../../pipeline/destination.ts';
import { LoadError } from '../../pipeline/errors.ts';
import type { Schema } from '../../pipeline/schema.ts';
import { columnsRevision, hintedColumns, rootTableOf, type ColumnsRevision } from '../../pipeline/schema.ts';
import { CopyBuffer, EncodeError, RowEncoder } from './copy.ts';
import { EarlyMerge } from './early-merge.ts';
import { checkIntervalOverlap, type IsoRange } from './interval-replace.ts';
import type { Prepare } from './load.ts';
import { DirectTarget, StageTarget, type Target } from './target.ts';
import { Tx, type Relation } from './transaction.ts';

export type LoadMode = 'direct' | 'stage';

export interface SessionOptions {
  loadId: string;
  pipelineName: string;
  schema: Schema;
  /** rows buffered before the caller is asked to flush (default 10,000) */
  batchSize?: number;
  mode?: LoadMode;
  /** the one root table this load writes, when the caller knows it (allows the early merge) */
  onlyRoot?: string;
  /** stage mode: the package this session stages (default: the load id, a whole-source package) */
  packageId?: string;
  /** a run over a data interval: checked against the earlier loads' intervals before any row */
  interval?: IsoRange;
}

/** Rows of one table buffered for the next COPY: one CopyBuffer per column list the table had. */
interface TableRows {
  buffers: CopyBuffer[];
  /** the schema's columns revision when the last buffer's column list was checked */
  revision: number;
}

/** Batches queued for COPY before `flush()` waits (memory: this many batches of encoded rows). */
const IN_FLIGHT = 3;

export class PostgresLoadSession implements LoadSession {
  readonly rowCounts: TableCounts = {};
  readonly loadId: string;
  readonly #tx: Tx;
  readonly #target: Target;
  readonly #early: EarlyMerge | undefined;
  readonly #schema: Schema;
  readonly #revision: ColumnsRevision;
  readonly #batchSize: number;
  readonly #buffers = new Map<string, TableRows>();
  #buffered = 0;
  #pending: Promise<void> = Promise.resolve();
  #inFlight = 0;

  private constructor(tx: Tx, target: Target, early: EarlyMerge | undefined, opts: SessionOptions) {
    this.loadId = opts.loadId;
    this.#tx = tx;
    this.#target = target;
    this.#early = early;
    this.#schema = opts.schema;
    this.#revision = columnsRevision(opts.schema);
    this.#batchSize = opts.batchSize ?? 10_000;
  }

  static async begin(pool: pg.Pool, ds: string, opts: SessionOptions, createIndexes = false): Promise<PostgresLoadSession> {
    const { loadId, pipelineName, schema, onlyRoot } = opts;
    const tx = await Tx.open(pool, ds, pipelineName, createIndexes);
    if (opts.interval) {
      await checkIntervalOverlap(tx, pipelineName, opts.interval).catch(async (e) => {
        await tx.rollback();
        throw e;
      });
    }
    if (opts.mode === 'stage') {
      const { target, rowCounts } = await StageTarget.open(tx, loadId, opts.packageId ?? loadId, pipelineName).catch(async (e) => {
        await tx.rollback();
        throw e;
      });
      const session = new PostgresLoadSession(tx, target, undefined, opts);
      Object.assign(session.rowCounts, rowCounts);
      return session;
    }
    const early = onlyRoot === undefined ? undefined : new EarlyMerge(tx, schema, loadId, onlyRoot);
    return new PostgresLoadSession(tx, new DirectTarget(tx, schema, loadId, pipelineName), early, opts);
  }

  async prepare(p: Prepare): Promise<void> {
    await this.#target.prepare({ drop: [...p.drop], truncate: [...p.truncate] });
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
          pipeline: this.#tx.pipeline,
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
    if (!tableSchema) throw new LoadError(`Table "${table}" is not in the schema`, { table, pipeline: this.#tx.pipeline });
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
    const key = this.#early?.keyOf(table);
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
        for (const [table, b] of parentsFirst(this.#schema, batches)) {
          const bufs = b.buffers.filter((buf) => buf.lines);
          if (bufs.length) await this.#copyTable(table, bufs);
        }
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

  /** COPYs one flush's buffers of `table`: merged early when they can be, else to the target. */
  async #copyTable(table: string, bufs: CopyBuffer[]): Promise<void> {
    const rest = this.#early ? await this.#early.merge(table, bufs, (buf, rel) => this.#copy(table, rel, buf)) : bufs;
    for (const buf of rest) await this.#copyToTarget(table, buf);
  }

  async #copyToTarget(table: string, buf: CopyBuffer): Promise<void> {
    const root = rootTableOf(this.#schema, table);
    if (!root) throw new LoadError(`Table "${table}" is not in the schema`, { table, pipeline: this.#tx.pipeline });
    // the columns as of now: the schema may grow while the target's DDL is awaited
    const columns = Object.values(this.#schema.tables[table].columns);
    await this.#copy(table, await this.#target.relationFor(table, root, columns), buf);
  }

  async #copy(table: string, rel: Relation, buf: CopyBuffer): Promise<void> {
    await this.#tx.copy(table, rel, buf, this.loadId);
    buf.release();
    addRows(this.rowCounts, table, buf.lines);
  }

  async commit(req: CommitRequest): Promise<void> {
    await this.drain();
    await this.#tx.commitAfter(async () => {
      await this.#early?.finish();
      await this.#target.finish(req, this.rowCounts);
    });
  }

  async checkpoint(progress: () => string): Promise<boolean> {
    await this.drain();
    return this.#target.checkpoint(progress(), this.rowCounts);
  }

  async rollback(): Promise<void> {
    await this.#pending.catch(() => undefined);
    await this.#tx.rollback();
  }
}

/**
 * The tables of one flush, each after its parent (else in the order their rows came): the early
 * merge decides where a root's rows go, and its nested tables' rows of the same items follow them.
 */
function parentsFirst(schema: Schema, batches: [string, TableRows][]): [string, TableRows][] {
  const depth = (table: string) => {
    let d = 0;
    for (let t = schema.tables[table]; t?.parent; t = schema.tables[t.parent]) d++;
    return d;
  };
  return batches.map((b) => [depth(b[0]), b] as const).sort((x, y) => x[0] - y[0]).map(([, b]) => b);
}
