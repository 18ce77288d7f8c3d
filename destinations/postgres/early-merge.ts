/**
 * Merging batch by batch while rows still arrive. A merge root that a direct load alone writes (so
 * its table lock can be taken at once, before any other) with a single primary-key column gets each
 * batch merged into the final table right after its COPY (delete-insert: its keys deleted, its rows
 * inserted; upsert and insert-only: ON CONFLICT on the unique key index). Postgres does that on its
 * own core while the next batch is normalized, instead of after the last one. Once a batch of the
 * table is staged instead, the rest are too: the end of the load merges them over what the early
 * batches wrote. The result equals the whole-load merge's.
 */
import type pg from 'pg';
import { LoadError } from '../../pipeline/errors.ts';
import type { DataType, Schema } from '../../pipeline/schema.ts';
import { nestedTablesOf } from '../../pipeline/schema.ts';
import type { CopyBuffer } from './copy.ts';
import { ensureKeyIndex, ensureUniqueKeyIndex, hardDeleteOf, planDeleteInsertBatch, planReplaceBatch, planUpsertBatch, strategyOf } from './merge.ts';
import { pgType, truncateSql } from './sql.ts';
import { LoadTables, loadRelation, tableLock, type Relation, type Tx } from './transaction.ts';

/** Merge strategies whose batches can be merged while the load runs. */
const EARLY_STRATEGIES = new Set<string>(['delete-insert', 'upsert', 'insert-only']);

/** Primary-key types an early merge passes as a Postgres array parameter. */
const EARLY_KEY_TYPES = new Set<DataType | undefined>(['bigint', 'text', 'timestamp', 'date']);

/** COPYs a buffer into a relation (and counts its rows); the session's. */
export type CopyInto = (buf: CopyBuffer, rel: Relation) => Promise<void>;

export class EarlyMerge {
  readonly #tx: Tx;
  readonly #schema: Schema;
  readonly #loadId: string;
  /** the one root table this load writes */
  readonly #onlyRoot: string;
  /** per merge root: true while every batch of it was merged early, false once one was staged */
  readonly #mergedEarly = new Map<string, boolean>();
  /** scratch tables a batch is COPY'd to before it is merged (TEMP, emptied per batch) */
  readonly #batches: LoadTables;

  constructor(tx: Tx, schema: Schema, loadId: string, onlyRoot: string) {
    this.#tx = tx;
    this.#schema = schema;
    this.#loadId = loadId;
    this.#onlyRoot = onlyRoot;
    this.#batches = new LoadTables(tx, true, (n) => loadRelation(undefined, `tide_batch_${n}`));
  }

  /** The primary-key column of `table` when its batches can be merged early: buffers then collect its values. */
  keyOf(table: string): string | undefined {
    if (table !== this.#onlyRoot) return undefined;
    const t = this.#schema.tables[table];
    if (!t || t.parent || t.writeDisposition !== 'merge' || !EARLY_STRATEGIES.has(strategyOf(t))) return undefined;
    const cols = Object.values(t.columns);
    const pk = cols.filter((c) => c.primaryKey);
    // dedupSort picks a winner among all rows of the load: not batch by batch
    if (pk.length !== 1 || !EARLY_KEY_TYPES.has(pk[0].dataType) || cols.some((c) => c.mergeKey || c.dedupSort)) return undefined;
    if (nestedTablesOf(this.#schema, table).length) return undefined;
    return pk[0].name;
  }

  /**
   * Merges this flush's buffers of `table` now, when it can, COPYing them with `copy`; returns the
   * buffers left for the target (staged, merged at the load's end).
   */
  async merge(table: string, bufs: CopyBuffer[], copy: CopyInto): Promise<CopyBuffer[]> {
    const rest: CopyBuffer[] = [];
    for (const buf of bufs) if (!(await this.#mergeFlat(table, buf, copy))) rest.push(buf);
    return rest;
  }

  /** A batch of a root, merged now when it can (then true: the batch is done). */
  async #mergeFlat(table: string, buf: CopyBuffer, copy: CopyInto): Promise<boolean> {
    const key = await this.#mergesEarly(table, [buf], true);
    if (key === undefined) return false;
    if (this.#copiesToFinal(table, buf)) {
      await this.#replaceInFinal(table, key, buf, copy);
      return true;
    }
    const batch = await this.#batchTable(table);
    await copy(buf, batch);
    await this.#mergeBatch(table, key, buf, batch);
    return true;
  }

  /**
   * The key column when these buffers of `table` (one batch; `eligible`: their rows allow it) are
   * merged now. The first such batch takes the table lock and the key index; once a batch is not, no
   * later one is.
   */
  async #mergesEarly(table: string, bufs: CopyBuffer[], eligible: boolean): Promise<string | undefined> {
    const key = this.keyOf(table);
    let ok = eligible && key !== undefined && this.#mergedEarly.get(table) !== false && bufs.every((b) => b.keys !== undefined && b.keyColumn === key);
    if (ok && !this.#mergedEarly.has(table)) ok = await this.#begin(table, key!);
    this.#mergedEarly.set(table, ok);
    return ok ? key : undefined;
  }

  /** Before the first early batch: the lock the load step would take, the final table and its key index (false: none possible). */
  async #begin(table: string, key: string): Promise<boolean> {
    const q = (text: string, params?: unknown[]) => this.#tx.q(text, params, table);
    // concurrent loads of this table merge one after the other
    await this.#tx.lock(tableLock(this.#tx.ds, table), table);
    await this.#tx.ensureFinal(this.#schema, table);
    if (strategyOf(this.#schema.tables[table]) === 'delete-insert') {
      await ensureKeyIndex({ q, ds: this.#tx.ds }, table, 'pk', [key]);
      return true;
    }
    // without a unique key index (existing duplicates) the end of the load merges without ON CONFLICT
    return ensureUniqueKeyIndex({ q, ds: this.#tx.ds }, table, [key]);
  }

  /**
   * Whether an early-merged batch can skip the scratch table: delete-insert or upsert, no key twice in
   * the batch and no row flagged as a delete. Then replacing rows is deleting the batch's keys and
   * COPYing its rows straight into the final table (upsert too: one flat table with a unique key, the
   * updated row is the delete + insert of the same values).
   */
  #copiesToFinal(table: string, buf: CopyBuffer): boolean {
    const strategy = strategyOf(this.#schema.tables[table]);
    if (strategy !== 'delete-insert' && strategy !== 'upsert') return false;
    return !buf.flagged && !buf.repeatsKeys;
  }

  async #replaceInFinal(table: string, key: string, buf: CopyBuffer, copy: CopyInto): Promise<void> {
    const t = this.#schema.tables[table];
    const rel = await this.#tx.ensureFinal(this.#schema, table);
    const upsert = t.mergeStrategy === 'upsert';
    const del = planReplaceBatch({ final: { schema: this.#tx.ds, name: table }, key, keyType: pgType(t.columns[key]), keys: buf.keys!, upsert, loadId: this.#loadId });
    const r = await this.#tx.q(del.sql, del.parameters as unknown[], table);
    if (upsert && (r.rows[0] as { repeated: number }).repeated > 0) throw this.#repeatedKey(table, key, buf);
    await copy(buf, rel);
  }

  /** The scratch table a batch of `table` is COPY'd to before it is merged (TEMP, emptied per batch). */
  async #batchTable(table: string): Promise<Relation> {
    // every column the table has now, not only the batch's: the schema may have grown (a hardDelete
    // column, say) while this batch waited, and the merge statements refer to it. Taken before the
    // final table is evolved, which then has at least these (the schema grows during any await).
    const cols = Object.values(this.#schema.tables[table].columns);
    await this.#tx.ensureFinal(this.#schema, table);
    const used = this.#batches.get(table);
    // emptied by TRUNCATE, not DELETE: rows of the next batch then lie in COPY order (ctid), which the
    // in-batch dedup relies on
    if (used) await this.#tx.q(truncateSql([used.name]), undefined, table);
    return this.#batches.ensure(table, cols);
  }

  async #mergeBatch(table: string, key: string, buf: CopyBuffer, batchTable: Relation): Promise<void> {
    const t = this.#schema.tables[table];
    const final = { schema: this.#tx.ds, name: table };
    const batch = batchTable.table;
    const columns = [...batchTable.columns];
    const strategy = strategyOf(t);
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

  #repeatedKey(table: string, key: string, buf: CopyBuffer): LoadError {
    // (a key repeated inside one batch fails in the statement itself, like the whole-load upsert)
    return new LoadError(`A primary key value of table "${table}" appears more than once in this load: upsert needs unique primary keys in the data`, {
      pipeline: this.#tx.pipeline,
      resource: buf.resource,
      table,
      column: key,
      sqlState: '21000',
      loadId: this.#loadId,
    });
  }
}
