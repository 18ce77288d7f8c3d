/**
 * The immutable incremental definition (dlt `dlt.sources.incremental(...)` before binding).
 */
import { ConfigurationError } from '../errors.ts';
import { compare, IncomparableError, deepEqual, show } from './compare.ts';

export type LastValueFunc = 'max' | 'min' | ((values: unknown[]) => unknown);

export interface IncrementalOptions {
  initialValue?: unknown;
  endValue?: unknown;
  lastValueFunc?: LastValueFunc;
  primaryKey?: string | string[];
  rowOrder?: 'asc' | 'desc';
  onCursorValueMissing?: 'raise' | 'include' | 'exclude';
  allowExternalSchedulers?: boolean;
  lag?: number;
  rangeStart?: 'closed' | 'open';
  rangeEnd?: 'open' | 'closed';
  /** how an external interval converts to the cursor's type; inferred from initialValue when absent */
  cursorType?: 'iso' | 'epoch_s' | 'epoch_ms' | 'date' | 'Date';
}

const OPTION_KEYS: ReadonlyArray<keyof IncrementalOptions> = [
  'initialValue', 'endValue', 'lastValueFunc', 'primaryKey', 'rowOrder', 'onCursorValueMissing',
  'allowExternalSchedulers', 'lag', 'rangeStart', 'rangeEnd', 'cursorType',
];

function oneOf(name: string, value: unknown, allowed: readonly unknown[]): void {
  if (value !== undefined && !allowed.includes(value)) {
    throw new ConfigurationError(
      `Invalid incremental option ${name}=${JSON.stringify(value)}: must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
      { value },
    );
  }
}

/** Rejects obviously malformed JSONPath (jsonpath-plus itself is lenient). */
export function validateCursorPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new ConfigurationError(`Invalid incremental cursor path ${JSON.stringify(path)}: must be a non-empty JSONPath string`, { value: path });
  }
  for (const part of path.split('|')) {
    const p = part.trim();
    let depth = 0;
    let quote: string | undefined;
    let bad = p === '' || /\.$/.test(p) || /^\./.test(p) || /\.\.\./.test(p);
    for (let i = 0; i < p.length && !bad; i++) {
      const c = p[i];
      if (quote) {
        if (c === quote) quote = undefined;
        continue;
      }
      if (c === "'" || c === '"') quote = c;
      else if (c === '[') depth++;
      else if (c === ']') {
        depth--;
        if (depth < 0) bad = true;
      } else if (c === '.' && p[i + 1] === '[' && p[i - 1] !== '.') bad = true;
    }
    if (quote || depth !== 0 || /\[\s*\]/.test(p)) bad = true;
    if (bad) throw new ConfigurationError(`Invalid incremental cursor path ${JSON.stringify(path)}: not a valid JSONPath`, { value: path });
  }
}

export function lastValueFuncName(f: LastValueFunc | undefined): string {
  if (f === undefined || f === 'max') return 'max';
  if (f === 'min') return 'min';
  return f.name || 'custom';
}


/** INC-19: end_value needs initial_value and must be "after" it according to last_value_func. */
export function checkEndValue(initialValue: unknown, endValue: unknown, func: LastValueFunc | undefined): void {
  if (endValue === undefined || endValue === null) return;
  if (initialValue === undefined || initialValue === null) {
    throw new ConfigurationError(
      'Incremental `end_value` was specified without `initial_value`.`initial_value` is required when using `end_value`.',
    );
  }
  const f = func ?? 'max';
  let ok: boolean;
  try {
    if (f === 'max' || f === 'min') {
      const c = compare(endValue, initialValue);
      ok = f === 'max' ? c >= 0 : c <= 0;
    } else {
      ok = deepEqual(f([endValue, initialValue]), endValue);
    }
  } catch (e) {
    throw new ConfigurationError(
      `Incremental \`initial_value=${show(initialValue)}\` and \`end_value=${show(endValue)}\` are not comparable. Make sure they are of the same type and tz-awareness: ${e instanceof IncomparableError || e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  if (!ok) {
    if (f === 'max' || f === 'min') {
      const adject = f === 'max' ? 'higher' : 'lower';
      throw new ConfigurationError(
        `Incremental \`initial_value=${show(initialValue)}\` is ${adject} than \`end_value=${show(endValue)}\`. 'end_value' must be ${adject} than \`initial_value\`.`,
      );
    }
    throw new ConfigurationError(
      `Incremental \`initial_value=${show(initialValue)}\` is greater than \`end_value=${show(endValue)}\` as determined by the custom \`last_value_func\`. The result of \`${lastValueFuncName(f)}([end_value, initial_value])\` must equal \`end_value\``,
    );
  }
}

/** Validates option values (not the cursor path). Throws ConfigurationError. */
function validateOptions(o: IncrementalOptions): void {
  oneOf('onCursorValueMissing', o.onCursorValueMissing, ['raise', 'include', 'exclude']);
  oneOf('rowOrder', o.rowOrder, ['asc', 'desc']);
  oneOf('rangeStart', o.rangeStart, ['closed', 'open']);
  oneOf('rangeEnd', o.rangeEnd, ['open', 'closed']);
  oneOf('cursorType', o.cursorType, ['iso', 'epoch_s', 'epoch_ms', 'date', 'Date']);
  if (o.lastValueFunc !== undefined && typeof o.lastValueFunc !== 'function') {
    oneOf('lastValueFunc', o.lastValueFunc, ['max', 'min']);
  }
  if (o.lag !== undefined && (typeof o.lag !== 'number' || !Number.isFinite(o.lag) || o.lag < 0)) {
    throw new ConfigurationError(`Invalid incremental option lag=${JSON.stringify(o.lag)}: must be a non-negative number`, { value: o.lag });
  }
  if (o.primaryKey !== undefined) {
    const ok = typeof o.primaryKey === 'string' || (Array.isArray(o.primaryKey) && o.primaryKey.every((k) => typeof k === 'string'));
    if (!ok) throw new ConfigurationError(`Invalid incremental option primaryKey=${JSON.stringify(o.primaryKey)}: must be a string or an array of strings`);
  }
}

function definedOnly(o: IncrementalOptions | undefined): IncrementalOptions {
  const out: Record<string, unknown> = {};
  if (!o) return out;
  for (const k of OPTION_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as IncrementalOptions;
}

export class IncrementalDef {
  readonly cursorPath?: string;
  readonly options: Readonly<IncrementalOptions>;
  readonly fromConfig: boolean;

  constructor(cursorPath: string | undefined, options: IncrementalOptions | undefined, fromConfig = false) {
    if (cursorPath !== undefined) validateCursorPath(cursorPath);
    const opts = definedOnly(options);
    validateOptions(opts);
    if (opts.primaryKey !== undefined && Array.isArray(opts.primaryKey)) opts.primaryKey = Object.freeze([...opts.primaryKey]) as string[];
    // INC-19 when both are already known (a fromConfig/override def is re-checked at bind time)
    if (opts.endValue !== undefined && opts.initialValue !== undefined) checkEndValue(opts.initialValue, opts.endValue, opts.lastValueFunc);
    this.cursorPath = cursorPath;
    this.options = Object.freeze(opts);
    this.fromConfig = fromConfig;
    Object.freeze(this);
  }

  /** INC-8: `other`'s defined fields override this one's (cursor path included). */
  mergedWith(other: IncrementalDef): IncrementalDef {
    return new IncrementalDef(
      other.cursorPath ?? this.cursorPath,
      { ...this.options, ...definedOnly(other.options) },
      other.fromConfig || this.fromConfig,
    );
  }
}

export interface IncrementalFactory {
  (cursorPath: string, options?: IncrementalOptions): IncrementalDef;
  (options: IncrementalOptions): IncrementalDef;
  /** Resolved at bind time from `[<pipeline>.sources.<resource>]` (+ env); `overrides` win over config. */
  fromConfig(overrides?: IncrementalOptions): IncrementalDef;
}

function incrementalImpl(a: string | IncrementalOptions, b?: IncrementalOptions): IncrementalDef {
  if (typeof a === 'string') return new IncrementalDef(a, b);
  if (a === undefined || a === null || typeof a !== 'object') {
    throw new ConfigurationError(`incremental() expects a cursor path string or an options object`, { value: a });
  }
  return new IncrementalDef(undefined, a);
}

export const incremental: IncrementalFactory = Object.assign(incrementalImpl as IncrementalFactory, {
  fromConfig(overrides?: IncrementalOptions): IncrementalDef {
    return new IncrementalDef(undefined, overrides, true);
  },
});
