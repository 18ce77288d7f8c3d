/**
 * Run parameters (`definePipeline({ params })`, `tide trigger --param k=v`, `ctx.params`): the one
 * place they are declared, parsed and validated. The CLI calls `resolveParams` before it starts
 * anything; the worker calls it again, so a run started another way (the Web UI's "Start workflow"
 * with JSON input) is validated the same and fails non-retryably with `ParamError`.
 *
 * Values are JSON on the wire, in the memo and in the ledger: a `date` param is an ISO-8601 string
 * (normalized to UTC, `2026-01-05T00:00:00Z`), never a Date; a resource parses it when it needs one.
 */
import { ConfigurationError, ParamError } from './errors.ts';
export { ParamError };
import { formatInstant, parseInstant } from './interval.ts';

export type ParamType = 'string' | 'number' | 'boolean' | 'date';
export const PARAM_TYPES: readonly ParamType[] = ['string', 'number', 'boolean', 'date'];

export interface ParamSpec {
  type: ParamType;
  /** Taken when the run gives none (must be of `type`). */
  default?: string | number | boolean;
  /** A run without it (and without a default) does not start. */
  required?: boolean;
  description?: string;
}

export type ParamSpecs = Record<string, ParamSpec>;
export type ParamValue = string | number | boolean;
/** A run's resolved params: every declared param with a value, defaults applied; frozen. */
export type Params = Readonly<Record<string, ParamValue>>;

const EMPTY: Params = Object.freeze({});

/** Checks a definition's params (called by definePipeline). */
export function checkParamSpecs(pipeline: string, specs: unknown): void {
  if (specs === undefined) return;
  const where = `definePipeline("${pipeline}")`;
  if (specs === null || typeof specs !== 'object' || Array.isArray(specs)) throw new ConfigurationError(`${where}: params must be { name: { type, default?, required?, description? } }`);
  for (const [name, spec] of Object.entries(specs as Record<string, ParamSpec>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new ConfigurationError(`${where}: param name "${name}" must start with a letter or _ and hold only letters, digits, _ . -`);
    if (!spec || !PARAM_TYPES.includes(spec.type)) throw new ConfigurationError(`${where}: param "${name}" needs type 'string', 'number', 'boolean' or 'date', got ${JSON.stringify(spec?.type)}`);
    if (spec.default !== undefined) {
      try {
        coerce(name, spec, spec.default);
      } catch (e) {
        throw new ConfigurationError(`${where}: the default of param "${name}": ${(e as Error).message}`);
      }
    }
  }
}

/** `['k=v', …]` (the command line's `--param`) as raw values; a later `k` wins. */
export function parseParamArgs(args: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args ?? []) {
    const i = a.indexOf('=');
    if (i <= 0) throw new ParamError(`--param takes name=value, got "${a}"`, a);
    out[a.slice(0, i).trim()] = a.slice(i + 1);
  }
  return out;
}

/**
 * The run's params: `given` (strings from the command line, or JSON values from the workflow input)
 * checked against the definition's `specs` and converted to their types, defaults applied. Unknown
 * names, values of the wrong type and missing required params throw `ParamError` naming the param.
 * Idempotent: resolved params resolve to themselves.
 */
export function resolveParams(specs: ParamSpecs | undefined, given: unknown, pipeline?: string): Params {
  const of = pipeline ? ` of pipeline "${pipeline}"` : '';
  if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) throw new ParamError(`params${of} must be an object of name: value, got ${JSON.stringify(given)}`, '');
  const raw = (given ?? {}) as Record<string, unknown>;
  const declared = specs ?? {};
  const out: Record<string, ParamValue> = {};
  for (const name of Object.keys(raw)) {
    if (!Object.hasOwn(declared, name)) {
      const known = Object.keys(declared);
      throw new ParamError(`Unknown param "${name}"${of} (it takes: ${known.length ? known.join(', ') : 'no params'})`, name);
    }
  }
  for (const [name, spec] of Object.entries(declared)) {
    const v = raw[name];
    if (v === undefined || v === null) {
      if (spec.default !== undefined) out[name] = coerce(name, spec, spec.default);
      else if (spec.required) throw new ParamError(`Missing required param "${name}"${of} (${spec.type}${spec.description ? `: ${spec.description}` : ''})`, name);
      continue;
    }
    out[name] = coerce(name, spec, v, of);
  }
  return Object.keys(out).length ? Object.freeze(out) : EMPTY;
}

/** One value as its declared type: the typed JSON value, or its string form (`--param`). */
function coerce(name: string, spec: ParamSpec, v: unknown, of = ''): ParamValue {
  const bad = () => new ParamError(`Param "${name}"${of} must be a ${spec.type}${spec.type === 'boolean' ? ' (true or false)' : spec.type === 'date' ? ' (ISO-8601)' : ''}, got ${JSON.stringify(v)}`, name);
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') throw bad();
      return v;
    case 'number': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n)) throw bad();
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 'true') return true;
      if (v === 'false') return false;
      throw bad();
    case 'date':
      if (typeof v !== 'string') throw bad();
      try {
        return formatInstant(parseInstant(v, `param "${name}"`));
      } catch {
        throw bad();
      }
  }
}

/** No params: what `ctx.params` is when a run has none. */
export const NO_PARAMS: Params = EMPTY;
