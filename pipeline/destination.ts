/**
 * The destination interface the engine loads through. `destinations/postgres` implements it; the
 * engine never imports a database driver.
 */
import type { Interval } from './interval.ts';
import type { TableCounts } from './counts.ts';
import type { Schema, WriteDispositionName } from './schema.ts';
import type { PipelineState } from './state.ts';
import type { RunLogKey, RunLogLine, StoredRunLogLine } from './run-log.ts';

export type Row = Record<string, unknown>;

/** A load's data for one table, applied at commit with its disposition. */
export interface TableLoadPlan {
  table: string;
  disposition: WriteDispositionName;
  /** Rows staged for this table in this load. */
  rows: number;
}

export interface StateCommit {
  base: PipelineState;
  draft: PipelineState;
  sourceName: string;
  touched: string[];
}

export interface CommitRequest {
  schema: Schema;
  /** Root tables (and their nested tables) of this load with their dispositions. */
  tables: TableLoadPlan[];
  /** Replace tables of extracted resources that produced no rows: emptied in this load. */
  truncate: string[];
  /**
   * The state to commit. Inside the load transaction, under a per-pipeline lock, the destination
   * reads the newest committed state: if another run committed since `base` was read, `draft`'s
   * changes (the touched resources, the source keys it changed) are laid over it.
   */
  state?: StateCommit;
  schemaChanged: boolean;
  schemaVersionHash: string;
  /** The data interval the load covered, recorded in `_dlt_loads` (tide's ledger columns). */
  interval?: { start: string; end: string };
  /** Components of a decomposed run that failed: the ledger row names them. */
  failedComponents?: string[];
  /** The run's params (`ctx.params`), recorded in the ledger row as JSON. */
  params?: Record<string, unknown>;
  /**
   * A run over `interval`: the append root tables (with their nested tables) whose rows from earlier
   * loads of this pipeline over the same interval, or intervals inside it, are deleted in this load.
   */
  intervalReplace?: string[];
}

/** One load: rows streamed in, then one transaction that applies everything. */
export interface LoadSession {
  readonly loadId: string;
  /** Buffers a row of `table` (normalized); `item` is the item it came from, for error messages. Returns true when buffers are full: call flush(). */
  add(table: string, row: Row, item: unknown, resource: string): boolean;
  /** Refresh (the `refresh` run option) inside the load transaction: drop tables, or empty them. */
  prepare(p: { drop: string[]; truncate: string[] }): Promise<void>;
  /** Sends buffered rows to the database (COPY); the last batch may still be in flight. */
  flush(): Promise<void>;
  /** Sends everything buffered and waits until the database has it (row counts final). */
  drain(): Promise<void>;
  /** Applies dispositions, writes state / schema / `_dlt_loads`, commits. */
  commit(req: CommitRequest): Promise<void>;
  /**
   * Stage mode: commits the rows sent so far with `progress()` (opaque to the destination), so a later
   * attempt of the same package goes on from here. A direct load keeps nothing: false.
   */
  checkpoint(progress: () => string): Promise<boolean>;
  /** Discards everything of this load. */
  rollback(): Promise<void>;
  /** Rows sent so far per table. */
  readonly rowCounts: Readonly<TableCounts>;
}

/** What an earlier attempt of a staged package left: the whole package, or its last checkpoint. */
export type StagedPackage = { status: 'staged'; tables: TableCounts } | { status: 'partial'; progress: string; tables: TableCounts };

export interface RestoredState {
  state?: PipelineState;
  schema?: Schema;
}

/** A committed load of a pipeline, as the destination's ledger (`_dlt_loads`) records it. */
export interface LoadRecord {
  loadId: string;
  insertedAt: Date;
  /** Rows the load wrote; null in a row tide did not write (dlt writes no row count). */
  rows: number | null;
  /** The data interval the load covered, when it had one. */
  interval?: Interval;
  /** Components of a decomposed run that failed while this load committed the others. */
  failedComponents?: string[];
  /** The params of the run (`ctx.params`), when it had any. */
  params?: Record<string, unknown>;
}

export type RunOutcome = 'success' | 'failure';

/** A pipeline's run outcomes as of one run: what `pauseOnFailure` and the `recovered` event read. */
export interface OutcomeStreak {
  /** Failed runs in a row, ending with this run (0 when it succeeded). */
  consecutiveFailures: number;
  /** Failed runs in a row just before this run. */
  failuresBefore: number;
  /** The outcome recorded before this run's (none for the first run recorded). */
  previous?: RunOutcome;
}

/** A data table of the dataset and how many rows it holds. */
export interface TableCount {
  table: string;
  rows: number;
}

export interface DestinationClient {
  readonly datasetName: string;
  /** Whether the dataset (its state table) exists. */
  datasetExists(): Promise<boolean>;
  /** Creates the dataset and the bookkeeping tables when missing. */
  ensureDataset(): Promise<void>;
  /** The newest state of a completed load, and the newest stored schema. */
  restore(pipelineName: string, schemaName: string): Promise<RestoredState>;
  /**
   * Starts a load. `direct`: rows and the load commit in one transaction (`commit`). `stage`:
   * `commit` only stages the package; `loadPackage` applies it later, idempotently.
   */
  /**
   * `onlyRoot`: the caller promises that this load writes rows of this root table (and its nested
   * tables) only, and truncates or drops nothing else. A destination may then start merging while
   * rows still arrive (Postgres: delete-insert deletes the replaced rows batch by batch).
   */
  /** `packageId` (stage mode): the package this load stages; a partial one of an earlier attempt is continued. */
  /**
   * `interval`: a run over a data interval; an earlier load of the pipeline whose interval partly
   * overlaps it fails the load here, before any row is written (IntervalOverlapError).
   */
  beginLoad(opts: {
    loadId: string;
    pipelineName: string;
    schema: Schema;
    batchSize?: number;
    mode?: 'direct' | 'stage';
    onlyRoot?: string;
    packageId?: string;
    interval?: { start: string; end: string };
  }): Promise<LoadSession>;
  /** What an earlier attempt left of a staged package, if anything. */
  stagedPackage(packageId: string): Promise<StagedPackage | undefined>;
  /**
   * Applies the staged packages of load `loadId` (by default the one whole-source package of that id)
   * in one transaction; a load id already committed is a no-op (`applied: false`).
   */
  loadPackages(pipelineName: string, loadId: string, packageIds?: string[], failedComponents?: string[]): Promise<{ applied: boolean; tables: TableCounts; schemaName?: string }>;
  /** Drops staged packages that will not be loaded. */
  discardPackages(packageIds: string[]): Promise<void>;
  /** Whether a load id is in the ledger. */
  isLoaded(loadId: string): Promise<boolean>;
  /** Whether a notification (by its idempotency key) was delivered; `markNotified` records that it was. */
  wasNotified(key: string): Promise<boolean>;
  markNotified(key: string): Promise<void>;
  /** Records how a run ended (once per run key) and reads the pipeline's failures in a row as of it. */
  recordOutcome(pipelineName: string, runKey: string, outcome: RunOutcome): Promise<OutcomeStreak>;
  /** Keeps log lines of a run (outside any load: the lines of a failed attempt are kept too). */
  appendRunLog(key: RunLogKey, lines: RunLogLine[]): Promise<void>;
  /** The kept lines of a pipeline's run, by its Temporal run id, workflow id or load id, oldest first. */
  runLog(pipelineName: string, run: string): Promise<StoredRunLogLine[]>;
  /** Drops staged packages older than the given age that no load step will apply (their extract's worker died). */
  dropStalePackages(olderThanHours: number): Promise<number>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The newest `limit` loads of a pipeline, newest first (none when the dataset does not exist). */
  loads(pipelineName: string, limit: number): Promise<LoadRecord[]>;
  /**
   * The committed loads of a pipeline whose data interval meets `[from, to)`, oldest first (none when
   * the dataset or the ledger's interval columns do not exist): what `tide intervals` and backfill
   * planning read.
   */
  intervalLoads(pipelineName: string, from: string, to: string): Promise<LoadRecord[]>;
  /** The data tables of the dataset (not the `_dlt_*` bookkeeping tables) with their row counts, by name. */
  tableCounts(): Promise<TableCount[]>;
  /** The first `limit` rows of a data table, in no particular order. */
  preview(table: string, limit: number): Promise<Row[]>;
  /** Drops tables (and their rows) of the dataset. */
  dropTables(tables: string[]): Promise<void>;
  /** Drops the whole dataset schema. */
  dropDataset(): Promise<void>;
  close(): Promise<void>;
}

/** A destination: how to open a client for a dataset. */
export interface Destination {
  readonly type: string;
  open(datasetName: string): Promise<DestinationClient>;
  /** Releases shared resources (pools, an embedded server this destination started). */
  close(): Promise<void>;
}
