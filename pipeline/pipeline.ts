/**
 * `Pipeline`: the lifecycle of one pipeline (state, schemas, working folder, destination client)
 * and `run()`, which only sequences the steps, as dlt's `run()` does:
 *
 *   plan (plan.ts) → extract (extract.ts) → stage (stage.ts) → commit decision (commit.ts)
 *
 * and one destination transaction commits the data, the new state and the `_dlt_loads` row, or
 * nothing. `extract()` / `load()` are the same run split in two for orchestrators.
 */
import type { Destination, DestinationClient, LoadRecord, LoadSession, OutcomeStreak, RunOutcome } from './destination.ts';
import { TideError, withContext } from './errors.ts';
import { Extractor } from './extract.ts';
import { Configuration } from './config.ts';
import { intervalFromEnv, toInterval, toIsoInterval } from './interval.ts';
import { newLoadId } from './load-id.ts';
import { decideCommit, withEmptied } from './commit.ts';
import { resolveOptions, type ExtractOptions, type PipelineOptions, type ResolvedOptions, type RunInfo, type RunOptions } from './options.ts';
import { readTableCounts, type DiscardedCounts, type TableCounts } from './counts.ts';
import { decodeProgress, encodeProgress } from './checkpoint.ts';
import { defaultSchemaName, intervalReplaceTables, onlyRootTable, planRun, resetReplaceState, toSource } from './plan.ts';
import { planRefresh } from './refresh.ts';
import { newSchema, noSchemaChanges, schemaChangesBetween, type Schema, type SchemaChanges } from './schema.ts';
import { schemaHash } from './schema-store.ts';
import { Stage } from './stage.ts';
import { emptyState, type PipelineState } from './state.ts';
import { WorkingFolder } from './workdir.ts';
import type { RunLogKey, RunLogLine, StoredRunLogLine } from './run-log.ts';
import { dedupHashFormFor } from './incremental/hash-form.ts';
import { dirname } from 'node:path';

/** Staged packages older than this are never going to be loaded (Temporal retries long gave up). */
const STALE_PACKAGE_HOURS = 72;

type LoadMode = 'direct' | 'stage';

export class Pipeline {
  readonly pipelineName: string;
  readonly datasetName: string;
  readonly devMode: boolean;
  readonly #o: ResolvedOptions;
  readonly #folder: WorkingFolder;
  #state: PipelineState;
  #schemas = new Map<string, Schema>();
  #client?: DestinationClient;
  #running = false;

  /** `destination` is required here: the package entry's `pipeline()` supplies the default. */
  constructor(opts: PipelineOptions & { destination: Destination }, ownsDestination = false) {
    this.#o = resolveOptions(opts, opts.destination, ownsDestination);
    this.pipelineName = this.#o.pipelineName;
    this.datasetName = this.#o.datasetName;
    this.devMode = this.#o.devMode;
    this.#folder = new WorkingFolder(this.#o.workingDir);
    if (this.devMode) this.#folder.clear();
    this.#state = this.#folder.readState() ?? emptyState(this.pipelineName, this.datasetName);
  }

  /** The pipeline state (sources → resources → incremental …) as of the last committed run. */
  get state(): PipelineState {
    return this.#state;
  }

  /** The schema of a source (default: the pipeline's default schema) as of the last run. */
  schema(name?: string): Schema | undefined {
    const n = name ?? defaultSchemaName(this.pipelineName);
    return this.#schemas.get(n) ?? this.#folder.readSchema(n);
  }

  /** Reads the newest committed state (and schema) from the destination, as a run would. */
  async syncFromDestination(schemaName?: string): Promise<PipelineState> {
    await this.#sync(await this.#clientFor(), schemaName ?? this.#state.default_schema_name ?? defaultSchemaName(this.pipelineName));
    return this.#state;
  }

  /** Drops everything of this pipeline: the dataset (tables, loads, state, staging) and the local working folder. */
  async drop(): Promise<void> {
    await (await this.#clientFor()).dropDataset();
    this.#reset();
  }

  /** Whether load `loadId` is committed (in the destination's ledger). */
  async isLoaded(loadId: string): Promise<boolean> {
    return (await this.#clientFor()).isLoaded(loadId);
  }

  /** Whether a notification (idempotency key) was delivered; `markNotified` records it. */
  async wasNotified(key: string): Promise<boolean> {
    return (await this.#clientFor()).wasNotified(key);
  }

  async markNotified(key: string): Promise<void> {
    await (await this.#clientFor()).markNotified(key);
  }

  /** Records how a run of this pipeline ended (once per run key) and reads its failures in a row. */
  async recordOutcome(runKey: string, outcome: RunOutcome): Promise<OutcomeStreak> {
    return (await this.#clientFor()).recordOutcome(this.pipelineName, runKey, outcome);
  }

  /** The committed loads of this pipeline whose data interval meets `[from, to)`, oldest first. */
  async intervalLoads(from: string, to: string): Promise<LoadRecord[]> {
    return (await this.#clientFor()).intervalLoads(this.pipelineName, from, to);
  }

  /** Keeps log lines of one of this pipeline's runs in the destination (see pipeline/run-log.ts). */
  async appendRunLog(key: Omit<RunLogKey, 'pipelineName'>, lines: RunLogLine[]): Promise<void> {
    await (await this.#clientFor()).appendRunLog({ ...key, pipelineName: this.pipelineName }, lines);
  }

  /** The kept log lines of one of this pipeline's runs (Temporal run id, workflow id or load id), oldest first. */
  async runLog(run: string): Promise<StoredRunLogLine[]> {
    return (await this.#clientFor()).runLog(this.pipelineName, run);
  }

  /** Drops staged packages that will not be loaded (the other components of a run that failed). */
  async discardPackages(packageIds: string[]): Promise<void> {
    if (packageIds.length) await (await this.#clientFor()).discardPackages(packageIds);
  }

  /** Runs a query against the destination and resolves to the rows. */
  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return (await this.#clientFor()).query<T>(sql, params);
  }

  /**
   * Another object of this pipeline on the same destination and dataset: concurrent extracts of one
   * decomposed run each need their own (a pipeline object runs one thing at a time).
   */
  fork(): Pipeline {
    const o = this.#o;
    const pipelinesDir = dirname(o.workingDir);
    return new Pipeline({ pipelineName: o.pipelineName, datasetName: o.datasetName, pipelinesDir, batchSize: o.batchSize, log: o.log, warn: o.warn, dltVersion: o.dltVersion, destination: o.destination });
  }

  /** Releases connections (and the embedded server this pipeline started). */
  async close(): Promise<void> {
    this.#client = undefined;
    if (this.#o.ownsDestination) await this.#o.destination.close();
  }

  /**
   * Extracts, normalizes and loads `data` (a source, a resource, or an array / iterable of items).
   * Data, the new state and the `_dlt_loads` row commit in one transaction, or nothing does.
   */
  async run(data: unknown, opts: RunOptions = {}): Promise<RunInfo> {
    return this.#guard(() => this.#run(data, opts, 'direct'));
  }

  /**
   * The first half of a run, for orchestrators: extracts and normalizes `data` and stages the rows
   * and the pending state in the destination (`<dataset>_staging`), committed on their own. Nothing
   * is visible in the dataset until `load(loadId)`. Returns a small reference, never rows.
   */
  async extract(data: unknown, opts: ExtractOptions = {}): Promise<RunInfo> {
    return this.#guard(() => this.#run(data, opts, 'stage'));
  }

  /**
   * The second half: applies the staged packages of load `loadId` (the one package of that id, or the
   * components' `packageIds` of a decomposed run) in one transaction (data, state, one `_dlt_loads`
   * row). Idempotent by load id: a load already committed is not loaded again (`applied: false`).
   */
  async load(loadId: string, packageIds?: string[], failedComponents?: string[]): Promise<{ loadId: string; applied: boolean; tables: TableCounts }> {
    return this.#guard(async () => {
      const client = await this.#clientFor();
      const r = await client.loadPackages(this.pipelineName, loadId, packageIds, failedComponents);
      const schemaName = r.schemaName ?? this.#state.default_schema_name ?? defaultSchemaName(this.pipelineName);
      await this.#sync(client, schemaName);
      const schema = this.#schemas.get(schemaName);
      if (!this.devMode && schema) this.#folder.write(this.#state, schema);
      return { loadId, applied: r.applied, tables: r.tables };
    });
  }

  async #clientFor(): Promise<DestinationClient> {
    this.#client ??= await this.#o.destination.open(this.datasetName);
    return this.#client;
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running) throw new TideError(`Pipeline "${this.pipelineName}" is already running: runs of one pipeline object are sequential`);
    this.#running = true;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TideError) throw withContext(e, { pipeline: this.pipelineName });
      throw e;
    } finally {
      this.#running = false;
    }
  }

  #reset(): void {
    this.#folder.clear();
    this.#state = emptyState(this.pipelineName, this.datasetName);
    this.#schemas.clear();
  }

  /**
   * The destination is the source of truth: its newest committed state wins unless the local one is
   * newer. In devMode nothing is restored.
   */
  async #sync(client: DestinationClient, schemaName: string): Promise<Schema> {
    let schema = this.#schemas.get(schemaName) ?? this.#folder.readSchema(schemaName);
    if (!this.devMode) {
      const remote = await client.restore(this.pipelineName, schemaName);
      if (remote.state && remote.state._state_version >= (this.#state._state_version ?? 0)) {
        const local = this.#state._local;
        this.#state = { ...remote.state, dataset_name: this.datasetName, ...(local ? { _local: local } : {}) };
      }
      if (remote.schema) schema = remote.schema;
    }
    schema ??= newSchema(schemaName);
    this.#schemas.set(schemaName, schema);
    return schema;
  }

  /** The client, with the dataset in place; local state of a dataset that was dropped is forgotten. */
  async #openDataset(mode: LoadMode): Promise<DestinationClient> {
    const client = await this.#clientFor();
    if (!this.devMode && this.#state._state_version > 0 && !(await client.datasetExists())) {
      // local state would skip data that no longer exists
      this.#o.warn(`Dataset "${this.datasetName}" does not exist: resetting the local state of pipeline "${this.pipelineName}"`);
      this.#reset();
    }
    await client.ensureDataset();
    // packages left by extracts whose worker died after staging (a retry staged a new one)
    if (mode === 'stage') await client.dropStalePackages(STALE_PACKAGE_HOURS);
    return client;
  }

  async #run(data: unknown, opts: ExtractOptions, mode: LoadMode): Promise<RunInfo> {
    const startedAt = new Date();
    const client = await this.#openDataset(mode);
    const source = toSource(data, this.pipelineName, opts.tableName);
    const stored = await this.#sync(client, source.name);
    const committed = this.#state;
    const loadId = opts.loadId ?? newLoadId();
    const packageId = mode === 'stage' ? (opts.packageId ?? loadId) : undefined;
    const earlier = packageId === undefined ? undefined : await client.stagedPackage(packageId);
    // an earlier attempt staged this whole package: nothing to do again
    if (earlier?.status === 'staged') return this.#info(loadId, earlier.tables, startedAt, noSchemaChanges(), {});
    const resumed = earlier && decodeProgress(earlier.progress);
    // the run works on drafts (an earlier attempt's as of its last checkpoint): nothing of them survives a failed run
    const draft: PipelineState = resumed?.draft ?? structuredClone(committed);
    const schema: Schema = resumed?.schema ?? structuredClone(stored);
    let session: LoadSession | undefined;
    this.#state = draft; // current.*() and ctx.state of this run's resources read the draft
    try {
      const plan = planRun(source, opts, draft, this.pipelineName);
      const interval = opts.interval ? toInterval(opts.interval) : intervalFromEnv();
      if (!resumed) resetReplaceState(plan);
      const refresh = planRefresh(plan, schema, opts.refresh, draft);
      const refreshes = refresh.drop.length > 0 || refresh.truncate.length > 0;
      session = await client.beginLoad({
        loadId, pipelineName: this.pipelineName, schema, batchSize: this.#o.batchSize, mode, packageId,
        onlyRoot: refreshes ? undefined : onlyRootTable(plan), interval: interval && toIsoInterval(interval),
      });
      if (refreshes) await session.prepare(refresh);
      const stage = new Stage({ pipelineName: this.pipelineName, loadId, schema, plan, session, warn: this.#o.warn, onProgress: opts.onProgress, startedAt });
      if (resumed) stage.resume(resumed.tables, resumed.items);
      const extractor = new Extractor({
        pipelineName: this.pipelineName, sourceName: plan.sourceName, interval, dedupHashForm: dedupHashFormFor(committed, this.#o.dltVersion),
        config: Configuration.load(), log: this.#o.log, warn: this.#o.warn, sink: stage.sink, handover: opts.handover, params: opts.params,
        resumeFrom: resumed?.checkpoints, onCheckpoint: this.#checkpointer(session, stage, draft, schema, resumed?.checkpoints, opts.onCheckpoint),
      });
      await extractor.runAll(plan.roots);
      const truncate = stage.emptyReplaceTables();
      // every row sent and counted before deciding whether there is anything to load
      await session.drain();
      stage.finished();
      const request = decideCommit({
        pipelineName: this.pipelineName, datasetName: this.datasetName, schema, schemaHashBefore: schemaHash(stored),
        committed: structuredClone(committed), draft, sourceName: plan.sourceName, touched: plan.all.map((n) => n.resource.name),
        tables: stage.tablePlans(), truncate, refresh, interval, session, params: opts.params, intervalReplace: interval && intervalReplaceTables(plan, schema, stage.tablesByResource()),
      });
      if (!request) {
        await session.rollback();
        if (packageId !== undefined && resumed) await client.discardPackages([packageId]);
        this.#state = committed;
        this.#schemas.set(schema.name, schema);
        return this.#info(null, {}, startedAt, schemaChangesBetween(stored, schema), stage.discarded);
      }
      await session.commit(request);
      this.#afterCommit(mode, committed, draft, schema);
      return this.#info(loadId, withEmptied(session.rowCounts, truncate), startedAt, schemaChangesBetween(stored, schema), stage.discarded);
    } catch (e) {
      if (session) await session.rollback().catch(() => undefined);
      this.#state = committed;
      throw e;
    }
  }

  /** `ctx.checkpoint(value)`: the pages so far (and the run's draft state) kept by the session, then reported. */
  #checkpointer(session: LoadSession, stage: Stage, draft: PipelineState, schema: Schema, earlier: Record<string, unknown> | undefined, report: RunOptions['onCheckpoint']) {
    const checkpoints: Record<string, unknown> = { ...earlier };
    return async (resource: string, value: unknown): Promise<void> => {
      checkpoints[resource] = value;
      const kept = await session.checkpoint(() => encodeProgress({ draft, schema, checkpoints, tables: stage.tablesByResource(), items: stage.items }));
      report?.({ resource, value, kept, rows: readTableCounts(session.rowCounts), items: stage.items });
    };
  }

  /** A direct load's state and schema are now committed; a staged one's only once its package is loaded. */
  #afterCommit(mode: LoadMode, committed: PipelineState, draft: PipelineState, schema: Schema): void {
    if (mode === 'stage') {
      this.#state = committed;
      return;
    }
    // a copy: references a resource kept from this run must not change the committed state
    this.#state = structuredClone(draft);
    this.#schemas.set(schema.name, schema);
    if (!this.devMode) this.#folder.write(draft, schema);
  }

  #info(loadId: string | null, tables: TableCounts, startedAt: Date, schemaChanges: SchemaChanges, discarded: DiscardedCounts): RunInfo {
    return { loadId, pipelineName: this.pipelineName, datasetName: this.datasetName, tables, startedAt, finishedAt: new Date(), schemaChanges, discarded };
  }
}
