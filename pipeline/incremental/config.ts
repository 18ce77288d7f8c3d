/**
 * `.tide/config.toml` reading for `incremental.fromConfig()` (seeds' `id_after` example).
 *
 * Section `[<pipeline_name>.sources.<resource_name>]`, keys snake_case (cursor_path, initial_value, …),
 * overridden by env `<PIPELINE_NAME>__SOURCES__<RESOURCE_NAME>__<KEY>` (upper-case). Env values are parsed:
 * integers/decimals → numbers, true/false → booleans, everything else stays a string.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { ConfigurationError } from '../errors.ts';

export type ConfigTable = Record<string, unknown>;

/** Reads `<dir>/config.toml`; a missing file is an empty config. A malformed file → ConfigurationError. */
export function loadConfig(dir = '.tide'): ConfigTable {
  const file = join(dir, 'config.toml');
  if (!existsSync(file)) return {};
  const text = readFileSync(file, 'utf8');
  try {
    return parse(text) as ConfigTable;
  } catch (e) {
    throw new ConfigurationError(`Cannot parse ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses an env string: numbers as numbers, true/false as booleans, else the string. */
export function parseEnvValue(raw: string): unknown {
  const s = raw.trim();
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    const n = Number(s);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  return raw;
}

function table(x: unknown): ConfigTable | undefined {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date) ? (x as ConfigTable) : undefined;
}

/**
 * The `[<pipeline>.sources.<resource>]` table merged with env overrides; undefined when neither exists.
 * `config` defaults to `loadConfig()` (read on each call so tests and CLI flags can change the folder).
 */
export function configLookup(
  pipelineName: string,
  resourceName: string,
  env: Record<string, string | undefined> = process.env,
  config: ConfigTable = loadConfig(),
): ConfigTable | undefined {
  const section = table(table(table(config[pipelineName])?.sources)?.[resourceName]);
  const out: ConfigTable = { ...(section ?? {}) };
  let found = section !== undefined;
  const prefix = `${pipelineName}__SOURCES__${resourceName}__`.toUpperCase();
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k.toUpperCase() !== k || !k.startsWith(prefix)) continue;
    const key = k.slice(prefix.length).toLowerCase();
    if (!key || key.includes('__')) continue;
    out[key] = parseEnvValue(v);
    found = true;
  }
  return found ? out : undefined;
}

/** A `BindContext.config` function bound to a config folder and env. */
export function configLookupFor(dir = '.tide', env: Record<string, string | undefined> = process.env) {
  const cfg = loadConfig(dir);
  return (pipelineName: string, resourceName: string) => configLookup(pipelineName, resourceName, env, cfg);
}
