/**
 * Extraction: runs resources (and the transformers fed by them) with their context, pipes every
 * yielded item or page through the resource's steps (maps, filters, then the incremental filter,
 * then the limit) and hands the surviving items to a sink, page by page.
 */
import { DateTime } from 'luxon';
import type { Interval } from './interval.ts';
import { ExtractError, TideError, withContext } from './errors.ts';
import { Incremental, incrementalSection } from './incremental/index.ts';
import { Configuration, resourceConfig } from './config.ts';
import type { DedupHashForm } from './normalize/hash.ts';
import type { Resource, ResourceContext } from './resource.ts';
import { NO_PARAMS } from './params.ts';
import { resourceProps } from './resource.ts';
import { currentStorage, type CurrentContext, type SourceState, type StateObject } from './state.ts';
import { Window } from './parallel.ts';

/** A resource as this run extracts it. */
export interface ExtractNode {
  resource: Resource;
  /** Whether its items are loaded (a parent pulled in only to feed a transformer is not). */
  load: boolean;
  children: ExtractNode[];
  resourceState: StateObject;
  sourceState: SourceState;
}

export interface ExtractOptions {
  pipelineName: string;
  sourceName: string;
  interval?: Interval;
  /** The form of new boundary-dedup hashes. */
  dedupHashForm?: DedupHashForm;
  /** `ctx.config`, `ctx.secrets` and `incremental.fromConfig()` read it. Default: empty (no files, no environment). */
  config?: Configuration;
  log: (message: string) => void;
  warn: (message: string) => void;
  /**
   * Receives the surviving items of one yield (never empty). May return a promise (backpressure).
   * Parallelized resources call it concurrently: a call must not rely on the previous one having
   * finished.
   */
  sink: (node: ExtractNode, items: unknown[]) => void | Promise<void>;
  /** The run's params (`ctx.params`). */
  params?: Readonly<Record<string, string | number | boolean>>;
  /** A backfill's last interval with `--handover` (see BindContext.handover). */
  handover?: boolean;
  /** `ctx.resumeFrom` per resource: the last checkpoint an earlier attempt of this extract kept. */
  resumeFrom?: Readonly<Record<string, unknown>>;
  /** Called for `ctx.checkpoint(value)`, after every page yielded before it went to the sink. */
  onCheckpoint?: (resource: string, value: unknown) => Promise<void>;
  /** At most this many parallelized resources (or calls of parallelized transformers per parent) at once. Default PARALLEL_WORKERS. */
  workers?: number;
}

const EMPTY_CONFIG = new Configuration({ env: {} });

/** Items of a data array are handed on in pages of this size. */
const DATA_PAGE = 1000;

/**
 * dlt's extract pool has 5 workers. Resources wait on APIs, so a few at once hide most of the
 * waiting; more mostly adds load on the APIs and pages held in memory at once.
 */
export const PARALLEL_WORKERS = 5;

interface Running {
  node: ExtractNode;
  ctx: ResourceContext;
  current: CurrentContext;
  inc?: Incremental;
  yields: number;
  limit?: number;
  done: boolean;
  /** the resource's checkpoints in the order it made them: its next page waits for them */
  checkpointing: Promise<void>;
}

function isParallelized(node: ExtractNode): boolean {
  return node.resource.options.parallelized === true;
}

function toPage(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
}
function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

type Yielder = { next(): Promise<IteratorResult<unknown>> | IteratorResult<unknown>; close(): Promise<void> | void; pages: boolean };

/** Turns whatever a resource produced into something we can pull yields from. */
function yielder(output: unknown, fromData: boolean): Yielder {
  if (isAsyncIterable(output)) {
    const it = output[Symbol.asyncIterator]();
    return { next: () => it.next(), close: async () => void (await it.return?.()), pages: !fromData };
  }
  if (isIterable(output) && typeof output !== 'string') {
    if (Array.isArray(output)) {
      // plain data: hand it on in pages; a function returning an array returned one page
      if (!fromData) {
        let given = false;
        return { next: () => (given ? { done: true, value: undefined } : ((given = true), { done: false, value: output })), close: () => undefined, pages: true };
      }
      let i = 0;
      return {
        next: () => (i >= output.length ? { done: true, value: undefined } : { done: false, value: output.slice(i, (i += DATA_PAGE)) }),
        close: () => undefined,
        pages: true,
      };
    }
    const it = output[Symbol.iterator]();
    return { next: () => it.next(), close: () => void it.return?.(), pages: !fromData };
  }
  let given = false;
  return { next: () => (given ? { done: true, value: undefined } : ((given = true), { done: false, value: output })), close: () => undefined, pages: true };
}

export class Extractor {
  readonly #opts: ExtractOptions;
  readonly #running = new Map<ExtractNode, Running>();
  /** set at the first failure: every resource still running stops at its next pull and is closed */
  #stopped = false;

  constructor(opts: ExtractOptions) {
    this.#opts = opts;
  }

  /**
   * Runs the plan's roots: those not parallelized one after another in plan order, then the
   * parallelized ones together, at most `workers` at once (their pages interleave in the sink).
   */
  async runAll(roots: readonly ExtractNode[]): Promise<void> {
    for (const root of roots) if (!isParallelized(root)) await this.run(root);
    const window = this.#window();
    for (const root of roots) if (isParallelized(root)) await window.add(() => this.run(root));
    await window.settle();
  }

  #window(): Window {
    return new Window(this.#opts.workers ?? PARALLEL_WORKERS, () => (this.#stopped = true));
  }

  #start(node: ExtractNode): Running {
    let r = this.#running.get(node);
    if (r) return r;
    const props = resourceProps(node.resource);
    const name = node.resource.name;
    const o = this.#opts;
    const config = o.config ?? EMPTY_CONFIG;
    const incDef = node.resource.incremental;
    let inc: Incremental | undefined;
    if (incDef) {
      const pk = props.options.primaryKey;
      inc = Incremental.bind(incDef, {
        pipelineName: o.pipelineName,
        sourceName: o.sourceName,
        resourceName: name,
        resourceState: node.resourceState,
        resourcePrimaryKey: pk === undefined ? undefined : Array.isArray(pk) ? pk : [pk],
        interval: o.interval,
        handover: o.handover,
        dedupHashForm: o.dedupHashForm,
        config: (p, res) => incrementalSection(config, p, res),
        log: o.log,
        warn: o.warn,
      });
    }
    const checkpoint = (value: unknown): Promise<void> => {
      const run = r!;
      run.checkpointing = run.checkpointing.then(() => o.onCheckpoint?.(name, value));
      return run.checkpointing;
    };
    const ctx: ResourceContext = Object.freeze({
      incremental: inc,
      checkpoint,
      resumeFrom: o.resumeFrom?.[name],
      state: node.resourceState,
      sourceState: node.sourceState,
      interval: o.interval && luxonInterval(o.interval),
      resourceName: name,
      pipelineName: o.pipelineName,
      params: o.params ?? NO_PARAMS,
      ...resourceConfig(config, { pipelineName: o.pipelineName, sourceName: o.sourceName, resourceName: name }),
      log: (m: string) => o.log(`[${name}] ${m}`),
    });
    const current: CurrentContext = {
      pipelineName: o.pipelineName,
      sourceName: o.sourceName,
      resourceName: name,
      resourceState: node.resourceState,
      sourceState: node.sourceState,
    };
    r = { node, ctx, current, inc, yields: 0, limit: props.limit, done: props.limit === 0, checkpointing: Promise.resolve() };
    this.#running.set(node, r);
    return r;
  }

  #wrap(e: unknown, r: Running): TideError {
    const fields = { pipeline: this.#opts.pipelineName, resource: r.node.resource.name };
    if (e instanceof TideError) return withContext(e, fields);
    return new ExtractError(`Resource "${r.node.resource.name}" failed: ${(e as Error)?.message ?? String(e)}`, { ...fields, cause: e });
  }

  /** Runs a root resource to the end (or until its limit / incremental closes it). */
  async run(node: ExtractNode): Promise<void> {
    const r = this.#start(node);
    if (r.done || this.#stopped) return;
    const props = resourceProps(node.resource);
    const output = await this.#call(r, () => (props.fn ? props.fn(r.ctx, ...props.args) : props.data));
    await this.#drain(r, yielder(output, !props.fn), true);
  }

  /** Runs a transformer once for one parent item. */
  async #runChild(node: ExtractNode, item: unknown): Promise<void> {
    const r = this.#start(node);
    if (r.done || this.#stopped) return;
    const props = resourceProps(node.resource);
    const output = await this.#call(r, () => props.fn!(r.ctx, item, ...props.args));
    // transformers are never closed by the incremental (INC-37): they can check canClose() themselves
    await this.#drain(r, yielder(output, false), false);
  }

  /** Calls a resource function (or takes its data) with `current.*` bound; a throw names the resource. */
  async #call(r: Running, fn: () => unknown): Promise<unknown> {
    try {
      const output = currentStorage.run(r.current, fn);
      return output instanceof Promise ? await currentStorage.run(r.current, () => output) : output;
    } catch (e) {
      throw this.#wrap(e, r);
    }
  }

  /**
   * Pulls `y` to its end (or its limit, the incremental closing it, or a stop). On a failure the
   * generator is closed and the others are told to stop; no transformer call outlives its parent.
   */
  async #drain(r: Running, y: Yielder, closable: boolean): Promise<void> {
    const window = r.node.children.some(isParallelized) ? this.#window() : undefined;
    try {
      await this.#pullAll(r, y, closable, window);
    } catch (e) {
      this.#stopped = true;
      await Promise.resolve(y.close()).catch(() => undefined);
      await window?.settle().catch(() => undefined);
      throw e;
    }
    await window?.settle();
  }

  async #pullAll(r: Running, y: Yielder, closable: boolean, window: Window | undefined): Promise<void> {
    for (;;) {
      if (this.#stopped) return this.#close(r, y);
      const pulled = this.#pull(r, y);
      const res = pulled instanceof Promise ? await pulled : pulled;
      // a checkpoint the resource made before this page (and did not await) is committed first
      await r.checkpointing.catch((e) => {
        throw this.#wrap(e, r);
      });
      if (res.done) return;
      // while this call waited, another resource failed, or another call of this transformer reached the limit
      if (this.#stopped || r.done) return this.#close(r, y);
      const items = this.#piped(r, res.value);
      if (items.length) {
        // counted before the next await, so concurrent calls of a limited transformer stop at the limit
        r.yields += 1;
        if (r.limit !== undefined && r.yields >= r.limit) r.done = true;
        if (r.node.load) await this.#sink(r, items);
        if (r.node.children.length) await this.#feed(r.node, items, window);
      }
      if (r.done || (closable && r.inc?.shouldClose)) return this.#close(r, y);
    }
  }

  /** A yield's items that pass the steps and the incremental; a throw names the resource. */
  #piped(r: Running, value: unknown): unknown[] {
    try {
      // steps run in the resource's context: they may read current.resourceState()
      return currentStorage.run(r.current, () => this.#pipe(r, toPage(value)));
    } catch (e) {
      throw this.#wrap(e, r);
    }
  }

  async #sink(r: Running, items: unknown[]): Promise<void> {
    try {
      await currentStorage.run(r.current, () => this.#opts.sink(r.node, items));
    } catch (e) {
      throw this.#wrap(e, r);
    }
  }

  /** The next yield, pulled in the resource's context; a throw names the resource. */
  #pull(r: Running, y: Yielder): Promise<IteratorResult<unknown>> | IteratorResult<unknown> {
    try {
      const n = currentStorage.run(r.current, () => y.next());
      return n instanceof Promise ? n.catch((e: unknown) => Promise.reject(this.#wrap(e, r))) : n;
    } catch (e) {
      throw this.#wrap(e, r);
    }
  }

  async #close(r: Running, y: Yielder): Promise<void> {
    await currentStorage.run(r.current, async () => y.close());
  }

  /** Runs the transformers on a page's items: in turn, or in the window when parallelized. */
  async #feed(node: ExtractNode, items: unknown[], window: Window | undefined): Promise<void> {
    for (const child of node.children) {
      if (window && isParallelized(child)) for (const it of items) await window.add(() => this.#runChild(child, it));
      else for (const it of items) await this.#runChild(child, it);
    }
  }

  /** steps (maps, filters) → incremental: the order dlt uses (INC-41). */
  #pipe(r: Running, page: unknown[]): unknown[] {
    let items = page;
    const steps = resourceProps(r.node.resource).steps;
    if (steps.length) {
      items = [];
      outer: for (let x of page) {
        for (const s of steps) {
          if (s.kind === 'map') x = s.fn(x);
          else if (!s.fn(x)) continue outer;
        }
        items.push(x);
      }
    }
    if (r.inc) items = r.inc.process(items);
    return items;
  }
}

/** `ctx.interval` is luxon DateTimes in UTC (the public ResourceContext); the engine keeps Dates. */
function luxonInterval(i: Interval): { start: DateTime; end: DateTime } {
  return { start: DateTime.fromJSDate(i.start, { zone: 'utc' }), end: DateTime.fromJSDate(i.end, { zone: 'utc' }) };
}
