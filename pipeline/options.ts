/**
 * What `pipeline()` and `run()` take and give, and the option defaults (the only place they are
 * decided). The engine needs a destination handed to it: the package entry supplies `postgres()`.
 */
import { join } from 'node:path';
import { defaultPipelinesDir } from '../common/home.ts';
import type { Destination } from './destination.ts';
import { ConfigurationError } from './errors.ts';
import type { IntervalInput } from './interval.ts';
import type { ColumnHint, WriteDisposition } from './schema.ts';
import type { DiscardedCounts, TableCounts } from './counts.ts';
import type { SchemaContract } from './contract.ts';
import type { SchemaChanges } from './schema.ts';

export interface PipelineOptions {
  pipelineName: string;
  /** A Destination (`postgres(url)`) or `'postgres'`: `TIDE_POSTGRES_URL`, else the embedded server. */
  destination?: Destination | 'postgres';
  /** The Postgres schema holding the data. Default `<pipelineName>_dataset`. */
  datasetName?: string;
  /** A fresh dataset per pipeline instance (`<dataset>_<YYYYMMDDhhmmss>`), no state restored. */
  devMode?: boolean;
  /** The local working folder (default `.tide/pipelines`). An empty one restores state from the destination. */
  pipelinesDir?: string;
  /** Rows buffered before they are sent with COPY (memory bound). Default 10,000. */
  batchSize?: number;
  /** Where log lines go (default: stderr when `TIDE_LOG` is set, else nowhere). */
  log?: (message: string) => void;
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
  /**
   * The dlt version that shares the dataset (e.g. `'1.26'`): boundary-dedup hashes are written in the
   * form it reads. Default: `TIDE_DLT_VERSION`, else the form found in the pipeline's state, else the
   * latest dlt's.
   */
  dltVersion?: string;
}

/** The options the engine runs with: every default filled in, the destination chosen by the caller. */
export interface ResolvedOptions {
  pipelineName: string;
  datasetName: string;
  devMode: boolean;
  destination: Destination;
  /** Whether `close()` closes the destination (the caller did not hand one in). */
  ownsDestination: boolean;
  /** This pipeline's own working folder: `<pipelinesDir>/<pipelineName>`. */
  workingDir: string;
  batchSize: number;
  log: (message: string) => void;
  warn: (message: string) => void;
  dltVersion?: string;
}

export type RefreshMode = 'drop_sources' | 'drop_resources' | 'drop_data';
export const REFRESH_MODES: readonly RefreshMode[] = ['drop_sources', 'drop_resources', 'drop_data'];

export interface RunOptions {
  writeDisposition?: WriteDisposition;
  /** Table name for data or a single resource. */
  tableName?: string;
  primaryKey?: string | string[];
  mergeKey?: string | string[];
  columns?: Record<string, ColumnHint>;
  refresh?: RefreshMode;
  /** A data interval for resources with `allowExternalSchedulers` (also `ctx.interval`). */
  interval?: IntervalInput;
  /** Called about once a second while extracting, and once when extracting ended (the final counts). */
  onProgress?: (p: RunProgress) => void;
  /**
   * Orchestrators: the load id of this run, decided before its first attempt. A retried attempt
   * whose earlier one committed loads nothing twice (it fails with AlreadyLoadedError).
   */
  loadId?: string;
  /** Called after each `ctx.checkpoint(value)` of a resource. */
  onCheckpoint?: (c: CheckpointInfo) => void;
  /**
   * With `interval`: set the stored cursor of the incrementals that take the interval
   * (`allowExternalSchedulers`) to its end, in this load (a backfill's last interval, `--handover`).
   */
  handover?: boolean;
  /**
   * The run's params (`ctx.params`), recorded in the ledger (`_dlt_loads.tide_params`). Validate them
   * against the definition first (`resolveParams` in `pipeline/params.ts`).
   */
  params?: Readonly<Record<string, string | number | boolean>>;
  /** The schema contract of every resource this run loads, over theirs and their source's (dlt's `run(schema_contract=…)`). */
  schemaContract?: SchemaContract;
}

/** Orchestrators: a staged extract of one package of a run (a decomposed run's component). */
export interface ExtractOptions extends RunOptions {
  /**
   * The package this extract stages (default: the load id). An earlier attempt's package is taken
   * over: a finished one is not staged again; a checkpointed one goes on from its last checkpoint.
   */
  packageId?: string;
}

export interface CheckpointInfo {
  resource: string;
  value: unknown;
  /** Whether the pages so far were committed to staging (a staged extract) or only reported. */
  kept: boolean;
  rows: TableCounts;
  items: number;
}

export interface RunProgress {
  items: number;
  rows: TableCounts;
  elapsedMs: number;
}

export interface RunInfo {
  /** The committed load, or null when there was nothing to load (no rows, no state change). */
  loadId: string | null;
  pipelineName: string;
  datasetName: string;
  tables: TableCounts;
  startedAt: Date;
  finishedAt: Date;
  /** What this run added to the schema: new tables, new columns of existing tables, new variant columns. */
  schemaChanges: SchemaChanges;
  /** Rows and values the schema contract dropped (`discard_row` / `discard_value`), per table; tables with none are absent. */
  discarded: DiscardedCounts;
}

/** Fills in the defaults. `destination` is what the caller resolved `opts.destination` to. */
export function resolveOptions(opts: PipelineOptions, destination: Destination, ownsDestination: boolean, now = new Date()): ResolvedOptions {
  if (!opts?.pipelineName || typeof opts.pipelineName !== 'string') throw new ConfigurationError('pipeline() needs a pipelineName');
  if (!destination || typeof destination !== 'object') throw new ConfigurationError(`new Pipeline("${opts.pipelineName}") needs a destination; pipeline() supplies the default`);
  const devMode = opts.devMode ?? false;
  const base = opts.datasetName ?? `${opts.pipelineName}_dataset`;
  return {
    pipelineName: opts.pipelineName,
    datasetName: devMode ? `${base}_${devSuffix(now)}` : base,
    devMode,
    destination,
    ownsDestination,
    workingDir: join(opts.pipelinesDir ?? defaultPipelinesDir(), opts.pipelineName),
    batchSize: opts.batchSize ?? 10_000,
    log: opts.log ?? ((m) => (process.env.TIDE_LOG ? process.stderr.write(`${m}\n`) : undefined)),
    warn: opts.warn ?? ((m) => process.stderr.write(`tide warning: ${m}\n`)),
    dltVersion: opts.dltVersion ?? (process.env.TIDE_DLT_VERSION || undefined),
  };
}

/** `YYYYMMDDhhmmss` in UTC, dlt's dev-mode dataset suffix. */
function devSuffix(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
