/**
 * tide's typed errors. Every error is data: it carries the pipeline, resource, table, column and
 * the offending item or value where they are known, so a user can find the bad input and a
 * Temporal activity can decide whether retrying can help (`retryable`).
 *
 * `instanceof` is symbol-based (as in the Temporal SDK): errors cross module copies and bundles.
 */

export interface TideErrorFields {
  pipeline?: string;
  resource?: string;
  table?: string;
  column?: string;
  /** The item (as yielded) or value that caused the error; truncated when rendered. */
  item?: unknown;
  value?: unknown;
  loadId?: string;
  cause?: unknown;
}

const MARK = Symbol.for('tide.error');

function preview(v: unknown, max = 300): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
  } catch {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Base of all tide errors. */
export class TideError extends Error {
  /** Whether retrying the same input can succeed (network, server restart). Bad input is not retryable. */
  readonly retryable: boolean = false;
  readonly pipeline?: string;
  readonly resource?: string;
  readonly table?: string;
  readonly column?: string;
  readonly item?: unknown;
  readonly value?: unknown;
  readonly loadId?: string;

  constructor(message: string, fields: TideErrorFields = {}) {
    const where = [
      fields.pipeline && `pipeline "${fields.pipeline}"`,
      fields.resource && `resource "${fields.resource}"`,
      fields.table && `table "${fields.table}"`,
      fields.column && `column "${fields.column}"`,
    ].filter(Boolean);
    let full = message;
    if (where.length) full += ` [${where.join(', ')}]`;
    if (fields.value !== undefined) full += `\n  value: ${preview(fields.value)}`;
    if (fields.item !== undefined) full += `\n  item: ${preview(fields.item)}`;
    super(full, fields.cause !== undefined ? { cause: fields.cause } : undefined);
    this.pipeline = fields.pipeline;
    this.resource = fields.resource;
    this.table = fields.table;
    this.column = fields.column;
    this.item = fields.item;
    this.value = fields.value;
    this.loadId = fields.loadId;
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true });
    Object.defineProperty(this, MARK, { value: new.target.name });
  }

  /** Returns a copy of the error's fields with the pipeline name filled in where missing. */
  static override [Symbol.hasInstance](this: unknown, x: unknown): boolean {
    if (this === TideError) return typeof x === 'object' && x !== null && MARK in x;
    return Function.prototype[Symbol.hasInstance].call(this as object, x);
  }
}

/** A resource, transformer or source was defined wrongly (bad options, a started generator…). */
export class ResourceDefinitionError extends TideError {}

/** A started generator was passed where a resource function is expected (dlt's IncrementalUnboundError). */
export class IncrementalUnboundError extends ResourceDefinitionError {}

/** The resource's own code threw while extracting: often a flaky upstream, so a retry may help. */
export class ExtractError extends TideError {
  override readonly retryable: boolean = true;
}

/**
 * A REST API request that failed for good: a status no response action handles, or a 429 / 5xx /
 * network error still failing after the retries. `url` has its secrets masked; `status` is absent
 * when no response came. Retryable when a later attempt may succeed (429, 5xx, network, timeout).
 */
export class RestApiError extends ExtractError {
  override readonly retryable: boolean;
  readonly url: string;
  readonly status?: number;
  constructor(message: string, fields: TideErrorFields & { url: string; status?: number }) {
    super(message, fields);
    this.url = fields.url;
    this.status = fields.status;
    this.retryable = fields.status === undefined || fields.status === 429 || fields.status >= 500;
  }
}

/** An item could not be turned into rows (cyclic object, bad key, invalid date…). */
export class NormalizeError extends TideError {}

/** A null or missing value in a key column (primary key, merge key). */
export class CannotCoerceNullError extends NormalizeError {}

/** The destination rejected the load; `sqlState` and the Postgres fields are copied from the server error. */
export class LoadError extends TideError {
  override readonly retryable: boolean;
  readonly sqlState?: string;
  readonly detail?: string;
  readonly where?: string;
  readonly sql?: string;
  constructor(
    message: string,
    fields: TideErrorFields & { sqlState?: string; detail?: string; where?: string; sql?: string; retryable?: boolean } = {},
  ) {
    super(message, fields);
    this.sqlState = fields.sqlState;
    this.detail = fields.detail;
    this.where = fields.where;
    this.sql = fields.sql;
    this.retryable = fields.retryable ?? false;
  }
}

/**
 * A staged package the load step needs is gone (never staged, dropped, or emptied by a server crash:
 * staging tables are unlogged). Retrying the load cannot help; extracting again can, and an
 * orchestrator does that.
 */
export class PackageGoneError extends LoadError {
  readonly packages: string[];
  constructor(message: string, fields: TideErrorFields & { packages: string[] }) {
    super(message, { ...fields, retryable: false });
    this.packages = fields.packages;
  }
}

/**
 * A run over a data interval that partly overlaps the interval of an earlier load of the pipeline:
 * neither replacing the earlier rows (they reach outside this interval) nor keeping them (they
 * overlap) is right. Raised before anything is written; `interval` and `overlaps` name both.
 */
export class IntervalOverlapError extends TideError {
  readonly interval: { start: string; end: string };
  readonly overlaps: { loadId: string; start: string; end: string };
  constructor(message: string, fields: TideErrorFields & { interval: { start: string; end: string }; overlaps: { loadId: string; start: string; end: string } }) {
    super(message, fields);
    this.interval = fields.interval;
    this.overlaps = fields.overlaps;
  }
}

/** A load whose load id is already in the ledger: a retried attempt of a run that did commit. */
export class AlreadyLoadedError extends LoadError {}

/** A component of a decomposed run and why it failed. */
export interface FailedComponent {
  component: string;
  error: string;
}

/**
 * A decomposed run with `triggerRule: 'all_done'` whose components did not all succeed: the others
 * committed (`loadId`, unset when none had anything to load); the failed ones' state is unchanged.
 */
export class ComponentsFailedError extends TideError {
  readonly failed: FailedComponent[];
  constructor(message: string, fields: TideErrorFields & { failed: FailedComponent[] }) {
    super(message, fields);
    this.failed = fields.failed;
  }
}

/** The stored schema and the data disagree in a way evolution cannot fix. */
export class SchemaError extends TideError {}

/**
 * An item would change the schema where the schema contract says `freeze` (dlt's
 * DataValidationError): a new table, a new column or a new variant column. The run fails before
 * anything is loaded; retrying the same data cannot help. `entity` says which part of the contract.
 */
export class DataContractViolation extends SchemaError {
  readonly entity: 'tables' | 'columns' | 'data_type';
  constructor(message: string, fields: TideErrorFields & { entity: 'tables' | 'columns' | 'data_type' }) {
    super(message, fields);
    this.entity = fields.entity;
  }
}

/**
 * A SQL database source cannot read what it was asked to: a missing table or column, a cursor that
 * names no column. Not retryable (a connection failure is not this: it surfaces as ExtractError).
 */
export class SqlSourceError extends TideError {}

/** Configuration (config.toml, env, options) is invalid. */
export class ConfigurationError extends TideError {}

/**
 * A required config value or secret that no provider has (dlt's ConfigFieldMissingException): names
 * the key and every place looked, in lookup order; never a value.
 */
export class ConfigFieldMissingError extends ConfigurationError {
  readonly key: string;
  readonly lookedIn: readonly string[];
  constructor(message: string, fields: TideErrorFields & { key: string; lookedIn: readonly string[] }) {
    super(message, fields);
    this.key = fields.key;
    this.lookedIn = Object.freeze([...fields.lookedIn]);
    this.message += `\n  looked in, in this order:\n${fields.lookedIn.map((p) => `    ${p}`).join('\n')}`;
  }
}

/** A run param that is unknown, missing (required) or not of its declared type: names it. Not retryable. */
export class ParamError extends TideError {
  readonly param: string;
  constructor(message: string, param: string, fields: TideErrorFields = {}) {
    super(message, fields);
    this.param = param;
  }
}

/** Incremental cursor path missing from an item with onCursorValueMissing: 'raise'. */
export class IncrementalCursorPathMissing extends TideError {
  readonly cursorPath: string;
  constructor(message: string, fields: TideErrorFields & { cursorPath: string }) {
    super(message, fields);
    this.cursorPath = fields.cursorPath;
  }
}

/** Incremental cursor value is null with onCursorValueMissing: 'raise'. */
export class IncrementalCursorValueNone extends IncrementalCursorPathMissing {}

/** A cursor value cannot be compared with the start/end values (e.g. a date against a number). */
export class IncrementalCursorInvalidCoercion extends TideError {
  readonly cursorPath: string;
  constructor(message: string, fields: TideErrorFields & { cursorPath: string }) {
    super(message, fields);
    this.cursorPath = fields.cursorPath;
  }
}

/** The incremental's primary key is missing from an item. */
export class IncrementalPrimaryKeyMissing extends TideError {
  readonly primaryKeyColumn: string;
  constructor(message: string, fields: TideErrorFields & { primaryKeyColumn: string }) {
    super(message, fields);
    this.primaryKeyColumn = fields.primaryKeyColumn;
  }
}

/** Fills in fields (typically the pipeline name) that an inner layer could not know. */
export function withContext<E extends TideError>(err: E, fields: TideErrorFields): E {
  const target = err as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && target[k] === undefined) Object.defineProperty(err, k, { value: v, enumerable: true });
  }
  if (fields.pipeline && !err.message.includes(`pipeline "${fields.pipeline}"`)) {
    err.message = `${err.message.split('\n')[0]} (pipeline "${fields.pipeline}")${err.message.slice(err.message.split('\n')[0].length)}`;
  }
  return err;
}
