/**
 * Where a load's rows go and how its transaction ends, one class per load mode (see session.ts for
 * why these are two strategies and not a flag):
 *
 * - `DirectTarget` (an in-process `run()`): append tables get their rows straight into the final
 *   table, replace and merge tables into TEMP staging tables visible to this load only; at the end
 *   the load step runs in the same transaction.
 * - `StageTarget` (the Temporal `extract` activity): every table's rows go to tables of this load in
 *   `<dataset>_staging`, and the end records the package for the load step (package.ts).
 */
import type { TableCounts } from '../../pipeline/counts.ts';
import type { CommitRequest } from '../../pipeline/destination.ts';
import type { ColumnSchema, Schema, TableSchema } from '../../pipeline/schema.ts';
import { applyLoad, applyPrepare, type Prepare } from './load.ts';
import { packageRecord, writePackage } from './package.ts';
import { stagingSchemaOf } from './sql.ts';
import { LoadTables, loadRelation, type Relation, type Tx } from './transaction.ts';

export interface Target {
  /** Refresh: tables to drop or empty before this load's rows land. */
  prepare(p: Prepare): Promise<void>;
  /** The relation a batch of `table` (of root table `root`, with `columns` now) is COPY'd to. */
  relationFor(table: string, root: TableSchema, columns: ColumnSchema[]): Promise<Relation>;
  /** Ends the load inside its transaction (the caller commits). */
  finish(req: CommitRequest, rowCounts: TableCounts): Promise<void>;
}

export class DirectTarget implements Target {
  readonly #tx: Tx;
  readonly #schema: Schema;
  readonly #loadId: string;
  readonly #pipeline: string;
  /** TEMP: visible to this load only (dlt issue 4297), dropped with the transaction */
  readonly #staging: LoadTables;

  constructor(tx: Tx, schema: Schema, loadId: string, pipeline: string) {
    this.#tx = tx;
    this.#schema = schema;
    this.#loadId = loadId;
    this.#pipeline = pipeline;
    this.#staging = new LoadTables(tx, true, (n) => loadRelation(undefined, `tide_stg_${n}`));
  }

  prepare(p: Prepare): Promise<void> {
    return applyPrepare(this.#tx, p);
  }

  async relationFor(table: string, root: TableSchema, columns: ColumnSchema[]): Promise<Relation> {
    const final = await this.#tx.ensureFinal(this.#schema, table);
    if (root.writeDisposition !== 'replace' && root.writeDisposition !== 'merge') return final;
    return this.#staging.ensure(table, columns);
  }

  finish(request: CommitRequest, rowCounts: TableCounts): Promise<void> {
    const staging = (t: string) => this.#staging.get(t)?.name;
    return applyLoad(this.#tx, { loadId: this.#loadId, pipeline: this.#pipeline, request, staging, rowCounts });
  }
}

export class StageTarget implements Target {
  readonly #tx: Tx;
  readonly #loadId: string;
  readonly #pipeline: string;
  /** a table of this load only, in the staging schema, until the load step applies it */
  readonly #staging: LoadTables;
  #prepare: Prepare = { drop: [], truncate: [] };

  constructor(tx: Tx, loadId: string, pipeline: string) {
    this.#tx = tx;
    this.#loadId = loadId;
    this.#pipeline = pipeline;
    const prefix = `l${loadId.replace('.', '_')}_`;
    this.#staging = new LoadTables(tx, false, (n) => loadRelation(stagingSchemaOf(tx.ds), `${prefix}${n}`));
  }

  async prepare(p: Prepare): Promise<void> {
    this.#prepare = p;
  }

  relationFor(table: string, _root: TableSchema, columns: ColumnSchema[]): Promise<Relation> {
    return this.#staging.ensure(table, columns);
  }

  finish(req: CommitRequest, rowCounts: TableCounts): Promise<void> {
    return writePackage(this.#tx, this.#loadId, this.#pipeline, packageRecord(req, this.#prepare, this.#staging.names(), rowCounts));
  }
}
