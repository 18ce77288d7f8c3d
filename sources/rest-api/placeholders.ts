/**
 * `{name}` placeholders in an endpoint's path, params, headers and JSON body, as in dlt's
 * rest_api (`{resources.issues.number}`, `{incremental.start_value}`, a resolve param's name);
 * `{{` and `}}` are literal braces.
 */
import { ConfigurationError } from '../../pipeline/errors.ts';

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}/g;

/** The placeholder names in a string, or in every string inside an object or array. */
export function placeholdersIn(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    for (const m of value.matchAll(TOKEN)) if (m[1] !== undefined) out.add(m[1].trim());
  } else if (Array.isArray(value)) {
    for (const v of value) placeholdersIn(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      placeholdersIn(k, out);
      placeholdersIn(v, out);
    }
  }
  return out;
}

/**
 * `value` with its placeholders replaced by `values`. With `keepType`, a string that is exactly one
 * placeholder becomes the value itself (a number stays a number in a JSON body).
 */
export function expand<T>(value: T, values: Readonly<Record<string, unknown>>, keepType = false): T {
  if (typeof value === 'string') {
    const single = /^\{([^{}]*)\}$/.exec(value);
    if (keepType && single) return lookup(single[1].trim(), values) as T;
    return value.replace(TOKEN, (tok, name: string | undefined) => (name === undefined ? tok[0] : String(lookup(name.trim(), values)))) as T;
  }
  if (Array.isArray(value)) return value.map((v) => expand(v, values, keepType)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [expand(k, values), expand(v, values, keepType)])) as T;
  }
  return value;
}

function lookup(name: string, values: Readonly<Record<string, unknown>>): unknown {
  if (!(name in values)) throw new ConfigurationError(`No value for placeholder {${name}} (known: ${Object.keys(values).map((k) => `{${k}}`).join(', ') || 'none'})`);
  return values[name];
}
