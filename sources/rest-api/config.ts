/**
 * The REST API source's configuration (dlt's `RESTAPIConfig`, camelCased) and its resolution:
 * resource defaults merged in, shorthands expanded, the parent of each dependent resource found
 * from its `{resources.<parent>.<field>}` placeholders and `{ type: 'resolve' }` params, the
 * incremental param picked out. Everything is checked here, so a bad config fails when the source
 * is defined, not in the middle of a run.
 */
import type { IncrementalOptions } from '../../pipeline/incremental/index.ts';
import { ConfigurationError } from '../../pipeline/errors.ts';
import { Resource, type ResourceOptions } from '../../pipeline/resource.ts';
import type { AuthConfig } from './auth.ts';
import type { HttpRetryConfig } from './client.ts';
import type { PaginatorConfig } from './paginators.ts';
import { placeholdersIn } from './placeholders.ts';
import { validateResponseActions, type ResponseAction } from './response-actions.ts';

export interface RestApiClientConfig {
  /** Prefix of every endpoint path that is not a full URL. */
  baseUrl: string;
  headers?: Record<string, string>;
  auth?: AuthConfig;
  /** The paginator of endpoints that name none (default: detected from the first response). */
  paginator?: PaginatorConfig;
  /** Seconds a request may take (default 60). */
  timeout?: number;
  retry?: HttpRetryConfig;
}

/** A query param filled from a field of each parent item: the resource becomes a transformer of `resource`. */
export interface ResolveParamConfig {
  type: 'resolve';
  resource: string;
  /** JSONPath into the parent item. */
  field: string;
}

/** A query param carrying the incremental's start value (and `endParam` its end value). */
export interface IncrementalParamConfig extends IncrementalOptions {
  type: 'incremental';
  cursorPath: string;
  endParam?: string;
  /** Turns the cursor value into the param's value (e.g. an ISO date into epoch seconds). */
  convert?: (value: unknown) => unknown;
}

/** The endpoint-level form of the incremental: the param names are given explicitly. */
export interface EndpointIncrementalConfig extends IncrementalOptions {
  cursorPath: string;
  startParam?: string;
  endParam?: string;
  convert?: (value: unknown) => unknown;
}

export interface Endpoint {
  /** Relative to `client.baseUrl` (or a full URL); may hold placeholders. Default: the resource name. */
  path?: string;
  method?: 'GET' | 'POST';
  params?: Record<string, unknown>;
  /** The JSON body (POST). */
  json?: unknown;
  headers?: Record<string, string>;
  paginator?: PaginatorConfig;
  /** JSONPath to the records in a response (default: detected). */
  dataSelector?: string;
  responseActions?: ResponseAction[];
  incremental?: EndpointIncrementalConfig;
  auth?: AuthConfig;
}

/** A map or a filter applied to the resource's items, in order. */
export type ProcessingStep = { map: (item: any) => unknown } | { filter: (item: any) => boolean };

export interface EndpointResourceBase extends Omit<ResourceOptions, 'name' | 'incremental'> {
  endpoint?: string | Endpoint;
  /** Fields of the parent item copied into each child record as `_<parent>_<field>`. */
  includeFromParent?: string[];
  processingSteps?: ProcessingStep[];
}

export interface EndpointResource extends EndpointResourceBase {
  name: string;
}

export interface RestApiConfig {
  client: RestApiClientConfig;
  /** Merged under every resource (nested objects merge key by key). */
  resourceDefaults?: EndpointResourceBase;
  /** A name (the endpoint path too), a resource config, or a tide resource to include as it is. */
  resources: (string | EndpointResource | Resource)[];
}

/** One resource of the config, resolved. */
export interface ResolvedResource {
  name: string;
  options: Omit<ResourceOptions, 'name' | 'incremental'>;
  endpoint: Endpoint & { path: string; method: 'GET' | 'POST'; params: Record<string, unknown> };
  /** The parent resource and, per placeholder name, the JSONPath of the parent field that fills it. */
  parent?: { resource: string; fields: Record<string, string> };
  incremental?: { startParam?: string; endParam?: string; convert?: (value: unknown) => unknown; cursorPath: string; options: IncrementalOptions };
  includeFromParent: string[];
  processingSteps: ProcessingStep[];
}

const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

/** dlt's `update_dict_nested`: `over` wins, plain objects merge key by key. */
function mergeNested(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlain(v) && isPlain(out[k]) ? mergeNested(out[k] as Record<string, unknown>, v) : v;
  return out;
}

function asEndpoint(e: string | Endpoint | undefined): Endpoint {
  return typeof e === 'string' ? { path: e } : { ...e };
}

/** The config's resources, resolved, in config order; tide resources given as they are. */
export function resolveConfig(config: RestApiConfig): (ResolvedResource | Resource)[] {
  if (!config || typeof config !== 'object') throw new ConfigurationError('restApiSource needs a config object');
  if (typeof config.client?.baseUrl !== 'string' || !/^https?:\/\//i.test(config.client.baseUrl)) {
    throw new ConfigurationError(`restApiSource: client.baseUrl must be an http(s) URL, got ${JSON.stringify(config.client?.baseUrl)}`);
  }
  if (!Array.isArray(config.resources) || config.resources.length === 0) throw new ConfigurationError('restApiSource: resources must be a non-empty list');
  const defaults = { ...config.resourceDefaults, endpoint: asEndpoint(config.resourceDefaults?.endpoint) } as Record<string, unknown>;
  const out = config.resources.map((r) => (r instanceof Resource ? r : resolveOne(r, defaults)));
  const names = new Set<string>();
  for (const r of out) {
    if (names.has(r.name)) throw new ConfigurationError(`restApiSource: resource "${r.name}" is defined twice`, { resource: r.name });
    names.add(r.name);
  }
  for (const r of out) {
    if (r instanceof Resource || !r.parent) continue;
    if (!names.has(r.parent.resource)) {
      throw new ConfigurationError(`restApiSource: resource "${r.name}" depends on "${r.parent.resource}", which is not a resource of the config`, { resource: r.name });
    }
  }
  return out;
}

function resolveOne(r: string | EndpointResource, defaults: Record<string, unknown>): ResolvedResource {
  const given = typeof r === 'string' ? { name: r } : r;
  if (!given || typeof given.name !== 'string' || given.name === '') throw new ConfigurationError(`restApiSource: a resource needs a name, got ${JSON.stringify(r)}`);
  const name = given.name;
  const merged = mergeNested(defaults, { ...given, endpoint: asEndpoint(given.endpoint) }) as unknown as EndpointResource & { endpoint: Endpoint };
  const { endpoint, includeFromParent = [], processingSteps = [], name: _n, ...options } = merged;
  const ep: Endpoint = endpoint;
  const params = { ...ep.params };
  const path = ep.path ?? name;
  validateResponseActions(ep.responseActions, name);
  if (ep.method !== undefined && ep.method !== 'GET' && ep.method !== 'POST') {
    throw new ConfigurationError(`restApiSource: resource "${name}" has method ${JSON.stringify(ep.method)}; use GET or POST`, { resource: name });
  }
  const parent = findParent(name, path, params, ep);
  if (includeFromParent.length && !parent) throw new ConfigurationError(`restApiSource: resource "${name}" has includeFromParent but no parent resource`, { resource: name });
  const singleEntity = /\{[^{}/]+\}[^/]*$/.test(path);
  return {
    name,
    options,
    endpoint: {
      ...ep,
      path,
      method: ep.method ?? 'GET',
      params,
      // a path ending in a placeholder returns one object (dlt's single-entity rule)
      paginator: ep.paginator ?? (singleEntity ? 'single_page' : undefined),
      dataSelector: ep.dataSelector ?? (singleEntity ? '$' : undefined),
    },
    parent,
    incremental: findIncremental(name, params, ep.incremental),
    includeFromParent,
    processingSteps,
  };
}

/** The parent of a dependent resource, from resolve params (removed from `params`) and `{resources.<parent>.<field>}` placeholders. */
function findParent(name: string, path: string, params: Record<string, unknown>, ep: Endpoint): ResolvedResource['parent'] {
  const fields: Record<string, string> = {};
  const parents = new Set<string>();
  for (const [k, v] of Object.entries(params)) {
    if (!isPlain(v) || v.type !== 'resolve') continue;
    const c = v as unknown as ResolveParamConfig;
    if (typeof c.resource !== 'string' || typeof c.field !== 'string') {
      throw new ConfigurationError(`restApiSource: resolve param "${k}" of resource "${name}" needs a resource and a field`, { resource: name });
    }
    parents.add(c.resource);
    fields[k] = c.field;
    // used in the path it fills a path segment; otherwise it is sent as a query param
    if (path.includes(`{${k}}`)) delete params[k];
    else params[k] = `{${k}}`;
  }
  const known = new Set(Object.keys(fields));
  for (const p of placeholdersIn([path, params, ep.headers ?? {}, ep.json ?? null])) {
    const m = /^resources\.([^.]+)\.(.+)$/.exec(p);
    if (m) {
      parents.add(m[1]);
      fields[p] = m[2];
    } else if (!known.has(p) && !p.startsWith('incremental.')) {
      throw new ConfigurationError(`restApiSource: resource "${name}" uses placeholder {${p}}, which is neither {resources.<parent>.<field>}, {incremental.*} nor a resolve param`, { resource: name });
    }
  }
  if (parents.size > 1) throw new ConfigurationError(`restApiSource: resource "${name}" depends on several resources (${[...parents].join(', ')}); one parent at most`, { resource: name });
  const [parent] = parents;
  if (parent === name) throw new ConfigurationError(`restApiSource: resource "${name}" depends on itself`, { resource: name });
  return parent ? { resource: parent, fields } : undefined;
}

/** The incremental: one `{ type: 'incremental' }` param (removed from `params`) or `endpoint.incremental`, not both. */
function findIncremental(name: string, params: Record<string, unknown>, endpointInc: EndpointIncrementalConfig | undefined): ResolvedResource['incremental'] {
  const found = Object.entries(params).filter(([, v]) => isPlain(v) && v.type === 'incremental');
  if (found.length + (endpointInc ? 1 : 0) > 1) throw new ConfigurationError(`restApiSource: resource "${name}" has more than one incremental`, { resource: name });
  for (const [k, v] of Object.entries(params)) {
    if (isPlain(v) && v.type !== 'incremental' && v.type !== undefined) {
      throw new ConfigurationError(`restApiSource: param "${k}" of resource "${name}" has type ${JSON.stringify(v.type)}; use 'resolve' or 'incremental'`, { resource: name });
    }
  }
  if (found.length) {
    const [param, v] = found[0];
    delete params[param];
    const { type: _t, cursorPath, endParam, convert, ...options } = v as unknown as IncrementalParamConfig;
    return { startParam: param, endParam, convert, cursorPath, options };
  }
  if (endpointInc) {
    const { cursorPath, startParam, endParam, convert, ...options } = endpointInc;
    return { startParam, endParam, convert, cursorPath, options };
  }
  return undefined;
}
