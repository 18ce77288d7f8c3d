/**
 * Defining data: `resource`, `transformer`, `source`. Definitions are immutable: `bind`, `with`,
 * `addMap`, `addFilter` and `addLimit` return new objects, so one resource can be shared by a
 * scheduled run and a backfill without leaking anything between them.
 */
import { parseWriteDisposition } from './hints.ts';
import type { DateTime } from 'luxon';
import { IncrementalUnboundError, ResourceDefinitionError } from './errors.ts';
import type { IncrementalDef, Incremental } from './incremental/index.ts';
import type { ConfigReader, SecretsReader } from './config.ts';
import type { ColumnHint, WriteDisposition } from './schema.ts';
import { MERGE_STRATEGIES } from './schema.ts';
import { validateSchemaContract, type SchemaContract } from './contract.ts';

/** What a resource function receives first; bound arguments follow. */
export interface ResourceContext {
  /** The bound incremental, when the resource has one. */
  readonly incremental?: Incremental;
  /** This resource's private state; committed with the data, in the same transaction. */
  readonly state: Record<string, unknown>;
  /** State shared by the resources of one source. */
  readonly sourceState: Record<string, unknown>;
  /** The data interval of a scheduled or backfill run, or of `tide run --from/--to`. */
  readonly interval?: { start: DateTime; end: DateTime };
  readonly resourceName: string;
  readonly pipelineName: string;
  /**
   * The run's params (`definePipeline({ params })`), validated, defaults applied, frozen; `{}` when
   * there are none. A `date` param is an ISO-8601 string.
   */
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /**
   * This resource's configuration (docs/configuration.md): `ctx.config.get('api_url')`, or
   * `require('api_url')` to fail with every place looked. Looked up in the environment
   * (`SOURCES__<SOURCE>__<RESOURCE>__API_URL`, …), secrets.toml and config.toml, most specific section first.
   */
  readonly config: ConfigReader;
  /**
   * This resource's secrets, from the environment and secrets.toml only: `ctx.secrets.require('token').reveal()`.
   * A `Secret` prints as `***` in logs, errors and JSON.
   */
  readonly secrets: SecretsReader;
  /** Writes a line to the run's log. */
  log(message: string): void;
  /**
   * Marks the pages yielded so far as done, with `value` saying where to go on (a page cursor, an
   * offset). In a staged extract (a decomposed run on Temporal) they are committed to staging with
   * the resource's state, and a retried attempt gets `value` back as `resumeFrom` instead of starting
   * over. Elsewhere it only reports progress. Await it before the next page.
   */
  checkpoint(value: unknown): Promise<void>;
  /** The value of the last checkpoint an earlier attempt of this extract kept (undefined on a first attempt). */
  readonly resumeFrom?: unknown;
}

/** What a resource may produce: items, pages (arrays) or nothing, sync or async. */
export type ResourceOutput = AsyncIterable<unknown> | Iterable<unknown> | Promise<unknown> | unknown;

export type ResourceFunction<A extends unknown[] = any[]> = (ctx: ResourceContext, ...args: A) => ResourceOutput;
export type TransformerFunction<A extends unknown[] = any[]> = (ctx: ResourceContext, item: any, ...args: A) => ResourceOutput;

export interface ResourceOptions {
  /** The resource's name: its state key and default table name. Default: the function's name. */
  name?: string;
  /** The table to load into, or a function of the item (dispatch one stream to several tables). */
  tableName?: string | ((item: any) => string);
  /** `'append'` (default), `'replace'`, `'merge'` or a MergeConfig. */
  writeDisposition?: WriteDisposition;
  primaryKey?: string | string[];
  mergeKey?: string | string[];
  /** Column hints by column name: `{ created_at: { dedupSort: 'desc' }, deleted: { hardDelete: true } }`. */
  columns?: Record<string, ColumnHint>;
  /** An incremental cursor; `null` removes one inherited from the definition. */
  incremental?: IncrementalDef | null;
  /** Deeper values stay json columns. */
  maxTableNesting?: number;
  /** Whether a source loads this resource (default true). */
  selected?: boolean;
  /**
   * Run concurrently with the other parallelized resources of the run (dlt's `parallelized=True`),
   * at most 5 at once; for a transformer: its calls for the items of one parent run, at most 5 at
   * once. Rows and state are those of a sequential run; the order of rows within a table is not.
   */
  parallelized?: boolean;
  /**
   * Whether a run over a data interval replaces the rows that earlier runs of the same interval
   * wrote to this resource's append table (default true): re-running an interval never doubles
   * rows. `false` keeps appending.
   */
  intervalReplace?: boolean;
  /**
   * What loading this resource may change in the schema (dlt's `schema_contract`): `'evolve'`
   * (default), `'freeze'`, `'discard_row'`, `'discard_value'`, or per entity `{ tables, columns, data_type }`.
   * Nested tables follow their root table's. Replaces the source's contract.
   */
  schemaContract?: SchemaContract;
}

export interface TransformerOptions extends ResourceOptions {
  /** The resource whose items this transformer receives, one call per item. */
  dataFrom: Resource;
}

/** A pipe step added with addMap / addFilter. */
export type PipeStep = { kind: 'map'; fn: (item: any) => unknown } | { kind: 'filter'; fn: (item: any) => boolean };

interface ResourceProps {
  readonly kind: 'resource' | 'transformer';
  readonly fn?: (ctx: ResourceContext, ...args: any[]) => ResourceOutput;
  readonly data?: unknown;
  readonly args: readonly unknown[];
  readonly options: Readonly<ResourceOptions>;
  readonly steps: readonly PipeStep[];
  readonly limit?: number;
  readonly dataFrom?: Resource;
}

const PROPS = Symbol('tide.resource.props');

function isStartedGenerator(x: unknown): boolean {
  if (x === null || typeof x !== 'object') return false;
  const tag = Object.prototype.toString.call(x);
  return tag === '[object Generator]' || tag === '[object AsyncGenerator]';
}

function validateOptions(name: string, o: ResourceOptions): void {
  parseWriteDisposition(o.writeDisposition, name);
  if (o.maxTableNesting !== undefined && (!Number.isInteger(o.maxTableNesting) || o.maxTableNesting < 0)) {
    throw new ResourceDefinitionError(`maxTableNesting must be a non-negative integer, got ${o.maxTableNesting}`, { resource: name });
  }
  if (o.tableName !== undefined && typeof o.tableName !== 'string' && typeof o.tableName !== 'function') {
    throw new ResourceDefinitionError('tableName must be a string or a function of the item', { resource: name });
  }
  validateSchemaContract(o.schemaContract, { resource: name, what: `resource "${name}"` });
  for (const flag of ['parallelized', 'intervalReplace'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') {
      throw new ResourceDefinitionError(`${flag} must be true or false, got ${JSON.stringify(o[flag])}`, { resource: name });
    }
  }
}

/** A resource: a named stream of items with loading hints. Create with `resource()` or `transformer()`. */
export class Resource {
  readonly [PROPS]: ResourceProps;

  /** @internal use resource() / transformer() */
  constructor(props: ResourceProps) {
    this[PROPS] = Object.freeze({ ...props, options: Object.freeze({ ...props.options }), steps: Object.freeze([...props.steps]), args: Object.freeze([...props.args]) });
    Object.freeze(this);
  }

  /** The resource's name (state key, default table name). */
  get name(): string {
    return this[PROPS].options.name!;
  }
  get kind(): 'resource' | 'transformer' {
    return this[PROPS].kind;
  }
  /** The options the resource was defined with (frozen). */
  get options(): Readonly<ResourceOptions> {
    return this[PROPS].options;
  }
  /** The incremental definition, if any. */
  get incremental(): IncrementalDef | undefined {
    return this[PROPS].options.incremental ?? undefined;
  }
  /** For a transformer: the resource it reads from. */
  get dataFrom(): Resource | undefined {
    return this[PROPS].dataFrom;
  }

  /** A new resource with `args` bound after the context argument. */
  bind(...args: unknown[]): Resource {
    if (!this[PROPS].fn) throw new ResourceDefinitionError('bind() needs a resource defined from a function, not from data', { resource: this.name });
    return new Resource({ ...this[PROPS], args });
  }

  /**
   * A new resource with some options overridden. An incremental without a cursor path inherits
   * the cursor path (and every option it does not set) from the current one.
   */
  with(overrides: Partial<ResourceOptions> & { dataFrom?: Resource }): Resource {
    const { dataFrom, ...opts } = overrides;
    const cur = this[PROPS].options;
    let inc = cur.incremental;
    if ('incremental' in opts) {
      inc = opts.incremental === null ? null : opts.incremental && cur.incremental ? cur.incremental.mergedWith(opts.incremental) : opts.incremental;
    }
    const options = { ...cur, ...opts, incremental: inc, name: opts.name ?? cur.name };
    validateOptions(options.name!, options);
    return new Resource({ ...this[PROPS], options, dataFrom: dataFrom ?? this[PROPS].dataFrom });
  }

  /**
   * A new resource with a map step. Steps run in order, before the incremental filter. `insertAt`
   * counts the data itself as step 0 (so `insertAt: 1` runs first), like dlt's `add_map`.
   */
  addMap(fn: (item: any) => unknown, opts: { insertAt?: number } = {}): Resource {
    return this.#addStep({ kind: 'map', fn }, opts.insertAt);
  }

  /** A new resource with a filter step (see addMap for ordering). */
  addFilter(fn: (item: any) => boolean, opts: { insertAt?: number } = {}): Resource {
    return this.#addStep({ kind: 'filter', fn }, opts.insertAt);
  }

  /** A new resource that stops (closing its generator) after `n` non-empty yields. */
  addLimit(n: number): Resource {
    if (!Number.isInteger(n) || n < 0) throw new ResourceDefinitionError(`addLimit needs a non-negative integer, got ${n}`, { resource: this.name });
    return new Resource({ ...this[PROPS], limit: n });
  }

  #addStep(step: PipeStep, insertAt?: number): Resource {
    const steps = [...this[PROPS].steps];
    if (insertAt === undefined) steps.push(step);
    else {
      if (!Number.isInteger(insertAt) || insertAt < 1) {
        throw new ResourceDefinitionError(`insertAt must be ≥ 1 (0 is the data itself), got ${insertAt}`, { resource: this.name });
      }
      steps.splice(Math.min(insertAt - 1, steps.length), 0, step);
    }
    return new Resource({ ...this[PROPS], steps });
  }
}

function nameOf(fnOrData: unknown, opts: ResourceOptions | undefined, fallback: string): string {
  const n = opts?.name ?? (typeof fnOrData === 'function' && fnOrData.name ? fnOrData.name : undefined) ?? fallback;
  if (!n || typeof n !== 'string') throw new ResourceDefinitionError('A resource needs a name: pass { name } or a named function');
  return n;
}

/**
 * Defines a resource from a (sync or async) generator function, any function returning items, or
 * plain data (an array or any iterable).
 *
 * @example
 * const issues = resource(async function* (ctx, repo: string) { yield await getPage(repo) }, { name: 'issues', primaryKey: 'id' });
 */
export function resource<A extends unknown[]>(fn: (ctx: ResourceContext, ...args: A) => ResourceOutput, options?: ResourceOptions): Resource;
export function resource(data: Iterable<unknown> | AsyncIterable<unknown> | Resource, options?: ResourceOptions): Resource;
export function resource(fnOrData: unknown, options: ResourceOptions = {}): Resource {
  if (fnOrData instanceof Resource) return options && Object.keys(options).length ? fnOrData.with(options) : fnOrData;
  if (isStartedGenerator(fnOrData)) {
    throw new IncrementalUnboundError(
      'resource() got an already-started generator, so tide cannot pass it the context (state, incremental) on each run. ' +
        'Pass the generator function and bind its arguments instead: resource(getResource, { name, … }).bind(endpoint)',
      { resource: options.name },
    );
  }
  const isFn = typeof fnOrData === 'function';
  if (!isFn && (fnOrData === null || typeof fnOrData !== 'object' || !(Symbol.iterator in fnOrData || Symbol.asyncIterator in fnOrData))) {
    throw new ResourceDefinitionError('resource() needs a function, an array or an iterable', { resource: options.name, value: fnOrData });
  }
  const name = nameOf(fnOrData, options, Array.isArray(fnOrData) ? '' : '');
  const opts = { ...options, name };
  validateOptions(name, opts);
  return new Resource({
    kind: 'resource',
    fn: isFn ? (fnOrData as ResourceFunction) : undefined,
    data: isFn ? undefined : fnOrData,
    args: [],
    options: opts,
    steps: [],
  });
}

/** Defines a transformer: a resource that runs once per item of `dataFrom`. */
export function transformer<A extends unknown[]>(fn: (ctx: ResourceContext, item: any, ...args: A) => ResourceOutput, options: TransformerOptions): Resource {
  if (!(options?.dataFrom instanceof Resource)) {
    throw new ResourceDefinitionError('transformer() needs { dataFrom: <resource> }', { resource: options?.name });
  }
  if (typeof fn !== 'function') throw new ResourceDefinitionError('transformer() needs a function', { resource: options.name });
  const { dataFrom, ...rest } = options;
  const name = nameOf(fn, rest, '');
  const opts = { ...rest, name };
  validateOptions(name, opts);
  return new Resource({ kind: 'transformer', fn: fn as ResourceFunction, args: [], options: opts, steps: [], dataFrom });
}

export interface SourceOptions {
  /** Propagate `_dlt_root_id` to nested tables whatever the disposition (needed to merge later into a table first loaded with replace). */
  rootKey?: boolean;
  /** Default maxTableNesting of the source's resources. */
  maxTableNesting?: number;
  /** The schema contract of the resources that set none (see `ResourceOptions.schemaContract`). */
  schemaContract?: SchemaContract;
}

const SOURCE_PROPS = Symbol('tide.source.props');

/** A named group of resources sharing source state and a schema. */
export class Source {
  readonly [SOURCE_PROPS]: { name: string; resources: readonly Resource[]; options: Readonly<SourceOptions>; selected?: readonly string[] };
  /** The source's resources by name. */
  readonly resources: Readonly<Record<string, Resource>>;

  /** @internal use source() */
  constructor(name: string, resources: readonly Resource[], options: SourceOptions, selected?: readonly string[]) {
    validateSchemaContract(options.schemaContract, { what: `source "${name}"` });
    const byName: Record<string, Resource> = {};
    for (const r of resources) {
      if (byName[r.name]) throw new ResourceDefinitionError(`Source "${name}" has two resources named "${r.name}"`, { resource: r.name });
      byName[r.name] = r;
    }
    if (selected) {
      for (const s of selected) {
        if (!byName[s]) throw new ResourceDefinitionError(`Source "${name}" has no resource "${s}" (it has: ${Object.keys(byName).join(', ')})`, { resource: s });
      }
    }
    this[SOURCE_PROPS] = Object.freeze({ name, resources: Object.freeze([...resources]), options: Object.freeze({ ...options }), selected: selected && Object.freeze([...selected]) });
    this.resources = Object.freeze(byName);
    Object.freeze(this);
  }

  get name(): string {
    return this[SOURCE_PROPS].name;
  }
  get rootKey(): boolean {
    return this[SOURCE_PROPS].options.rootKey ?? false;
  }
  get options(): Readonly<SourceOptions> {
    return this[SOURCE_PROPS].options;
  }

  /** A new source that loads only the named resources (their parents still run when needed). */
  withResources(...names: string[]): Source {
    return new Source(this.name, this[SOURCE_PROPS].resources, this.options, names.flat());
  }

  /** A new source with one resource replaced (matched by name) or added. */
  withResource(r: Resource): Source {
    const list = this[SOURCE_PROPS].resources.filter((x) => x.name !== r.name);
    return new Source(this.name, [...list, r], this.options, this[SOURCE_PROPS].selected);
  }

  /** A new source with options overridden (e.g. `{ rootKey: true }`). */
  with(options: SourceOptions): Source {
    return new Source(this.name, this[SOURCE_PROPS].resources, { ...this.options, ...options }, this[SOURCE_PROPS].selected);
  }

  /** The resources that load data in a run, in definition order. */
  get selectedResources(): Resource[] {
    const sel = this[SOURCE_PROPS].selected;
    return this[SOURCE_PROPS].resources.filter((r) => (sel ? sel.includes(r.name) : r.options.selected !== false));
  }
}

/** Groups resources into a source. */
export function source(name: string, resources: Resource[] | Record<string, Resource>, options: SourceOptions = {}): Source {
  if (!name || typeof name !== 'string') throw new ResourceDefinitionError('source() needs a name');
  const list = Array.isArray(resources) ? resources : Object.values(resources);
  for (const r of list) if (!(r instanceof Resource)) throw new ResourceDefinitionError(`source "${name}": every resource must come from resource() or transformer()`, { value: r });
  return new Source(name, list, options);
}

/** @internal */
export function resourceProps(r: Resource): ResourceProps {
  return r[PROPS];
}
/** @internal */
export function sourceProps(s: Source) {
  return s[SOURCE_PROPS];
}
