/**
 * Pipeline state: one JSON document per pipeline, dlt's layout (ST-1), committed in the same
 * transaction as the data. Resources get `sources.<source>.resources.<resource>` (private),
 * sources get `sources.<source>` (shared). `current.*` reach them from code a resource calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { TideError } from './errors.ts';

export type StateObject = Record<string, unknown>;

export interface PipelineState {
  _state_version: number;
  _state_engine_version: number;
  _version_hash?: string;
  pipeline_name: string;
  dataset_name: string;
  default_schema_name?: string;
  schema_names?: string[];
  destination_type?: string;
  destination_name?: string | null;
  sources?: Record<string, SourceState>;
  [key: string]: unknown;
}

export interface SourceState {
  resources?: Record<string, StateObject>;
  [key: string]: unknown;
}

export const STATE_ENGINE_VERSION = 4;

export function emptyState(pipelineName: string, datasetName: string): PipelineState {
  return { _state_version: 0, _state_engine_version: STATE_ENGINE_VERSION, pipeline_name: pipelineName, dataset_name: datasetName };
}

// dlt's typed JSON markers (ST-3): values that JSON cannot carry are stored as marked strings.
const DATETIME_MARK = '\uF027';
const DECIMAL_MARK = '\uF026';

/** JSON with dlt's type markers: Date → U+F027 + ISO string, bigint → U+F026 + digits. */
export function encodeTypedJson(value: unknown, sortKeys = false): string {
  return JSON.stringify(sortKeys ? sortDeep(value) : value, function (this: unknown, key, v) {
    const raw = (this as Record<string, unknown>)[key];
    if (raw instanceof Date) return DATETIME_MARK + raw.toISOString();
    if (typeof v === 'bigint') return DECIMAL_MARK + v.toString();
    return v;
  });
}

export function decodeTypedJson(text: string): unknown {
  return JSON.parse(text, (_k, v) => {
    if (typeof v === 'string' && v.length > 0) {
      if (v.charCodeAt(0) === 0xf027) return new Date(v.slice(1));
      if (v.charCodeAt(0) === 0xf026) {
        const s = v.slice(1);
        return /^-?\d+$/.test(s) ? BigInt(s) : Number(s);
      }
    }
    return v;
  });
}

function sortDeep(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Date) return v;
  if (Array.isArray(v)) return v.map(sortDeep);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortDeep((v as Record<string, unknown>)[k]);
  return out;
}

const HASH_EXCLUDED = new Set(['_local', '_state_version', '_state_engine_version', '_version_hash']);

/** base64(sha3-256(typed JSON with sorted keys, without _local and version fields)) (ST-4). */
function stateHash(state: PipelineState): string {
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(state)) if (!HASH_EXCLUDED.has(k)) copy[k] = v;
  return createHash('sha3-256').update(encodeTypedJson(copy, true)).digest('base64');
}

/**
 * Bumps `_state_version` when the content changed since `previousHash` (ST-4). Returns whether
 * it changed, i.e. whether a state row must be written with this load.
 */
export function bumpVersion(state: PipelineState): boolean {
  const hash = stateHash(state);
  if (hash === state._version_hash) return false;
  if (state._version_hash !== undefined || state._state_version > 0) state._state_version += 1;
  else state._state_version = 1;
  state._version_hash = hash;
  return true;
}

/** The `state` column of `_dlt_pipeline_state`: base64(zlib-9(typed JSON without _local)) (ST-7). */
export function compressState(state: PipelineState): string {
  const { _local, ...rest } = state;
  return deflateSync(Buffer.from(encodeTypedJson(rest), 'utf8'), { level: 9 }).toString('base64');
}

export function decompressState(text: string): PipelineState {
  try {
    return decodeTypedJson(inflateSync(Buffer.from(text, 'base64')).toString('utf8')) as PipelineState;
  } catch {
    // dlt also accepts plain JSON in the state column
    return decodeTypedJson(text) as PipelineState;
  }
}

/** `state.sources[source]`, created on demand. */
export function sourceStateOf(state: PipelineState, sourceName: string): SourceState {
  const sources = (state.sources ??= {});
  return (sources[sourceName] ??= { resources: {} });
}

/** `state.sources[source].resources[resource]`, created on demand. */
export function resourceStateOf(state: PipelineState, sourceName: string, resourceName: string): StateObject {
  const src = sourceStateOf(state, sourceName);
  const resources = (src.resources ??= {});
  return (resources[resourceName] ??= {});
}

/**
 * Removes empty containers created on demand (so a run that wrote nothing leaves no
 * `sources` key behind, as in dlt).
 */
export function pruneEmptyState(state: PipelineState): void {
  if (!state.sources) return;
  for (const [sname, src] of Object.entries(state.sources)) {
    if (src.resources) {
      for (const [rname, r] of Object.entries(src.resources)) {
        if (r && typeof r === 'object' && Object.keys(r).length === 0) delete src.resources[rname];
      }
    }
    const keys = Object.keys(src).filter((k) => !(k === 'resources' && Object.keys(src.resources ?? {}).length === 0));
    if (keys.length === 0 && !(src as { _keep?: boolean })._keep) delete state.sources[sname];
  }
  if (Object.keys(state.sources).length === 0) delete state.sources;
}

/** What `current.*` reads: set by the extractor around every step of a resource. */
export interface CurrentContext {
  pipelineName: string;
  sourceName: string;
  resourceName: string;
  resourceState: StateObject;
  sourceState: SourceState;
}

export const currentStorage = new AsyncLocalStorage<CurrentContext>();

function requireCurrent(what: string): CurrentContext {
  const c = currentStorage.getStore();
  if (!c) throw new TideError(`current.${what}() was called outside a running resource: call it from code a resource runs during pipeline.run()`);
  return c;
}

/** Reach the running resource's state from code it calls (dlt's `dlt.current`). */
export const current = Object.freeze({
  /** The running resource's private state. */
  resourceState(): StateObject {
    return requireCurrent('resourceState').resourceState;
  },
  /** The running source's shared state. */
  sourceState(): SourceState {
    return requireCurrent('sourceState').sourceState;
  },
  /** Alias of resourceState (dlt's `dlt.current.state()` in older docs). */
  state(): StateObject {
    return requireCurrent('state').resourceState;
  },
  pipelineName(): string {
    return requireCurrent('pipelineName').pipelineName;
  },
});

/**
 * Another run of this pipeline may have committed since this one read the state (parallel
 * workers). Keep its changes and lay this run's on top: the resources this run extracted and the
 * source-level keys it changed. Versions stay increasing.
 */
export function mergeConcurrentState(
  latest: PipelineState | undefined,
  base: PipelineState,
  mine: PipelineState,
  sourceName: string,
  touched: Iterable<string>,
): PipelineState {
  if (!latest || latest._state_version <= base._state_version) return mine;
  const merged = overlayState(latest, base, mine, sourceName, touched);
  merged._state_version = latest._state_version;
  merged._version_hash = latest._version_hash;
  bumpVersion(merged);
  if (merged._state_version <= latest._state_version) merged._state_version = latest._state_version + 1;
  Object.assign(mine, merged);
  return merged;
}

/**
 * A copy of `onto` with `mine`'s changes since `base` laid over it: the state of the `touched`
 * resources, and the source-level keys `mine` changed. Versions are the caller's.
 */
export function overlayState(onto: PipelineState, base: PipelineState, mine: PipelineState, sourceName: string, touched: Iterable<string>): PipelineState {
  const merged: PipelineState = structuredClone(onto);
  const mySrc = mine.sources?.[sourceName];
  const baseSrc = base.sources?.[sourceName] ?? {};
  const out = sourceStateOf(merged, sourceName);
  if (mySrc) {
    for (const [k, v] of Object.entries(mySrc)) {
      if (k === 'resources') continue;
      if (JSON.stringify(v) !== JSON.stringify((baseSrc as Record<string, unknown>)[k])) out[k] = structuredClone(v);
    }
    for (const k of Object.keys(baseSrc)) if (k !== 'resources' && !(k in mySrc)) delete out[k];
  }
  const outRes = (out.resources ??= {});
  for (const r of touched) {
    const mineR = mySrc?.resources?.[r];
    if (mineR) outRes[r] = structuredClone(mineR);
    else delete outRes[r];
  }
  return merged;
}

