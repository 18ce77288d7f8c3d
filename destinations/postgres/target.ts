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
import { AlreadyLoadedError } from '../../pipeline/errors.ts';
import type { ColumnSchema, Schema, TableSchema } from '../../pipeline/schema.ts';
import { applyLoad, applyPrepare, type Prepare } from './load.ts';
import { dropLeftovers, partialPackage, stagedRecord, stagingPrefix, writePackage } from './package.ts';
import { stagingSchemaOf } from './sql.ts';
import { isLoaded } from './state.ts';
import { LoadTables, loadRelation, packageLock, type Relation, type Tx } from './transaction.ts';

export interface Target {
  /** Refresh: tables to drop or empty before this load's rows land. */
  prepare(p: Prepare): Promise<void>;
  /** The relation a batch of `table` (of root table `root`, with `columns` now) is COPY'd to. */
  relationFor(table: string, root: TableSchema, columns: ColumnSchema[]): Promise<Relation>;
  /** Ends the load inside its transaction (the caller commits). */
  finish(req: CommitRequest, rowCounts: TableCounts): Promise<void>;
  /** Commits the rows so far with `progress` so a later attempt goes on from here; false when this target cannot keep them. */
  checkpoint(progress: string, rowCounts: TableCounts): Promise<boolean>;
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

  async finish(request: CommitRequest, rowCounts: TableCounts): Promise<void> {
    // an orchestrator's retried run carries the load id of its first attempt: once is enough
    await this.#tx.lock(packageLock(this.#tx.ds, this.#loadId));
    if (await isLoaded(this.#tx, this.#tx.ds, this.#loadId)) {
      throw new AlreadyLoadedError(`Load ${this.#loadId} was committed by an earlier attempt`, { pipeline: this.#pipeline, loadId: this.#loadId });
    }
    const staging = (t: string) => this.#staging.get(t)?.name;
    await applyLoad(this.#tx, { loadId: this.#loadId, pipeline: this.#pipeline, request, staging, rowCounts });
  }

  /** One transaction holds a direct load: nothing of it can outlive a crash. */
  async checkpoint(): Promise<boolean> {
    return false;
  }
}

export class StageTarget implements Target {
  readonly #tx: Tx;
  readonly #packageId: string;
  readonly #pipeline: string;
  /** a table of this package only, in the staging schema, until the load step applies it */
  readonly #staging: LoadTables;
  #prepare: Prepare = { drop: [], truncate: [] };

  private constructor(tx: Tx, loadId: string, packageId: string, pipeline: string) {
    this.#tx = tx;
    this.#packageId = packageId;
    this.#pipeline = pipeline;
    const prefix = stagingPrefix(loadId, packageId);
    this.#staging = new LoadTables(tx, false, (n) => loadRelation(stagingSchemaOf(tx.ds), `${prefix}${n}`));
  }

  /**
   * The target of package `packageId` (the load id for a whole-source package). A package an earlier
   * attempt checkpointed keeps its staging tables: the rows it returns are the ones committed then.
   */
  static async open(tx: Tx, loadId: string, packageId: string, pipeline: string): Promise<{ target: StageTarget; rowCounts?: TableCounts }> {
    const target = new StageTarget(tx, loadId, packageId, pipeline);
    // one attempt of a package at a time (a zombie attempt waits here until the live one commits)
    await tx.lock(packageLock(tx.ds, packageId));
    const partial = await partialPackage(tx, packageId);
    if (!partial) {
      await dropLeftovers(tx, stagingPrefix(loadId, packageId));
      return { target };
    }
    for (const [table, name] of Object.entries(partial.staging)) target.#staging.adopt(table, name, partial.columns[table] ?? []);
    return { target, rowCounts: partial.rowCounts };
  }

  async prepare(p: Prepare): Promise<void> {
    this.#prepare = p;
  }

  relationFor(table: string, _root: TableSchema, columns: ColumnSchema[]): Promise<Relation> {
    return this.#staging.ensure(table, columns);
  }

  finish(req: CommitRequest, rowCounts: TableCounts): Promise<void> {
    return writePackage(this.#tx, this.#packageId, this.#pipeline, stagedRecord(req, this.#prepare, this.#staging.names(), rowCounts));
  }

  async checkpoint(progress: string, rowCounts: TableCounts): Promise<boolean> {
    const record = { status: 'partial' as const, progress, staging: this.#staging.names(), columns: this.#staging.columns(), rowCounts: structuredClone(rowCounts) };
    await writePackage(this.#tx, this.#packageId, this.#pipeline, record);
    await this.#tx.commitAndContinue();
    await this.#tx.lock(packageLock(this.#tx.ds, this.#packageId));
    return true;
  }
}
