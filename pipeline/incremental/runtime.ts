/**
 * The bound incremental (`ctx.incremental`): filters items, tracks last_value, boundary dedup, state.
 * Semantics follow dlt 1.26 (`dlt/extract/incremental/{__init__,transform,lag}.py`), see INC-1..INC-48,
 * with tide's documented fixes (instant comparison of ISO strings, PP-7, bounded dedup state).
 */
import { JSONPath } from 'jsonpath-plus';
import {
  ConfigurationError,
  IncrementalCursorInvalidCoercion,
  IncrementalCursorPathMissing,
  IncrementalCursorValueNone,
  IncrementalPrimaryKeyMissing,
  TideError,
} from '../errors.ts';
import { BoundarySet, COMPACT_MIN } from './boundary.ts';
import type { DedupHashForm } from '../normalize/hash.ts';
import { schedulerRange, type Interval, type SchedulerInterval } from '../interval.ts';
import { compare, compareFast, deepEqual, formatLike, show, IncomparableError, LagError, parseIso, shiftByLag } from './compare.ts';
import {
  checkEndValue,
  IncrementalDef,
  lastValueFuncName,
  type IncrementalOptions,
  type LastValueFunc,
} from './definition.ts';

export interface BindContext {
  pipelineName: string;
  sourceName: string;
  resourceName: string;
  /** The resource's live state object; cursor state lives at resourceState.incremental[cursorPath]. Mutated in place. */
  resourceState: Record<string, unknown>;
  /** The resource's primary key hint (raw names) — dedup fallback (INC-27). */
  resourcePrimaryKey?: string[];
  /** A data interval from an external scheduler; its end may be absent (AF-5). */
  interval?: SchedulerInterval;
  /** The time "now" for AF-5 (an absent, future or start == end interval end); the system clock by default. */
  now?: () => Date;
  /**
   * A backfill's last interval with `--handover`: the stored cursor of a resource that took the
   * interval is set to the interval's end, so the first incremental run starts where the backfill stopped.
   */
  handover?: boolean;
  /** The form of new boundary-dedup hashes (default: the latest dlt's, short). */
  dedupHashForm?: DedupHashForm;
  /** Config lookup for fromConfig(): `[<pipeline>.sources.<resource>]` merged with env, snake_case keys. */
  config?: (pipelineName: string, resourceName: string) => Record<string, unknown> | undefined;
  log?: (message: string) => void;
  warn?: (message: string) => void;
}

export interface IncrementalCursorState {
  initial_value: unknown;
  last_value: unknown;
  unique_hashes: string[];
  start_value: unknown;
  /** tide extension: exact integer dedup keys as inclusive ranges, only for large boundaries */
  unique_key_ranges?: [number, number][];
}

/** dlt's threshold for the "many rows share one cursor value" warning. */
export const DUPLICATE_CURSOR_WARNING_THRESHOLD = 200;

/** The cursor value of a row; `undefined` when the path is missing (a null value is found). */
type CursorGetter = (row: unknown) => unknown;

const PLAIN = /^[A-Za-z_@][A-Za-z0-9_\-@]*$/;

/** The field name of a cursor path that names one top-level field (`updated_at`, `$.updated_at`), else undefined. */
export function plainCursorField(path: string): string | undefined {
  const p = path.trim();
  return PLAIN.test(p) ? p : p.startsWith('$.') && PLAIN.test(p.slice(2)) ? p.slice(2) : undefined;
}

function compileCursor(path: string): CursorGetter {
  const p = path.trim();
  if (p === '$') return (row) => row;
  const plain = plainCursorField(p);
  if (plain !== undefined) {
    return (row) => {
      if (row === null || typeof row !== 'object') return undefined;
      const v = (row as Record<string, unknown>)[plain];
      return v;
    };
  }
  const body = p.startsWith('$.') ? p.slice(2) : p;
  const segs = body.split('.');
  if (segs.length > 1 && segs.every((s) => PLAIN.test(s))) {
    return (row) => {
      let cur: unknown = row;
      for (const s of segs) {
        if (cur === null || typeof cur !== 'object') return undefined;
        cur = (cur as Record<string, unknown>)[s];
        if (cur === undefined) return undefined;
      }
      return cur;
    };
  }
  // full JSONPath; top-level `a|b` unions are evaluated in order, first match wins (jsonpath-ng semantics)
  const alternatives = p.split('|').map((s) => s.trim());
  return (row) => {
    if (row === null || typeof row !== 'object') return undefined;
    for (const alt of alternatives) {
      const res = JSONPath({ path: alt, json: row as object, wrap: true }) as unknown[];
      if (Array.isArray(res) && res.length > 0 && res[0] !== undefined) return res[0];
    }
    return undefined;
  };
}


/** A fresh cursor state (INC-14); a stateless run (INC-24) uses one it throws away. */
function freshCursorState(initial: unknown): IncrementalCursorState {
  return { initial_value: initial, last_value: initial, unique_hashes: [], start_value: initial };
}

const isNil = (v: unknown): v is null | undefined => v === null || v === undefined;

/** This run's cursor range; `interval` is the external interval after AF-5, when one was joined. */
interface Range {
  initial: unknown;
  end: unknown;
  joined: boolean;
  empty: boolean;
  interval?: Interval;
}

/** `[start, end)` of the joined interval, and the scheduler's end when AF-5 replaced it with now. */
function showInterval(given: SchedulerInterval, used: Interval): string {
  const end = given.end ?? undefined;
  const replaced = end === undefined || end.getTime() !== used.end.getTime();
  return `[${used.start.toISOString()}, ${used.end.toISOString()})` + (replaced ? ` (the scheduler's end ${end ? end.toISOString() : 'absent'} became now)` : '');
}

// ---------------------------------------------------------------- external interval conversion

type CursorType = NonNullable<IncrementalOptions['cursorType']>;

function inferCursorType(initialValue: unknown): CursorType | undefined {
  if (initialValue instanceof Date) return 'Date';
  if (typeof initialValue === 'number') return Math.abs(initialValue) < 1e11 ? 'epoch_s' : 'epoch_ms';
  if (typeof initialValue === 'string') {
    const p = parseIso(initialValue);
    if (p) return p.dateOnly ? 'date' : 'iso';
  }
  return undefined;
}

/** Converts an interval bound to the cursor's type (AF-4, tide's rules). */
export function convertIntervalBound(d: Date, type: CursorType, template: unknown): unknown {
  const ms = d.getTime();
  switch (type) {
    case 'Date':
      return new Date(ms);
    case 'epoch_ms':
      return ms;
    case 'epoch_s':
      return typeof template === 'number' && Number.isInteger(template) && ms % 1000 === 0 ? ms / 1000 : typeof template === 'number' && Number.isInteger(template) ? Math.floor(ms / 1000) : ms / 1000;
    case 'date':
      return formatLike(ms, 0, { ms: 0, ns: 0, dateOnly: true, tz: '', offsetMin: 0, sep: 'T', fracDigits: 0, hasSeconds: false });
    case 'iso': {
      const t = typeof template === 'string' ? parseIso(template) : undefined;
      return formatLike(ms, 0, t && !t.dateOnly ? t : { ms: 0, ns: 0, dateOnly: false, tz: 'Z', offsetMin: 0, sep: 'T', fracDigits: 0, hasSeconds: true });
    }
  }
}

// ---------------------------------------------------------------- fromConfig

function configToOptions(cfg: Record<string, unknown>, section: string): { cursorPath?: unknown; options: IncrementalOptions } {
  const o: Record<string, unknown> = {};
  const map: Record<string, keyof IncrementalOptions> = {
    initial_value: 'initialValue',
    end_value: 'endValue',
    last_value_func: 'lastValueFunc',
    primary_key: 'primaryKey',
    row_order: 'rowOrder',
    on_cursor_value_missing: 'onCursorValueMissing',
    lag: 'lag',
    allow_external_schedulers: 'allowExternalSchedulers',
    range_start: 'rangeStart',
    range_end: 'rangeEnd',
    cursor_type: 'cursorType',
  };
  for (const [k, v] of Object.entries(cfg)) {
    const key = map[k];
    if (!key || v === undefined) continue;
    let val = v;
    // smol-toml returns TomlDate (a Date subclass): it becomes its ISO-8601 spelling (`2024-01-01`,
    // `2024-01-01T00:00:00.000Z`, `…+02:00`, naive local), which keeps the state plain JSON and compares
    // by instant with both string and Date cursors
    if (val instanceof Date && typeof (val as { isDate?: () => boolean }).isDate === 'function') {
      val = (val as Date).toISOString();
    }
    if (key === 'lag' && typeof val === 'string' && val.trim() !== '' && !Number.isNaN(Number(val))) val = Number(val);
    if (key === 'allowExternalSchedulers' && typeof val === 'string') val = val === 'true';
    if (key === 'lastValueFunc' && val !== 'max' && val !== 'min') {
      throw new ConfigurationError(`Invalid last_value_func=${JSON.stringify(val)} in [${section}]: must be "max" or "min"`, { value: val });
    }
    o[key] = val;
  }
  return { cursorPath: cfg.cursor_path, options: o as IncrementalOptions };
}

function resolveDef(def: IncrementalDef, ctx: BindContext): IncrementalDef {
  if (def.fromConfig) {
    const section = `${ctx.pipelineName}.sources.${ctx.resourceName}`;
    const cfg = ctx.config?.(ctx.pipelineName, ctx.resourceName) ?? {};
    const { cursorPath, options } = configToOptions(cfg, section);
    const path = cursorPath ?? def.cursorPath;
    if (isNil(path) || path === '') {
      throw new ConfigurationError(
        `incremental.fromConfig() on resource "${ctx.resourceName}": missing cursor_path in [${section}] (.tide/config.toml) or env ${ctx.pipelineName.toUpperCase()}__SOURCES__${ctx.resourceName.toUpperCase()}__CURSOR_PATH`,
        { pipeline: ctx.pipelineName, resource: ctx.resourceName },
      );
    }
    // code overrides win over configuration
    return new IncrementalDef(String(path), { ...options, ...def.options });
  }
  if (def.cursorPath === undefined) {
    throw new ConfigurationError(
      `incremental on resource "${ctx.resourceName}" has no cursor path (an override form must be merged with a definition that has one)`,
      { pipeline: ctx.pipelineName, resource: ctx.resourceName },
    );
  }
  return def;
}

// ---------------------------------------------------------------- runtime

export class Incremental {
  readonly cursorPath: string;
  readonly initialValue: unknown;
  readonly startValue: unknown;
  readonly endValue: unknown;
  readonly stateless: boolean;
  readonly rowOrder?: 'asc' | 'desc';
  readonly lag?: number;
  /** true when the external interval (after clipping) is empty: nothing can be loaded */
  readonly emptyRange: boolean;
  readonly resourceName: string;

  readonly #ctx: BindContext;
  readonly #def: IncrementalDef;
  readonly #func: LastValueFunc;
  /** +1 for max, -1 for min, 0 for a custom function */
  readonly #dir: 1 | -1 | 0;
  readonly #getCursor: CursorGetter;
  readonly #onMissing: 'raise' | 'include' | 'exclude';
  readonly #rangeStartOpen: boolean;
  readonly #rangeEndOpen: boolean;
  readonly #dedup: boolean;
  readonly #dedupKey: string[] | undefined; // undefined = whole row
  readonly #lagActive: boolean;
  readonly #state: IncrementalCursorState;
  /** raw (un-lagged) last_value read at bind time (INC-18) */
  readonly #rawStartValue: unknown;
  readonly #boundary: BoundarySet;
  #running: unknown;
  #writtenVersion = -1;
  #warnedLarge = false;
  #closed = false;
  #startOOR = false;
  #endOOR = false;

  private constructor(def: IncrementalDef, ctx: BindContext) {
    this.#ctx = ctx;
    this.#def = def;
    this.resourceName = ctx.resourceName;
    const o = def.options;
    this.cursorPath = def.cursorPath!;
    this.#getCursor = compileCursor(this.cursorPath);
    this.#func = o.lastValueFunc ?? 'max';
    this.#dir = this.#func === 'max' ? 1 : this.#func === 'min' ? -1 : 0;
    this.#onMissing = o.onCursorValueMissing ?? 'raise';
    this.#rangeStartOpen = o.rangeStart === 'open';
    this.#rangeEndOpen = (o.rangeEnd ?? 'open') === 'open';
    this.rowOrder = o.rowOrder;
    this.lag = o.lag;

    const range = this.#range(o, ctx);
    if (!range.empty) checkEndValue(range.initial, range.end, this.#func);
    this.initialValue = range.initial;
    this.endValue = range.end;
    this.emptyRange = range.empty;
    this.stateless = range.joined || !isNil(range.end);

    // dedup key (INC-27): explicit primaryKey wins (even []), else the resource hint, else the whole row
    const pk = o.primaryKey !== undefined ? o.primaryKey : ctx.resourcePrimaryKey;
    const pkList = pk === undefined ? undefined : typeof pk === 'string' ? [pk] : [...pk];
    this.#lagActive = this.#lagIsActive(o, ctx, range.end);
    this.#dedup = !(this.#rangeStartOpen || !isNil(range.end) || this.#lagActive || (pkList !== undefined && pkList.length === 0));
    this.#dedupKey = pkList;

    this.#state = this.stateless ? freshCursorState(range.initial) : this.#storedState(ctx.resourceState, range.initial);
    if (ctx.handover && range.joined && !isNil(range.end)) this.#handOver(ctx.resourceState, range);
    this.#rawStartValue = this.#state.last_value ?? null;
    this.startValue = this.#lagged(this.#rawStartValue);
    this.#running = this.startValue;
    this.#boundary = new BoundarySet(this.#dedup ? this.#state.unique_hashes : [], this.#dedup ? this.#state.unique_key_ranges : [], ctx.dedupHashForm);
    this.#logBind(o, range);
  }

  /**
   * The range `[initial, end)` of this run: the configured bounds, or an external interval (AF-5: an
   * absent or future end, or start == end, ends at now; AF-4: converted to the cursor's type; AF-3:
   * clipped by configured bounds, which win). `empty` when nothing is left (a start at or after now,
   * or clipped away): nothing is loaded.
   */
  #range(o: IncrementalOptions, ctx: BindContext): Range {
    const initial: unknown = o.initialValue ?? null;
    const end: unknown = o.endValue ?? null;
    if (!o.allowExternalSchedulers || !ctx.interval) return { initial, end, joined: false, empty: false };
    const interval = schedulerRange(ctx.interval, ctx.now ? ctx.now() : new Date());
    const type = o.cursorType ?? inferCursorType(initial) ?? inferCursorType(end);
    if (!type) {
      throw new ConfigurationError(
        `Cannot apply the external interval to incremental "${this.cursorPath}" on resource "${ctx.resourceName}": set cursorType or an initialValue to infer the cursor's type from`,
        { pipeline: ctx.pipelineName, resource: ctx.resourceName },
      );
    }
    const template = initial ?? end;
    let iStart = convertIntervalBound(interval.start, type, template);
    let iEnd = convertIntervalBound(interval.end, type, template);
    try {
      if (!isNil(initial) && this.#eq(this.#best([initial, iStart]), initial)) iStart = initial;
      if (!isNil(end) && this.#eq(this.#best([end, iEnd]), iEnd)) iEnd = end;
    } catch (e) {
      throw new ConfigurationError(`External interval and configured bounds of incremental "${this.cursorPath}" are not comparable: ${(e as Error).message}`, { cause: e });
    }
    const empty = this.#dir !== 0 ? this.#dir * compare(iStart, iEnd) >= 0 : this.#eq(iStart, iEnd);
    return { initial: iStart, end: iEnd, joined: true, empty, interval };
  }

  /** Lag (INC-38..40) applies to max / min cursors of stateful runs only; otherwise it says why not. */
  #lagIsActive(o: IncrementalOptions, ctx: BindContext, end: unknown): boolean {
    if (!o.lag) return false;
    if (this.#dir === 0) ctx.warn?.(`Lag on ${ctx.resourceName} is only supported for max or min last_value_func. Provided: ${lastValueFuncName(this.#func)}`);
    else if (!isNil(end)) ctx.log?.(`Lag on ${ctx.resourceName} is deactivated if end_value is set in incremental.`);
    return this.#dir !== 0 && isNil(end);
  }

  /** The cursor's state object inside the resource state, created fresh when missing (INC-14, INC-48). */
  /** The stored cursor (not this run's throw-away one) now starts at the interval's end: `[end, …)` is the next run's. */
  #handOver(rs: Record<string, unknown>, range: Range): void {
    const st = this.#storedState(rs, range.initial);
    st.last_value = range.end;
    st.unique_hashes = [];
    delete st.unique_key_ranges;
  }

  #storedState(rs: Record<string, unknown>, initial: unknown): IncrementalCursorState {
    let inc = rs.incremental as Record<string, unknown> | undefined;
    if (inc === undefined || inc === null || typeof inc !== 'object') {
      inc = {};
      rs.incremental = inc;
    }
    let st = inc[this.cursorPath] as IncrementalCursorState | undefined;
    if (!st || typeof st !== 'object' || Object.keys(st).length === 0) {
      st = freshCursorState(initial);
      inc[this.cursorPath] = st;
    }
    if (st.last_value === undefined) st.last_value = null;
    return st;
  }

  #logBind(o: IncrementalOptions, range: Range): void {
    const ctx = this.#ctx;
    ctx.log?.(
      `Bind incremental on ${ctx.resourceName} with initial_value: ${show(this.initialValue)}, start_value: ${show(this.startValue)}, end_value: ${show(this.endValue)}, func: ${lastValueFuncName(this.#func)}, row_order: ${this.rowOrder ?? 'None'}, on_missing: ${this.#onMissing}, range_start: ${o.rangeStart ?? 'closed'}, range_end: ${o.rangeEnd ?? 'open'}` +
        (range.interval ? `, external interval: ${showInterval(ctx.interval!, range.interval)}${range.empty ? ' is empty: nothing will be loaded' : ''}` : '') +
        (this.stateless ? ' (stateless)' : ''),
    );
  }

  static bind(def: IncrementalDef, ctx: BindContext): Incremental {
    return new Incremental(resolveDef(def, ctx), ctx);
  }

  /** The definition as resolved at bind time (fromConfig applied). */
  get definition(): IncrementalDef {
    return this.#def;
  }

  /** Current last value, read from (live) state, lag applied like dlt's `last_value` property. */
  get lastValue(): unknown {
    return this.#lagged(this.#state.last_value ?? null);
  }

  get startOutOfRange(): boolean {
    return this.#startOOR;
  }

  get endOutOfRange(): boolean {
    return this.#endOOR;
  }

  /** dlt can_close(): row order declared and the last processed row was beyond the range. */
  canClose(): boolean {
    return (this.rowOrder === 'asc' && this.#endOOR) || (this.rowOrder === 'desc' && this.#startOOR);
  }

  /** Sticky: canClose() was true after some processed row (INC-37). */
  get shouldClose(): boolean {
    return this.#closed;
  }

  /** The cursor state entry (the live object in resourceState, or a throw-away one when stateless). */
  get cursorState(): Readonly<IncrementalCursorState> {
    return this.#state;
  }

  // ------------------------------------------------------------ helpers

  #best(values: unknown[]): unknown {
    if (this.#dir === 0) return (this.#func as (v: unknown[]) => unknown)(values);
    if (values.length === 1) return values[0];
    // Python max/min return the first of equal values
    const c = compare(values[0], values[1]);
    return this.#dir * c >= 0 ? values[0] : values[1];
  }

  #eq(a: unknown, b: unknown): boolean {
    if (isNil(a) || isNil(b)) return isNil(a) && isNil(b);
    if (this.#dir !== 0) {
      try {
        return compare(a, b) === 0;
      } catch {
        return false;
      }
    }
    return deepEqual(a, b);
  }

  #lagged(value: unknown): unknown {
    if (!this.#lagActive || isNil(value)) return value;
    let v: unknown;
    try {
      v = shiftByLag(value, this.lag!, this.#dir === 1 ? -1 : 1);
    } catch (e) {
      if (e instanceof LagError) throw new ConfigurationError(e.message, { resource: this.#ctx.resourceName, value });
      throw e;
    }
    // never cross initial_value
    let c: number;
    try {
      c = isNil(this.initialValue) ? -1 : this.#dir * compare(this.initialValue, v);
    } catch (e) {
      throw new ConfigurationError(
        `Incremental \`initial_value=${show(this.initialValue)}\` and the stored last_value ${show(value)} are not comparable: ${(e as Error).message}`,
        { resource: this.#ctx.resourceName, cause: e },
      );
    }
    return c >= 0 ? this.initialValue : v;
  }

  #coercion(e: unknown, against: unknown, label: string, rowValue: unknown, item: unknown): TideError {
    if (e instanceof TideError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new IncrementalCursorInvalidCoercion(
      `Incremental cursor "${this.cursorPath}" on resource "${this.#ctx.resourceName}": row value ${show(rowValue)} (${rowValue instanceof Date ? 'Date' : typeof rowValue}) cannot be compared with ${label} ${show(against)}: ${msg}`,
      { cursorPath: this.cursorPath, pipeline: this.#ctx.pipelineName, resource: this.#ctx.resourceName, item, value: rowValue, cause: e },
    );
  }

  #keyOf(row: unknown): unknown {
    const k = this.#dedupKey;
    if (k === undefined) return row;
    if (row === null || typeof row !== 'object') {
      throw new IncrementalPrimaryKeyMissing(`Primary key column "${k[0]}" is missing from the item (not an object)`, {
        primaryKeyColumn: k[0], pipeline: this.#ctx.pipelineName, resource: this.#ctx.resourceName, item: row,
      });
    }
    const r = row as Record<string, unknown>;
    if (k.length === 1) {
      const v = r[k[0]];
      if (v === undefined) this.#pkMissing(k[0], row);
      return v;
    }
    const out = new Array(k.length);
    for (let i = 0; i < k.length; i++) {
      const v = r[k[i]];
      if (v === undefined) this.#pkMissing(k[i], row);
      out[i] = v;
    }
    return out;
  }

  #pkMissing(col: string, row: unknown): never {
    throw new IncrementalPrimaryKeyMissing(
      `Primary key column "${col}" used for incremental deduplication on cursor "${this.cursorPath}" is missing from the item`,
      { primaryKeyColumn: col, pipeline: this.#ctx.pipelineName, resource: this.#ctx.resourceName, item: row },
    );
  }

  // ------------------------------------------------------------ filtering

  /** compareFast(v, against); a failure becomes the typed coercion error naming `label` and the row. */
  #compareTo(v: unknown, against: unknown, label: string, row: unknown): number {
    try {
      return compareFast(v, against);
    } catch (e) {
      throw this.#coercion(e, against, label, v, row);
    }
  }

  /** Returns true to keep the row; sets the per-row out-of-range flags (INC-23). */
  #filterMinMax(row: unknown, v: unknown): boolean {
    const d = this.#dir;
    const end = this.endValue;
    if (end !== null && end !== undefined) {
      const c = d * this.#compareTo(v, end, 'end_value', row);
      if (c > 0 || (c === 0 && this.#rangeEndOpen)) {
        this.#startOOR = false;
        this.#endOOR = true;
        return false;
      }
    }
    this.#startOOR = false;
    this.#endOOR = false;
    const last = this.#running;
    if (last === null || last === undefined) {
      this.#running = v;
      if (this.#dedup) this.#newBoundary(row);
      return true;
    }
    const c = d * this.#compareTo(v, last, 'start_value/initial_value', row);
    if (c > 0) {
      this.#running = v;
      if (this.#dedup) this.#newBoundary(row);
      return true;
    }
    const start = this.startValue;
    if (start !== null && start !== undefined) {
      const cs = d * this.#compareTo(v, start, 'start_value/initial_value', row);
      if (cs < 0 || (cs === 0 && this.#rangeStartOpen)) {
        this.#startOOR = true;
        return false;
      }
      if (cs === 0 && this.#dedup && this.#boundary.seenBefore(this.#keyOf(row))) {
        this.#startOOR = true;
        return false;
      }
    }
    if (c === 0 && this.#dedup) this.#pendingBoundary.push(row);
    return true;
  }

  /**
   * Rows at the running last value are collected per page and keyed once at the page's end: in an
   * ascending stream nearly every row is a new maximum, and keying each of them would be wasted.
   */
  #pendingBoundary: unknown[] = [];
  #pendingReset = false;

  #newBoundary(row: unknown): void {
    this.#pendingReset = true;
    this.#pendingBoundary.length = 0;
    this.#pendingBoundary.push(row);
  }

  #settleBoundary(): void {
    if (this.#pendingReset) {
      this.#boundary.reset();
      this.#pendingReset = false;
    }
    const rows = this.#pendingBoundary;
    for (let i = 0; i < rows.length; i++) this.#boundary.add(this.#keyOf(rows[i]));
    rows.length = 0;
  }

  /** Custom last_value_func: mirrors dlt's JsonIncremental.__call__ with structural equality. */
  #filterCustom(row: unknown, v: unknown): boolean {
    const f = this.#func as (values: unknown[]) => unknown;
    const call = (values: unknown[], against: unknown, label: string): unknown => {
      try {
        return f(values);
      } catch (e) {
        throw this.#coercion(e, against, label, v, row);
      }
    };
    const end = this.endValue;
    if (!isNil(end)) {
      if (!deepEqual(call([v, end], end, 'end_value'), end) || (this.#rangeEndOpen && deepEqual(call([v], end, 'end_value'), end))) {
        this.#startOOR = false;
        this.#endOOR = true;
        return false;
      }
    }
    this.#startOOR = false;
    this.#endOOR = false;
    const last = this.#running;
    const start = this.startValue;
    const newValue = isNil(last) ? call([v], last, 'start_value/initial_value') : call([v, last], last, 'start_value/initial_value');
    if (!isNil(last) && deepEqual(last, newValue)) {
      const processed = call([v], start, 'start_value/initial_value');
      if (this.#rangeStartOpen && !isNil(start) && deepEqual(processed, start)) {
        this.#startOOR = true;
        return false;
      }
      const nv = isNil(start) ? processed : call([v, start], start, 'start_value/initial_value');
      if (!isNil(start) && deepEqual(nv, start)) {
        if (deepEqual(processed, start)) {
          if (this.#dedup && this.#boundary.seenBefore(this.#keyOf(row))) {
            this.#startOOR = true;
            return false;
          }
        } else {
          this.#startOOR = true;
          return false;
        }
      }
      if (this.#dedup && deepEqual(processed, last)) this.#boundary.add(this.#keyOf(row));
    } else {
      this.#running = newValue;
      if (this.#dedup) {
        this.#boundary.reset();
        this.#boundary.add(this.#keyOf(row));
      }
    }
    return true;
  }

  #missing(row: unknown, found: boolean): boolean {
    if (this.#onMissing === 'raise') {
      const Cls = found ? IncrementalCursorValueNone : IncrementalCursorPathMissing;
      throw new Cls(
        found
          ? `Cursor path "${this.cursorPath}" has a null value in an item of resource "${this.#ctx.resourceName}" (set onCursorValueMissing to 'include' or 'exclude' to accept it)`
          : `Cursor path "${this.cursorPath}" is missing from an item of resource "${this.#ctx.resourceName}" (set onCursorValueMissing to 'include' or 'exclude' to accept it)`,
        { cursorPath: this.cursorPath, pipeline: this.#ctx.pipelineName, resource: this.#ctx.resourceName, item: row },
      );
    }
    this.#startOOR = false;
    this.#endOOR = false;
    return this.#onMissing === 'include';
  }

  /**
   * Filters one batch (a yielded item as [item], a page as the array). Returns the kept items in order.
   * Updates lastValue, flags and dedup set, and writes the cursor state back after every batch (INC-18).
   */
  process(items: unknown[]): unknown[] {
    if (!items || items.length === 0) return items ?? [];
    const out: unknown[] = [];
    const custom = this.#dir === 0;
    const getCursor = this.#getCursor;
    const closeOn = this.rowOrder;
    for (let i = 0; i < items.length; i++) {
      const row = items[i];
      if (row === null || row === undefined) continue;
      const value = getCursor(row);
      const found = value !== undefined;
      let keep: boolean;
      if (value === null || value === undefined) keep = this.#missing(row, found);
      else keep = custom ? this.#filterCustom(row, value) : this.#filterMinMax(row, value);
      if (keep) out.push(row);
      if (closeOn !== undefined && !this.#closed && this.canClose()) this.#closed = true;
    }
    if (this.#dedup) this.#settleBoundary();
    this.#writeBack(out.length > 0);
    return out;
  }

  #writeBack(producedRows: boolean): void {
    const st = this.#state;
    // forward-only last_value with lag (INC-40); PP-7 fixed: a stored 0 (or '' / false) is still guarded
    if (this.#lagActive && !isNil(this.#rawStartValue) && !isNil(this.#running)) {
      this.#running = this.#best([this.#running, this.#rawStartValue]);
    }
    st.last_value = this.#running ?? null;
    if (producedRows) st.start_value = this.#rawStartValue;
    if (!this.#dedup) {
      if (!Array.isArray(st.unique_hashes) || st.unique_hashes.length !== 0 || isAccessor(st, 'unique_hashes')) setPlain(st, 'unique_hashes', []);
      if ('unique_key_ranges' in st) delete st.unique_key_ranges;
      return;
    }
    const b = this.#boundary;
    if (b.version === this.#writtenVersion) return;
    this.#writtenVersion = b.version;
    const size = b.size;
    if (!this.#warnedLarge && size > DUPLICATE_CURSOR_WARNING_THRESHOLD && (b.startCount <= DUPLICATE_CURSOR_WARNING_THRESHOLD || !b.carry)) {
      this.#warnedLarge = true;
      this.#ctx.warn?.(
        `Large number of records (${size}) sharing the same value of cursor field '${this.cursorPath}' on resource '${this.#ctx.resourceName}'. This can happen if the cursor field has a low resolution (e.g., only stores dates without times), causing many records to share the same cursor value. Consider using a cursor column with higher resolution to reduce the deduplication state size. (tide stores integer primary keys of large boundaries as ranges; other keys are kept as one hash each.)`,
      );
    }
    // lazy: hashed / range-encoded when the state is read (persisted), not after every page: an
    // ascending stream moves the boundary on every page, and hashing its keys each time was a quarter
    // of the filter's cost
    if (size === 0) {
      setPlain(st, 'unique_hashes', []);
      if ('unique_key_ranges' in st) delete st.unique_key_ranges;
      return;
    }
    setLazy(st, 'unique_hashes', () => b.materialize().hashes);
    // small sets keep dlt's layout: hashes only, no unique_key_ranges key
    if (size <= COMPACT_MIN && !b.carriesRanges) {
      if ('unique_key_ranges' in st) delete st.unique_key_ranges;
    } else setLazy(st, 'unique_key_ranges', () => b.materialize().ranges ?? []);
  }
}

function isAccessor(o: object, k: string): boolean {
  const d = Object.getOwnPropertyDescriptor(o, k);
  return !!d && (d.get !== undefined || d.set !== undefined);
}

/** An enumerable getter (evaluated by JSON.stringify / structuredClone); assigning replaces it with the value. */
function setLazy(o: object, k: string, get: () => unknown): void {
  Object.defineProperty(o, k, { enumerable: true, configurable: true, get, set: (v: unknown) => setPlain(o, k, v) });
}

function setPlain(o: object, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

