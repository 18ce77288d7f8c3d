/**
 * `restApiSource(config)`: a tide source whose resources page through REST endpoints. Each
 * endpoint becomes a `resource` (or a `transformer` of its parent when its requests use the
 * parent's fields), with its incremental a plain tide `incremental`, so state, merge, scheduler
 * intervals and decomposition treat it like any hand-written resource.
 */
import { incremental, type Incremental } from '../../pipeline/incremental/index.ts';
import { Resource, resource, source, transformer, type ResourceContext, type Source } from '../../pipeline/resource.ts';
import { ExtractError } from '../../pipeline/errors.ts';
import { createAuth, type Auth } from './auth.ts';
import { clientSettings, RestClient, type EndpointRequest } from './client.ts';
import { resolveConfig, type ResolvedResource, type RestApiConfig } from './config.ts';
import { findValues } from './json-path.ts';
import { paginatorFactory, type Paginator } from './paginators.ts';
import { expand } from './placeholders.ts';

export interface RestApiSourceOptions {
  /** The source's name: the key of its state (default `'rest_api'`). */
  name?: string;
}

/**
 * A source from a declarative REST API config (dlt's `rest_api_source`): a client (base URL,
 * headers, auth, paginator) and resources (endpoints, their params, parents and incremental).
 *
 * @example
 * restApiSource({
 *   client: { baseUrl: 'https://api.github.com/repos/dlt-hub/dlt/', auth: { token: process.env.GITHUB_TOKEN! } },
 *   resourceDefaults: { primaryKey: 'id', writeDisposition: 'merge' },
 *   resources: [
 *     { name: 'issues', endpoint: { path: 'issues', params: { since: { type: 'incremental', cursorPath: 'updated_at', initialValue: '2024-01-01T00:00:00Z' } } } },
 *     { name: 'issue_comments', endpoint: { path: 'issues/{resources.issues.number}/comments' }, includeFromParent: ['id'] },
 *   ],
 * })
 */
export function restApiSource(config: RestApiConfig, options: RestApiSourceOptions = {}): Source {
  const resolved = resolveConfig(config);
  const client = new RestClient(clientSettings(config.client));
  // one auth for the whole client, so an OAuth2 token is shared by all endpoints
  const clientAuth = createAuth(config.client.auth);
  const byName = new Map(resolved.map((r) => [r.name, r]));
  const built = new Map<string, Resource>();
  const build = (r: ResolvedResource | Resource): Resource => {
    let done = built.get(r.name);
    if (done) return done;
    if (r instanceof Resource) done = r;
    else {
      const endpoint: EndpointParts = {
        client,
        auth: r.endpoint.auth ? createAuth(r.endpoint.auth) : clientAuth,
        paginator: paginatorFactory(r.endpoint.paginator ?? config.client.paginator),
      };
      done = r.parent ? childResource(r, endpoint, build(byName.get(r.parent.resource)!)) : rootResource(r, endpoint);
    }
    built.set(r.name, done);
    return done;
  };
  return source(options.name ?? 'rest_api', resolved.map(build));
}

interface EndpointParts {
  client: RestClient;
  auth?: Auth;
  paginator: () => Paginator;
}

function rootResource(r: ResolvedResource, e: EndpointParts): Resource {
  const def = r.incremental && incremental(r.incremental.cursorPath, r.incremental.options);
  const res = resource(
    async function* (ctx: ResourceContext) {
      yield* pages(ctx, r, e, incrementalValues(ctx.incremental, r));
    },
    { ...r.options, name: r.name, incremental: def },
  );
  return withSteps(res, r);
}

function childResource(r: ResolvedResource, e: EndpointParts, parent: Resource): Resource {
  const def = r.incremental && incremental(r.incremental.cursorPath, r.incremental.options);
  const { resource: parentName, fields } = r.parent!;
  const res = transformer(
    async function* (ctx: ResourceContext, item: unknown) {
      const values = { ...incrementalValues(ctx.incremental, r), ...parentValues(item, fields, r.name, parentName) };
      const extra = fromParent(item, r.includeFromParent, r.name, parentName);
      for await (const page of pages(ctx, r, e, values)) yield extra ? page.map((rec) => ({ ...(rec as object), ...extra })) : page;
    },
    { ...r.options, name: r.name, incremental: def, dataFrom: parent },
  );
  return withSteps(res, r);
}

/** The endpoint's pages with `values` filled into its placeholders and the incremental bounds into its params. */
function pages(ctx: ResourceContext, r: ResolvedResource, e: EndpointParts, values: Record<string, unknown>): AsyncGenerator<unknown[]> {
  const ep = r.endpoint;
  const request: EndpointRequest = {
    method: ep.method,
    path: expand(ep.path, values),
    params: { ...expand(ep.params, values), ...incrementalParams(ctx.incremental, r) },
    json: expand(ep.json, values, true),
    headers: expand(ep.headers, values),
  };
  return e.client.paginate(request, { paginator: e.paginator(), dataSelector: ep.dataSelector, responseActions: ep.responseActions, auth: e.auth, resource: r.name, log: (m) => ctx.log(m) });
}

/** `startParam` = the start value, `endParam` = the end value (an external interval's bounds in a scheduled run). */
function incrementalParams(inc: Incremental | undefined, r: ResolvedResource): Record<string, unknown> {
  const c = r.incremental;
  if (!inc || !c) return {};
  const convert = c.convert ?? ((v: unknown) => v);
  const out: Record<string, unknown> = {};
  if (c.startParam && inc.startValue !== null && inc.startValue !== undefined) out[c.startParam] = convert(inc.startValue);
  if (c.endParam && inc.endValue !== null && inc.endValue !== undefined) out[c.endParam] = convert(inc.endValue);
  return out;
}

/** The `{incremental.*}` placeholders (converted like the params). */
function incrementalValues(inc: Incremental | undefined, r: ResolvedResource): Record<string, unknown> {
  if (!inc) return {};
  const convert = r.incremental?.convert ?? ((v: unknown) => v);
  const show = (v: unknown) => (v === null || v === undefined ? v : convert(v));
  return {
    'incremental.initial_value': show(inc.initialValue),
    'incremental.start_value': show(inc.startValue),
    'incremental.last_value': show(inc.lastValue),
    'incremental.end_value': show(inc.endValue),
  };
}

/** The parent item's fields that fill the child's placeholders; a missing one is an error naming both resources. */
function parentValues(item: unknown, fields: Record<string, string>, child: string, parent: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [placeholder, field] of Object.entries(fields)) {
    const found = findValues(field, item);
    if (!found.length || found[0] === undefined || found[0] === null) {
      throw new ExtractError(`Resource "${child}" needs field "${field}" of each "${parent}" item for {${placeholder}}; this item has none`, { resource: child, item });
    }
    out[placeholder] = found[0];
  }
  return out;
}

/** `includeFromParent` fields as `_<parent>_<field>` (dlt's names), or undefined when none are asked for. */
function fromParent(item: unknown, fields: string[], child: string, parent: string): Record<string, unknown> | undefined {
  if (!fields.length) return undefined;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = (item as Record<string, unknown> | null)?.[f];
    if (v === undefined) throw new ExtractError(`Resource "${child}" includes field "${f}" from its parent "${parent}", but a parent item has no such field`, { resource: child, item });
    out[`_${parent}_${f}`] = v;
  }
  return out;
}

function withSteps(res: Resource, r: ResolvedResource): Resource {
  return r.processingSteps.reduce((acc, s) => ('map' in s ? acc.addMap(s.map) : acc.addFilter(s.filter)), res);
}
