/**
 * `pipeline()`: run = restore state → extract → normalize → load, in one destination transaction.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { postgres } from '../destinations/postgres/client.ts';
import type { Destination, DestinationClient, LoadSession, TableLoadPlan } from './destination.ts';
import { ConfigurationError, ExtractError, ResourceDefinitionError, SchemaError, TideError, withContext } from './errors.ts';
import { Extractor, type ExtractNode } from './extract.ts';
import { configLookupFor } from './incremental/config.ts';
import { Normalizer } from './normalize/normalizer.ts';
import { normalizeIdentifier, normalizePath } from './normalize/naming.ts';
import { Resource, Source, resource as defineResource, resourceProps, sourceProps } from './resource.ts';
import type { ColumnHint, MergeStrategy, Schema, TableSchema, WriteDisposition, WriteDispositionName } from './schema.ts';
import { DLT_VALID_FROM, DLT_VALID_TO, hintedColumns, markColumnsChanged, newSchema, nestedTablesOf } from './schema.ts';
import { fromStoredSchema, schemaHash, toStoredSchema } from './schema-store.ts';
import {
  bumpVersion,
  decodeTypedJson,
  emptyState,
  encodeTypedJson,
  pruneEmptyState,
  resourceStateOf,
  sourceStateOf,
  type PipelineState,
} from './state.ts';

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
}

export type RefreshMode = 'drop_sources' | 'drop_resources' | 'drop_data';

export type IntervalInput = { start: Date | string | DateTime; end: Date | string | DateTime };

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
  /** Called about once a second while extracting. */
  onProgress?: (p: RunProgress) => void;
}

export interface RunProgress {
  items: number;
  rows: Record<string, number>;
  elapsedMs: number;
}

export interface RunInfo {
  /** The committed load, or null when there was nothing to load (no rows, no state change). */
  loadId: string | null;
  pipelineName: string;
  datasetName: string;
  tables: Record<string, { rows: number }>;
  startedAt: Date;
  finishedAt: Date;
}

/** Staged packages older than this are never going to be loaded (Temporal retries long gave up). */
const STALE_PACKAGE_HOURS = 72;

let lastLoadMicros = 0;
/**
 * dlt's load id: a UNIX timestamp with microseconds as a string, e.g. "1781239416.274688", strictly
 * increasing within a process. The clock gives milliseconds: the microseconds are random, so two
 * workers starting a load in the same millisecond do not share a load id (its staging tables and
 * `_dlt_loads` row are keyed by it).
 */
export function newLoadId(): string {
  let us = Date.now() * 1000 + Math.floor(Math.random() * 1000);
  if (us <= lastLoadMicros) us = lastLoadMicros + 1;
  lastLoadMicros = us;
  // integer arithmetic: a double cannot hold 10 + 6 digits exactly
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

function toDateTime(v: Date | string | DateTime, what: string): DateTime {
  const d = DateTime.isDateTime(v) ? v : v instanceof Date ? DateTime.fromJSDate(v) : DateTime.fromISO(v, { zone: 'utc', setZone: true });
  if (!d.isValid) throw new ConfigurationError(`Invalid ${what}: ${String(v)} (use ISO-8601, e.g. 2024-01-01 or 2024-01-01T00:00:00Z)`);
  return d.toUTC();
}

function asList(k: string | string[] | undefined): string[] | undefined {
  return k === undefined ? undefined : Array.isArray(k) ? k : [k];
}

function dispositionOf(wd: WriteDisposition | undefined): { disposition: WriteDispositionName; strategy?: MergeStrategy; config?: Exclude<WriteDisposition, string> } {
  if (wd === undefined) return { disposition: 'append' };
  if (typeof wd === 'string') return { disposition: wd, strategy: wd === 'merge' ? 'delete-insert' : undefined };
  if (wd.disposition === 'merge') return { disposition: 'merge', strategy: ('strategy' in wd && wd.strategy) || 'delete-insert', config: wd };
  return { disposition: wd.disposition };
}

/** The default schema / source name of standalone resources: the pipeline name without `_pipeline`. */
function defaultSchemaName(pipelineName: string): string {
  return normalizeIdentifier(pipelineName.replace(/_pipeline$/, ''));
}

/** What one run extracts: resources (as a tree of transformers) under a source name. */
interface RunPlan {
  sourceName: string;
  rootKey: boolean;
  maxTableNesting?: number;
  roots: ExtractNode[];
  all: ExtractNode[];
}

export class Pipeline {
  readonly pipelineName: string;
  readonly datasetName: string;
  readonly devMode: boolean;
  readonly #destination: Destination;
  readonly #ownsDestination: boolean;
  readonly #dir: string;
  readonly #batchSize: number;
  readonly #log: (m: string) => void;
  readonly #warn: (m: string) => void;
  #state: PipelineState;
  #schemas = new Map<string, Schema>();
  #client?: DestinationClient;
  #running = false;

  constructor(opts: PipelineOptions) {
    if (!opts?.pipelineName || typeof opts.pipelineName !== 'string') throw new ConfigurationError('pipeline() needs a pipelineName');
    this.pipelineName = opts.pipelineName;
    this.devMode = opts.devMode ?? false;
    const base = opts.datasetName ?? `${opts.pipelineName}_dataset`;
    this.datasetName = this.devMode ? `${base}_${DateTime.utc().toFormat('yyyyLLddHHmmss')}` : base;
    const dest = opts.destination;
    this.#ownsDestination = dest === undefined || dest === 'postgres';
    this.#destination = dest === undefined || dest === 'postgres' ? postgres() : dest;
    this.#dir = join(opts.pipelinesDir ?? join(process.env.TIDE_HOME ?? '.tide', 'pipelines'), this.pipelineName);
    this.#batchSize = opts.batchSize ?? 10_000;
    this.#log = opts.log ?? ((m) => (process.env.TIDE_LOG ? process.stderr.write(`${m}\n`) : undefined));
    this.#warn = opts.warn ?? ((m) => process.stderr.write(`tide warning: ${m}\n`));
    if (this.devMode) rmSync(this.#dir, { recursive: true, force: true });
    this.#state = this.#readLocalState() ?? emptyState(this.pipelineName, this.datasetName);
  }

  /** The pipeline state (sources → resources → incremental …) as of the last committed run. */
  get state(): PipelineState {
    return this.#state;
  }

  /** The schema of a source (default: the pipeline's default schema) as of the last run. */
  schema(name?: string): Schema | undefined {
    return this.#schemas.get(name ?? defaultSchemaName(this.pipelineName)) ?? this.#readLocalSchema(name ?? defaultSchemaName(this.pipelineName));
  }

  async #clientFor(): Promise<DestinationClient> {
    this.#client ??= await this.#destination.open(this.datasetName);
    return this.#client;
  }

  /** Reads the newest committed state (and schema) from the destination, as a run would. */
  async syncFromDestination(schemaName?: string): Promise<PipelineState> {
    const client = await this.#clientFor();
    await this.#sync(client, schemaName ?? this.#state.default_schema_name ?? defaultSchemaName(this.pipelineName));
    return this.#state;
  }

  /**
   * Drops everything of this pipeline: the dataset (tables, loads, state, staging) and the local
   * working folder. The next run starts from scratch.
   */
  async drop(): Promise<void> {
    const client = await this.#clientFor();
    await client.dropDataset();
    rmSync(this.#dir, { recursive: true, force: true });
    this.#state = emptyState(this.pipelineName, this.datasetName);
    this.#schemas.clear();
  }

  /** Runs a query against the destination and resolves to the rows. */
  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return (await this.#clientFor()).query<T>(sql, params);
  }

  /** Releases connections (and the embedded server this pipeline started). */
  async close(): Promise<void> {
    this.#client = undefined;
    if (this.#ownsDestination) await this.#destination.close();
  }

  // ---------------------------------------------------------------- local working folder
  #readLocalState(): PipelineState | undefined {
    const f = join(this.#dir, 'state.json');
    if (!existsSync(f)) return undefined;
    try {
      return decodeTypedJson(readFileSync(f, 'utf8')) as PipelineState;
    } catch {
      return undefined;
    }
  }
  #readLocalSchema(name: string): Schema | undefined {
    const f = join(this.#dir, 'schemas', `${name}.schema.json`);
    if (!existsSync(f)) return undefined;
    try {
      return fromStoredSchema(JSON.parse(readFileSync(f, 'utf8')));
    } catch {
      return undefined;
    }
  }
  #writeLocal(state: PipelineState, schema: Schema): void {
    mkdirSync(join(this.#dir, 'schemas'), { recursive: true });
    const write = (f: string, text: string) => {
      writeFileSync(`${f}.tmp`, text);
      renameSync(`${f}.tmp`, f);
    };
    write(join(this.#dir, 'state.json'), encodeTypedJson(state));
    write(join(this.#dir, 'schemas', `${schema.name}.schema.json`), JSON.stringify(toStoredSchema(schema, 0), null, 2));
  }

  /**
   * The destination is the source of truth: its newest committed state wins unless the local
   * one is newer (ST-10). In devMode nothing is restored.
   */
  async #sync(client: DestinationClient, schemaName: string): Promise<Schema> {
    let schema = this.#schemas.get(schemaName) ?? this.#readLocalSchema(schemaName);
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

  // ---------------------------------------------------------------- planning
  #plan(data: unknown, opts: RunOptions): RunPlan {
    let src: Source;
    if (data instanceof Source) src = data;
    else if (data instanceof Resource) src = new Source(defaultSchemaName(this.pipelineName), [data], {});
    else {
      if (data === null || data === undefined || (typeof data !== 'object' && typeof data !== 'function')) {
        throw new ResourceDefinitionError('run() needs a source, a resource, or data (an array or iterable of items)', { pipeline: this.pipelineName, value: data });
      }
      const name = opts.tableName ?? (typeof data === 'function' && data.name ? data.name : 'data');
      let r: Resource;
      if (typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data) && !Array.isArray(data)) {
        // a (possibly started) generator handed to run(): consumed once, as data
        const it = data as AsyncIterable<unknown> | Iterable<unknown>;
        r = defineResource(() => it, { name });
      } else r = defineResource(data as Iterable<unknown>, { name });
      src = new Source(defaultSchemaName(this.pipelineName), [r], {});
    }
    const props = sourceProps(src);
    const selected = src.selectedResources;
    if (opts.tableName && selected.length > 1) {
      throw new ResourceDefinitionError(`run(…, { tableName }) needs a single resource; source "${src.name}" selects ${selected.length}`, { pipeline: this.pipelineName });
    }
    const nodes = new Map<Resource, ExtractNode>();
    const nodeFor = (r: Resource, load: boolean): ExtractNode => {
      let n = nodes.get(r);
      if (n) {
        n.load ||= load;
        return n;
      }
      const sourceState = sourceStateOf(this.#state, src.name);
      n = { resource: r, load, children: [], resourceState: resourceStateOf(this.#state, src.name, r.name), sourceState };
      nodes.set(r, n);
      const parent = r.dataFrom;
      if (parent) {
        // a transformer's parent runs (from the source's own definition when it has one) even if not selected
        const p = props.resources.find((x) => x.name === parent.name) ?? parent;
        nodeFor(p, false).children.push(n);
      }
      return n;
    };
    for (const r of selected) {
      let rr = r;
      const o: Partial<import('./resource.ts').ResourceOptions> = {};
      if (opts.writeDisposition !== undefined) o.writeDisposition = opts.writeDisposition;
      if (opts.tableName !== undefined) o.tableName = opts.tableName;
      if (opts.primaryKey !== undefined) o.primaryKey = opts.primaryKey;
      if (opts.mergeKey !== undefined) o.mergeKey = opts.mergeKey;
      if (opts.columns !== undefined) o.columns = { ...(r.options.columns ?? {}), ...opts.columns };
      if (Object.keys(o).length) rr = r.with(o);
      nodeFor(rr, true);
    }
    // parents pulled in for transformers get the run's disposition too when replace (full refresh)
    const all = [...nodes.values()];
    const roots = all.filter((n) => !n.resource.dataFrom || !all.some((p) => p.children.includes(n)));
    return { sourceName: src.name, rootKey: src.rootKey, maxTableNesting: src.options.maxTableNesting, roots, all };
  }

  /** Creates / updates the root table of a resource with the resource's hints (code wins over the stored schema, PP-14). */
  #applyHints(schema: Schema, table: string, node: ExtractNode, plan: RunPlan, configured: Set<string>): TableSchema {
    const key = `${node.resource.name}\u0000${table}`;
    let t = schema.tables[table];
    if (t && configured.has(key)) return t;
    configured.add(key);
    const o = resourceProps(node.resource).options;
    const { disposition, strategy, config } = dispositionOf(o.writeDisposition);
    if (!t) schema.tables[table] = t = { name: table, columns: {} };
    if (t.parent) throw new ResourceDefinitionError(`Table "${table}" is a nested table and cannot receive a resource's items`, { resource: node.resource.name, table });
    t.resource = node.resource.name;
    t.writeDisposition = disposition;
    t.mergeStrategy = disposition === 'merge' ? strategy : undefined;
    t.maxTableNesting = o.maxTableNesting ?? plan.maxTableNesting ?? t.maxTableNesting;
    const needsRootKey = disposition === 'merge' && strategy !== 'scd2';
    const hasRootKeyColumn = nestedTablesOf(schema, table).some((n) => n.columns._dlt_root_id);
    t.rootKeyPropagation = plan.rootKey || needsRootKey || hasRootKeyColumn || (t.rootKeyPropagation ?? false);
    const hints: Record<string, ColumnHint> = {};
    for (const [name, h] of Object.entries(o.columns ?? {})) hints[normalizePath(name)] = { ...h };
    const pk = (asList(o.primaryKey) ?? []).map((k) => normalizePath(k));
    const mk = (asList(o.mergeKey) ?? []).map((k) => normalizePath(k));
    for (const k of pk) hints[k] = { ...hints[k], primaryKey: true, nullable: false };
    for (const k of mk) hints[k] = { ...hints[k], mergeKey: true, nullable: false };
    // hints in code replace stored key hints: a key removed in code is removed from the schema
    for (const c of Object.values(t.columns)) {
      const h = hints[c.name];
      c.primaryKey = h?.primaryKey || undefined;
      c.mergeKey = h?.mergeKey || undefined;
      if (h) Object.assign(c, Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'dataType')));
    }
    t.columnHints = hints;
    this.#checkMergeHints(t, node.resource.name, disposition, strategy, pk, mk);
    if (disposition === 'merge' && strategy === 'scd2') {
      const cfg = (config ?? {}) as import('./schema.ts').MergeConfig;
      const [from, to] = (cfg.validityColumnNames ?? [DLT_VALID_FROM, DLT_VALID_TO]).map((n) => normalizePath(n));
      const ts = (v: string | Date | undefined, what: string): string | undefined => {
        if (v === undefined || v === null) return undefined;
        try {
          const iso = toDateTime(v, `${what} of resource "${node.resource.name}"`).toISO()!;
          // luxon keeps milliseconds: keep the microseconds of an ISO string (dlt stores them)
          const micros = typeof v === 'string' ? /T\d\d:\d\d:\d\d[.,](\d{4,6})/.exec(v)?.[1] : undefined;
          return micros ? iso.replace(/\.\d{3}/, `.${micros}`) : iso;
        } catch (e) {
          throw new ResourceDefinitionError(`Invalid ${what} ${JSON.stringify(v)}: use a Date or an ISO-8601 string`, {
            resource: node.resource.name,
            table,
            column: to,
            value: v,
            cause: e,
          });
        }
      };
      t.scd2 = {
        validFrom: from,
        validTo: to,
        activeRecordTimestamp: ts(cfg.activeRecordTimestamp, 'activeRecordTimestamp'),
        boundaryTimestamp: ts(cfg.boundaryTimestamp, 'boundaryTimestamp'),
        rowVersionColumn: cfg.rowVersionColumnName ? normalizePath(cfg.rowVersionColumnName) : undefined,
      };
      // validity columns are filled by the merge, not by the data: they go last (MG-19)
      t.columns[from] ??= { name: from, dataType: 'timestamp', nullable: true, x_valid_from: true };
      t.columns[to] ??= { name: to, dataType: 'timestamp', nullable: true, x_valid_to: true };
      if (t.scd2.activeRecordTimestamp) t.columns[to].x_active_record_timestamp = t.scd2.activeRecordTimestamp;
    } else t.scd2 = undefined;
    markColumnsChanged();
    return t;
  }

  /** MG-5, MG-6, MG-15: merge hints that cannot work fail before anything is written; odd ones warn. */
  #checkMergeHints(t: TableSchema, resource: string, disposition: WriteDispositionName, strategy: MergeStrategy | undefined, pk: string[], mk: string[]): void {
    const fail = (message: string, column?: string): never => {
      throw new SchemaError(message, { resource, table: t.name, column });
    };
    const hardDelete = hintedColumns(t, 'hardDelete');
    const dedupSort = hintedColumns(t, 'dedupSort');
    for (const c of dedupSort) {
      const v = t.columnHints?.[c]?.dedupSort ?? t.columns[c]?.dedupSort;
      if (v !== 'asc' && v !== 'desc') fail(`Invalid dedupSort ${JSON.stringify(v)} on column "${c}": use 'asc' or 'desc'`, c);
    }
    if (disposition !== 'merge') {
      if (hardDelete.length || dedupSort.length) this.#warn(`table "${t.name}": hardDelete / dedupSort hints only apply to the merge write disposition and are ignored`);
      return;
    }
    if (hardDelete.length > 1) fail(`Only one column may have the hardDelete hint, found: ${hardDelete.join(', ')}`, hardDelete[1]);
    if (dedupSort.length > 1) fail(`Only one column may have the dedupSort hint, found: ${dedupSort.join(', ')}`, dedupSort[1]);
    if ((strategy === 'upsert' || strategy === 'insert-only') && !pk.length) fail(`The ${strategy} merge strategy needs a primary key (primaryKey option)`);
    if ((strategy === 'upsert' || strategy === 'insert-only') && mk.length) this.#warn(`table "${t.name}": mergeKey is ignored by the ${strategy} merge strategy`);
    if ((strategy ?? 'delete-insert') === 'delete-insert') {
      if (!pk.length && !mk.length) this.#warn(`table "${t.name}" has merge write disposition but no primary key or merge key: rows are appended`);
      if (dedupSort.length && !pk.length) this.#warn(`table "${t.name}": dedupSort needs a primary key and is ignored`);
    }
  }

  // ---------------------------------------------------------------- run
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
  async extract(data: unknown, opts: RunOptions = {}): Promise<RunInfo> {
    return this.#guard(() => this.#run(data, opts, 'stage'));
  }

  /**
   * The second half: applies a staged package in one transaction (data, state, `_dlt_loads`).
   * Idempotent by load id: a package already loaded is not loaded again (`applied: false`).
   */
  async load(loadId: string): Promise<{ loadId: string; applied: boolean; tables: Record<string, { rows: number }> }> {
    return this.#guard(async () => {
      const client = await this.#clientFor();
      const r = await client.loadPackage(this.pipelineName, loadId);
      const schemaName = r.schemaName ?? this.#state.default_schema_name ?? defaultSchemaName(this.pipelineName);
      await this.#sync(client, schemaName);
      if (!this.devMode) {
        const schema = this.#schemas.get(schemaName);
        if (schema) this.#writeLocal(this.#state, schema);
      }
      return { loadId, applied: r.applied, tables: Object.fromEntries(Object.entries(r.tables).map(([t, n]) => [t, { rows: n }])) };
    });
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

  async #run(data: unknown, opts: RunOptions, mode: 'direct' | 'stage'): Promise<RunInfo> {
    const startedAt = new Date();
    const client = await this.#clientFor();
    if (!this.devMode && this.#state._state_version > 0 && !(await client.datasetExists())) {
      // the dataset is gone: local state would skip data that no longer exists (ST-10)
      this.#warn(`Dataset "${this.datasetName}" does not exist: resetting the local state of pipeline "${this.pipelineName}"`);
      this.#state = emptyState(this.pipelineName, this.datasetName);
      this.#schemas.clear();
      rmSync(this.#dir, { recursive: true, force: true });
    }
    await client.ensureDataset();
    // packages left by extracts whose worker died after staging (a retry staged a new one)
    if (mode === 'stage') await client.dropStalePackages(STALE_PACKAGE_HOURS);
    const baseState = this.#state; // replaced by #sync when the destination is newer
    // plan first (needs the source name), then sync state for that schema
    const schemaName = data instanceof Source ? data.name : defaultSchemaName(this.pipelineName);
    const storedSchema = await this.#sync(client, schemaName);
    void baseState;
    const committed = structuredClone(this.#state);
    // work on a draft: nothing of it survives a failed run
    const draft: PipelineState = structuredClone(this.#state);
    const realState = this.#state;
    this.#state = draft;
    const schema: Schema = structuredClone(storedSchema);
    const beforeHash = schemaHash(storedSchema);
    let session: LoadSession | undefined;
    try {
      const plan = this.#plan(data, opts);
      const interval = opts.interval
        ? { start: toDateTime(opts.interval.start, 'interval start'), end: toDateTime(opts.interval.end, 'interval end') }
        : envInterval();
      // ST-13: a replace resource starts from a clean resource state (its incremental restarts)
      for (const n of plan.all) {
        if (dispositionOf(resourceProps(n.resource).options.writeDisposition).disposition === 'replace') {
          for (const k of Object.keys(n.resourceState)) delete n.resourceState[k];
        }
      }
      const refreshed = this.#refresh(plan, schema, opts.refresh);
      const loadId = newLoadId();
      // the one root table of a load that writes nothing else lets the destination merge while rows arrive
      const rootTables = new Set<string>();
      for (const n of plan.all) {
        if (!n.load) continue;
        const tn = resourceProps(n.resource).options.tableName;
        rootTables.add(typeof tn === 'function' ? '' : normalizePath(String(tn ?? n.resource.name)));
      }
      const onlyRoot = rootTables.size === 1 && !rootTables.has('') && !refreshed.drop.length && !refreshed.truncate.length ? [...rootTables][0] : undefined;
      session = await client.beginLoad({ loadId, pipelineName: this.pipelineName, schema, batchSize: this.#batchSize, mode, onlyRoot });
      if (refreshed.drop.length || refreshed.truncate.length) await session.prepare(refreshed);
      // one normalizer per resource, so a bad item is reported with its resource
      const normalizers = new Map<string, Normalizer>();
      const normalizerFor = (resource: string): Normalizer => {
        let n = normalizers.get(resource);
        if (!n) normalizers.set(resource, (n = new Normalizer(schema, { loadId, pipeline: this.pipelineName, resource })));
        return n;
      };
      const configured = new Set<string>();
      const tablesOfNode = new Map<ExtractNode, Set<string>>();
      let items = 0;
      let needFlush = false;
      let lastProgress = Date.now();
      const s = session;
      const extractor = new Extractor({
        pipelineName: this.pipelineName,
        sourceName: plan.sourceName,
        interval,
        // .tide/config.toml (or $TIDE_HOME/config.toml), read once per run
        config: configLookupFor(process.env.TIDE_HOME ?? '.tide'),
        log: this.#log,
        warn: this.#warn,
        sink: async (node, page) => {
          const o = resourceProps(node.resource).options;
          const tn = o.tableName;
          let seen = tablesOfNode.get(node);
          if (!seen) tablesOfNode.set(node, (seen = new Set()));
          const normalizer = normalizerFor(node.resource.name);
          for (const item of page) {
            let raw: unknown;
            try {
              raw = typeof tn === 'function' ? tn(item) : (tn ?? node.resource.name);
            } catch (e) {
              throw new ExtractError(`tableName function of resource "${node.resource.name}" failed: ${(e as Error)?.message ?? e}`, {
                resource: node.resource.name,
                item,
                cause: e,
              });
            }
            if (typeof raw !== 'string' || !raw) {
              throw new ExtractError(`tableName function of resource "${node.resource.name}" returned ${JSON.stringify(raw)}, not a table name`, { resource: node.resource.name, item });
            }
            const table = normalizePath(String(raw));
            if (!seen.has(table)) {
              this.#applyHints(schema, table, node, plan, configured);
              seen.add(table);
            }
            normalizer.normalize(item, table, (t, row) => {
              if (s.add(t, row, item, node.resource.name)) needFlush = true;
            });
          }
          items += page.length;
          if (needFlush) {
            needFlush = false;
            await s.flush();
          }
          if (opts.onProgress && Date.now() - lastProgress > 1000) {
            lastProgress = Date.now();
            opts.onProgress({ items, rows: { ...s.rowCounts }, elapsedMs: Date.now() - startedAt.getTime() });
          }
        },
      });
      for (const root of plan.roots) await extractor.run(root);
      // replace resources that yielded nothing still empty their tables
      const truncate: string[] = [];
      for (const n of plan.all) {
        if (!n.load) continue;
        const o = resourceProps(n.resource).options;
        if (dispositionOf(o.writeDisposition).disposition !== 'replace') continue;
        if ((tablesOfNode.get(n)?.size ?? 0) === 0 && typeof o.tableName !== 'function') {
          const table = normalizePath(String(o.tableName ?? n.resource.name));
          if (schema.tables[table]) {
            this.#applyHints(schema, table, n, plan, configured);
            truncate.push(table);
          }
        }
      }
      // every row sent and counted before deciding whether there is anything to load
      await s.drain();
      const tables: TableLoadPlan[] = [];
      for (const [node, names] of tablesOfNode) {
        for (const t of names) tables.push({ table: t, disposition: schema.tables[t].writeDisposition ?? 'append', rows: s.rowCounts[t] ?? 0 });
        void node;
      }
      pruneEmptyState(draft);
      draft.pipeline_name = this.pipelineName;
      draft.dataset_name = this.datasetName;
      draft.default_schema_name = draft.default_schema_name ?? schema.name;
      draft.schema_names = [...new Set([...(draft.schema_names ?? []), schema.name])].sort();
      draft.destination_type = 'tide.destinations.postgres';
      // a pipeline whose state never held anything (stateless runs) writes no state row
      const stateChanged = !draft.sources && !committed.sources && committed._state_version === 0 ? false : bumpVersion(draft);
      const afterHash = schemaHash(schema);
      const schemaChanged = afterHash !== beforeHash;
      const rowsLoaded = Object.values(s.rowCounts).some((n) => n > 0);
      if (!rowsLoaded && !stateChanged && !truncate.length && !refreshed.drop.length && !refreshed.truncate.length && !schemaChanged) {
        // INC-46: nothing new ⇒ nothing loaded
        await s.rollback();
        this.#state = realState;
        this.#schemas.set(schema.name, schema);
        return { loadId: null, pipelineName: this.pipelineName, datasetName: this.datasetName, tables: {}, startedAt, finishedAt: new Date() };
      }
      const touched = new Set(plan.all.map((n) => n.resource.name));
      await s.commit({
        schema,
        tables,
        truncate,
        schemaChanged,
        schemaVersionHash: afterHash,
        interval: interval ? { start: interval.start.toISO()!, end: interval.end.toISO()! } : undefined,
        state: stateChanged || refreshed.forceState ? { base: committed, draft, sourceName: plan.sourceName, touched: [...touched] } : undefined,
      });
      if (mode === 'direct') {
        // a copy: references a resource kept from this run must not change the committed state
        this.#state = structuredClone(draft);
        this.#schemas.set(schema.name, schema);
        if (!this.devMode) this.#writeLocal(draft, schema);
      } else this.#state = realState; // committed only when the package is loaded
      const out: Record<string, { rows: number }> = {};
      for (const [t, n] of Object.entries(s.rowCounts)) out[t] = { rows: n };
      for (const t of truncate) out[t] ??= { rows: 0 };
      return { loadId, pipelineName: this.pipelineName, datasetName: this.datasetName, tables: out, startedAt, finishedAt: new Date() };
    } catch (e) {
      if (session) await session.rollback().catch(() => undefined);
      this.#state = realState;
      throw e;
    }
  }

  /** ST-14 refresh: which tables to drop or empty, and the state to wipe (in the draft). */
  #refresh(plan: RunPlan, schema: Schema, mode: RefreshMode | undefined): { drop: string[]; truncate: string[]; forceState: boolean } {
    if (!mode) return { drop: [], truncate: [], forceState: false };
    if (!['drop_sources', 'drop_resources', 'drop_data'].includes(mode)) {
      throw new ConfigurationError(`Invalid refresh mode "${mode}": use drop_sources, drop_resources or drop_data`);
    }
    const src = sourceStateOf(this.#state, plan.sourceName);
    const selected = plan.all.filter((n) => n.load).map((n) => n.resource.name);
    const rootsOf = (resources: string[] | 'all') =>
      Object.values(schema.tables).filter((t) => !t.parent && (resources === 'all' || (t.resource && resources.includes(t.resource))));
    const family = (roots: TableSchema[]) => roots.flatMap((r) => [r.name, ...nestedTablesOf(schema, r.name).map((n) => n.name)]);
    if (mode === 'drop_sources') {
      const tables = family(rootsOf('all'));
      for (const k of Object.keys(src)) delete src[k];
      src.resources = {};
      for (const n of plan.all) for (const k of Object.keys(n.resourceState)) delete n.resourceState[k];
      // the extracted resources keep writing into their (now empty) state objects: re-attach them
      const resources = src.resources as Record<string, unknown>;
      for (const n of plan.all) resources[n.resource.name] = n.resourceState;
      (src as Record<string, unknown>)._keep = undefined;
      for (const t of tables) delete schema.tables[t];
      return { drop: tables, truncate: [], forceState: true };
    }
    const tables = family(rootsOf(selected));
    for (const n of plan.all) if (n.load) for (const k of Object.keys(n.resourceState)) delete n.resourceState[k];
    if (mode === 'drop_resources') {
      for (const t of tables) delete schema.tables[t];
      return { drop: tables, truncate: [], forceState: true };
    }
    return { drop: [], truncate: tables, forceState: true };
  }
}

/** `TIDE_INTERVAL_START` / `TIDE_INTERVAL_END` (both or neither). */
function envInterval(): { start: DateTime; end: DateTime } | undefined {
  const s = process.env.TIDE_INTERVAL_START;
  const e = process.env.TIDE_INTERVAL_END;
  if (!s && !e) return undefined;
  if (!s || !e) throw new ConfigurationError('Set both TIDE_INTERVAL_START and TIDE_INTERVAL_END (ISO-8601), or neither');
  return { start: toDateTime(s, 'TIDE_INTERVAL_START'), end: toDateTime(e, 'TIDE_INTERVAL_END') };
}

/** Creates a pipeline. */
export function pipeline(opts: PipelineOptions): Pipeline {
  return new Pipeline(opts);
}
