/**
 * Configuration and secrets the way dlt users know them: `config.toml` and `secrets.toml` in
 * `$TIDE_HOME` (default `./.tide`), overridden by environment variables. The one home of config
 * reading: `ctx.config` / `ctx.secrets`, `incremental.fromConfig()` and the Postgres credentials
 * (destinations/postgres/credentials.ts) all read through a `Configuration`.
 *
 * A value is looked up as dlt resolves `dlt.config.value` / `dlt.secrets.value`: first with the
 * pipeline name as the outermost section, then without it; in each pass every provider in turn
 * (environment, then secrets.toml, then config.toml), and in each provider the most specific
 * section first (`sources.<source>.<resource>`, `sources.<source>`, `sources`, the top level). So an
 * environment variable wins over any file, whatever its section. config.toml never holds secrets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { parse } from 'smol-toml';
import { tideHome } from '../common/home.ts';
import { ConfigFieldMissingError, ConfigurationError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** A value read from configuration: TOML values as parsed (dates are `Date`s), environment values as strings, numbers or booleans. */
export type ConfigValue = string | number | boolean | Date | ConfigValue[] | { [key: string]: ConfigValue };

export type ConfigTable = Record<string, unknown>;

/**
 * A secret value: printing it, `String()`, `JSON.stringify` and `util.inspect` show `***`, so it
 * cannot leak into logs, errors or rows by accident. `reveal()` gives the value.
 */
export class Secret<T extends ConfigValue = ConfigValue> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  /** The secret value itself. */
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [inspect.custom](): string {
    return 'Secret(***)';
  }
}

/** One place values come from. `path` is the sections then the key. */
interface Provider {
  /** May hold secrets (config.toml may not, as in dlt). */
  readonly secrets: boolean;
  get(path: readonly string[]): ConfigValue | undefined;
  /** How an error names the place where `path` was looked for. */
  place(path: readonly string[]): string;
}

/**
 * Reads `<dir>/<name>`; a missing file is empty, a malformed one a ConfigurationError naming the file.
 * For secrets.toml the error keeps only the parser's first line and the position: the rest quotes the file.
 */
export function loadToml(dir: string, name: 'config.toml' | 'secrets.toml' = 'config.toml'): ConfigTable {
  const file = join(dir, name);
  if (!existsSync(file)) return {};
  try {
    return parse(readFileSync(file, 'utf8')) as ConfigTable;
  } catch (e) {
    const err = e as Error & { line?: number; column?: number };
    if (name === 'config.toml') throw new ConfigurationError(`Cannot parse ${file}: ${err.message}`, { cause: e });
    throw new ConfigurationError(`Cannot parse ${file} (line ${err.line}, column ${err.column}): ${err.message.split('\n')[0]}`);
  }
}

/** Parses an environment string: numbers as numbers, true/false as booleans, else the string. */
export function parseEnvValue(raw: string): string | number | boolean {
  const s = raw.trim();
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    const n = Number(s);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  return raw;
}

/** A TOML table (not an array, not a date), else undefined. */
export function asTable(x: unknown): ConfigTable | undefined {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Date) ? (x as ConfigTable) : undefined;
}

/** The environment variable dlt reads for a path: the parts upper-cased, joined by `__`. */
export function envName(path: readonly string[]): string {
  return path.map((p) => p.toUpperCase()).join('__');
}

function envProvider(env: Env): Provider {
  return {
    secrets: true,
    get: (path) => env[envName(path)],
    place: (path) => `environment variable ${envName(path)}`,
  };
}

function tomlProvider(file: string, doc: ConfigTable, secrets: boolean): Provider {
  return {
    secrets,
    get: (path) => {
      let at: unknown = doc;
      for (const part of path) at = asTable(at)?.[part];
      return at as ConfigValue | undefined;
    },
    place: (path) => `${file}: ${path.join('.')}`,
  };
}

/** Where a lookup happens. */
export interface Scope {
  /** The most specific sections; lookups drop them from the end down to none. */
  sections: readonly string[];
  /** Sections kept innermost in every lookup (dlt's embedded sections, e.g. `credentials`). */
  embedded?: readonly string[];
  /** Looked up first as the outermost section. */
  pipelineName?: string;
}

/** Section paths from the most specific to the least: `[a, b]` + `[c]` → `[a, b, c]`, `[a, c]`, `[c]`. */
function narrowing(scope: Scope): string[][] {
  const { sections, embedded = [] } = scope;
  return Array.from({ length: sections.length + 1 }, (_, i) => [...sections.slice(0, sections.length - i), ...embedded]);
}

/** What a lookup found, and where. */
interface Found {
  value: ConfigValue;
  /** An environment variable: a string, parsed only as asked. */
  fromEnv: boolean;
  place: string;
}

/** The type a caller may ask a value to have: `ctx.config.require('page_size', 'number')`. */
export type ConfigType = 'string' | 'number' | 'boolean';
/** The TypeScript type of a `ConfigType`. */
export type ConfigTypeOf<K extends ConfigType> = K extends 'string' ? string : K extends 'number' ? number : boolean;

function kindOf(v: ConfigValue): string {
  return v instanceof Date ? 'a date' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'a table' : `a ${typeof v}`;
}

/**
 * The found value as `type` asks. An environment string is taken as written for 'string' (and for a
 * secret asked no type), parsed for 'number' / 'boolean' (and for config asked no type). A mismatch
 * is a ConfigurationError naming the key and the place, never the value.
 */
function typed(found: Found, key: string, type: ConfigType | undefined, secret: boolean): ConfigValue {
  const raw = found.value;
  const value = !found.fromEnv || type === 'string' || (secret && type === undefined) ? raw : parseEnvValue(raw as string);
  if (type === undefined || typeof value === type) return value;
  throw new ConfigurationError(`${secret ? 'Secret' : 'Config value'} "${key}" (${found.place}) is ${kindOf(value)}, expected a ${type}`);
}

/**
 * The configuration of one process: environment variables, `secrets.toml` and `config.toml` of one
 * folder. Files are read when it is created (a worker reads its own `TIDE_HOME`).
 */
export class Configuration {
  readonly #env: Env;
  readonly #providers: readonly Provider[];
  readonly #config: ConfigTable;

  /** From parsed files; `Configuration.load()` reads them. */
  constructor(opts: { env?: Env; config?: ConfigTable; secrets?: ConfigTable; dir?: string } = {}) {
    const dir = opts.dir ?? '';
    this.#env = opts.env ?? process.env;
    this.#config = opts.config ?? {};
    this.#providers = [
      envProvider(this.#env),
      tomlProvider(join(dir, 'secrets.toml'), opts.secrets ?? {}, true),
      tomlProvider(join(dir, 'config.toml'), this.#config, false),
    ];
  }

  /** Reads `config.toml` and `secrets.toml` of `dir` (default `$TIDE_HOME`, else `./.tide`). */
  static load(opts: { dir?: string; env?: Env } = {}): Configuration {
    const dir = opts.dir ?? tideHome(opts.env);
    return new Configuration({ env: opts.env, dir, config: loadToml(dir, 'config.toml'), secrets: loadToml(dir, 'secrets.toml') });
  }

  /** The places `key` is looked for in `scope`, best first (see the module comment). */
  *#candidates(scope: Scope, key: string, secret: boolean): Generator<{ provider: Provider; path: string[] }> {
    const passes = scope.pipelineName ? [[scope.pipelineName], []] : [[]];
    for (const prefix of passes) {
      for (const provider of this.#providers) {
        if (secret && !provider.secrets) continue;
        for (const sections of narrowing(scope)) yield { provider, path: [...prefix, ...sections, key] };
      }
    }
  }

  #find(scope: Scope, key: string, secret: boolean): Found | undefined {
    for (const { provider, path } of this.#candidates(scope, key, secret)) {
      const value = provider.get(path);
      if (value !== undefined) return { value, fromEnv: provider === this.#providers[0], place: provider.place(path) };
    }
    return undefined;
  }

  /** Every place `key` is looked for in `scope`, in order (for errors: names, never values). */
  placesLooked(scope: Scope, key: string, secret: boolean): string[] {
    return [...this.#candidates(scope, key, secret)].map(({ provider, path }) => provider.place(path));
  }

  /** A config value of `type` (any when unset: environment strings then parsed as numbers and booleans where they look like one). */
  value(scope: Scope, key: string, type?: ConfigType): ConfigValue | undefined {
    const found = this.#find(scope, key, false);
    return found && typed(found, key, type, false);
  }

  /** A secret of `type` (any when unset: environment strings stay strings), from the environment and secrets.toml only. */
  secret(scope: Scope, key: string, type?: ConfigType): Secret | undefined {
    const found = this.#find(scope, key, true);
    return found && new Secret(typed(found, key, type, true));
  }

  /**
   * The table at `path` in config.toml merged with the environment variables `<PATH>__<KEY>` (whole
   * name upper case, the key without `__`, values parsed); undefined when neither exists.
   */
  table(path: readonly string[]): ConfigTable | undefined {
    const section = asTable(tomlProvider('', this.#config, false).get(path));
    const out: ConfigTable = { ...section };
    let found = section !== undefined;
    const prefix = `${envName(path)}__`;
    for (const [k, v] of Object.entries(this.#env)) {
      if (v === undefined || k.toUpperCase() !== k || !k.startsWith(prefix)) continue;
      const key = k.slice(prefix.length).toLowerCase();
      if (!key || key.includes('__')) continue;
      out[key] = parseEnvValue(v);
      found = true;
    }
    return found ? out : undefined;
  }
}

/**
 * `ctx.config`: configuration values of one resource. With a type (`'string'`, `'number'`,
 * `'boolean'`) the value is checked (a mismatch is a ConfigurationError) and typed.
 */
export interface ConfigReader {
  /** The value of `key`, or undefined when no provider has it. */
  get(key: string): ConfigValue | undefined;
  get<K extends ConfigType>(key: string, type: K): ConfigTypeOf<K> | undefined;
  /** The value of `key`; missing → `ConfigFieldMissingError` naming the key and every place looked. */
  require(key: string): ConfigValue;
  require<K extends ConfigType>(key: string, type: K): ConfigTypeOf<K>;
}

/** `ctx.secrets`: secret values of one resource, wrapped so they never print; typed as `ConfigReader`. */
export interface SecretsReader {
  /** The secret `key`, or undefined when neither the environment nor secrets.toml has it. */
  get(key: string): Secret | undefined;
  get<K extends ConfigType>(key: string, type: K): Secret<ConfigTypeOf<K>> | undefined;
  /** The secret `key`; missing → `ConfigFieldMissingError` naming the key and every place looked. */
  require(key: string): Secret;
  require<K extends ConfigType>(key: string, type: K): Secret<ConfigTypeOf<K>>;
}

/** Who is asking, for errors. */
export interface Asker {
  pipeline?: string;
  resource?: string;
  /** e.g. `resource "issues" of source "github"` */
  what: string;
}

/** The error for `key` found nowhere in `scope`: the key and every place looked, never a value. */
export function missingError(config: Configuration, scope: Scope, key: string, secret: boolean, asker: Asker): ConfigFieldMissingError {
  const lookedIn = config.placesLooked(scope, key, secret);
  const kind = secret ? 'secret' : 'config value';
  return new ConfigFieldMissingError(`Missing ${kind} "${key}" for ${asker.what}`, { key, lookedIn, pipeline: asker.pipeline, resource: asker.resource });
}

/** The `ctx.config` and `ctx.secrets` of a resource: scope `sources.<source>.<resource>`, pipeline name first. */
export function resourceConfig(config: Configuration, names: { pipelineName: string; sourceName: string; resourceName: string }): { config: ConfigReader; secrets: SecretsReader } {
  const scope: Scope = { sections: ['sources', names.sourceName, names.resourceName], pipelineName: names.pipelineName };
  const asker: Asker = { pipeline: names.pipelineName, resource: names.resourceName, what: `resource "${names.resourceName}" of source "${names.sourceName}"` };
  const reader = <T>(read: (key: string, type?: ConfigType) => T | undefined, secret: boolean) =>
    Object.freeze({
      get: read,
      require(key: string, type?: ConfigType): T {
        const v = read(key, type);
        if (v === undefined) throw missingError(config, scope, key, secret, asker);
        return v;
      },
    });
  return {
    config: reader((key, type) => config.value(scope, key, type), false) as ConfigReader,
    secrets: reader((key, type) => config.secret(scope, key, type), true) as SecretsReader,
  };
}
