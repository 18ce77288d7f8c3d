/**
 * Planning a run: what `run(data)` was handed becomes a source, its selected resources become a tree
 * of extract nodes (transformers under the resources that feed them), with the run's overrides
 * applied and each node's state object taken from the draft state.
 */
import { ResourceDefinitionError } from './errors.ts';
import type { ExtractNode } from './extract.ts';
import { parseWriteDisposition } from './hints.ts';
import { normalizeIdentifier, normalizePath } from './normalize/naming.ts';
import type { RunOptions } from './options.ts';
import { Resource, Source, resource as defineResource, resourceProps, sourceProps, type ResourceOptions } from './resource.ts';
import { resourceStateOf, sourceStateOf, type PipelineState } from './state.ts';
import type { Schema } from './schema.ts';
import type { SchemaContract } from './contract.ts';

/** What one run extracts: resources (as a tree of transformers) under a source name. */
export interface RunPlan {
  sourceName: string;
  rootKey: boolean;
  maxTableNesting?: number;
  /** The source's schema contract (a resource's own, or the run's laid on it, wins). */
  schemaContract?: SchemaContract;
  roots: ExtractNode[];
  all: ExtractNode[];
}

/** The default schema / source name of standalone resources: the pipeline name without `_pipeline`. */
export function defaultSchemaName(pipelineName: string): string {
  return normalizeIdentifier(pipelineName.replace(/_pipeline$/, ''));
}

/** A source for whatever `run()` was handed: a source, a resource, or data (an array or iterable of items). */
export function toSource(data: unknown, pipelineName: string, tableName: string | undefined): Source {
  if (data instanceof Source) return data;
  if (data instanceof Resource) return new Source(defaultSchemaName(pipelineName), [data], {});
  if (data === null || data === undefined || (typeof data !== 'object' && typeof data !== 'function')) {
    throw new ResourceDefinitionError('run() needs a source, a resource, or data (an array or iterable of items)', { pipeline: pipelineName, value: data });
  }
  const name = tableName ?? (typeof data === 'function' && data.name ? data.name : 'data');
  let r: Resource;
  if (typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data) && !Array.isArray(data)) {
    // a (possibly started) generator handed to run(): consumed once, as data
    const it = data as AsyncIterable<unknown> | Iterable<unknown>;
    r = defineResource(() => it, { name });
  } else r = defineResource(data as Iterable<unknown>, { name });
  return new Source(defaultSchemaName(pipelineName), [r], {});
}

/** The run's plan; resource and source state objects are those of `state` (the run's draft). */
export function planRun(src: Source, opts: RunOptions, state: PipelineState, pipelineName: string): RunPlan {
  const props = sourceProps(src);
  const selected = src.selectedResources;
  if (opts.tableName && selected.length > 1) {
    throw new ResourceDefinitionError(`run(…, { tableName }) needs a single resource; source "${src.name}" selects ${selected.length}`, { pipeline: pipelineName });
  }
  const nodes = new Map<Resource, ExtractNode>();
  const sourceState = sourceStateOf(state, src.name);
  const nodeFor = (r: Resource, load: boolean): ExtractNode => {
    let n = nodes.get(r);
    if (n) {
      n.load ||= load;
      return n;
    }
    n = { resource: r, load, children: [], resourceState: resourceStateOf(state, src.name, r.name), sourceState };
    nodes.set(r, n);
    const parent = r.dataFrom;
    if (parent) {
      // a transformer's parent runs (from the source's own definition when it has one) even if not selected
      const p = props.resources.find((x) => x.name === parent.name) ?? parent;
      nodeFor(p, false).children.push(n);
    }
    return n;
  };
  for (const r of selected) nodeFor(withRunOverrides(r, opts), true);
  const all = [...nodes.values()];
  const roots = all.filter((n) => !n.resource.dataFrom || !all.some((p) => p.children.includes(n)));
  return { sourceName: src.name, rootKey: src.rootKey, maxTableNesting: src.options.maxTableNesting, schemaContract: src.options.schemaContract, roots, all };
}

/** The resource with `run()`'s hints laid over its own (run options win). */
function withRunOverrides(r: Resource, opts: RunOptions): Resource {
  const o: Partial<ResourceOptions> = {};
  if (opts.writeDisposition !== undefined) o.writeDisposition = opts.writeDisposition;
  if (opts.tableName !== undefined) o.tableName = opts.tableName;
  if (opts.primaryKey !== undefined) o.primaryKey = opts.primaryKey;
  if (opts.mergeKey !== undefined) o.mergeKey = opts.mergeKey;
  if (opts.columns !== undefined) o.columns = { ...(r.options.columns ?? {}), ...opts.columns };
  if (opts.schemaContract !== undefined) o.schemaContract = opts.schemaContract;
  return Object.keys(o).length ? r.with(o) : r;
}

/** Whether a node's resource replaces its table. */
export function isReplace(n: ExtractNode): boolean {
  return parseWriteDisposition(resourceProps(n.resource).options.writeDisposition).disposition === 'replace';
}

/** A replace resource starts from a clean resource state (its incremental restarts), as in dlt. */
export function resetReplaceState(plan: RunPlan): void {
  for (const n of plan.all) if (isReplace(n)) clearObject(n.resourceState);
}

/** The static table name of a node's resource, or undefined when a function of the item picks it. */
export function staticTableOf(n: ExtractNode): string | undefined {
  const tn = resourceProps(n.resource).options.tableName;
  return typeof tn === 'function' ? undefined : normalizePath(String(tn ?? n.resource.name));
}

/**
 * The one root table of a load that writes nothing else (then the destination may merge while rows
 * arrive), or undefined.
 */
export function onlyRootTable(plan: RunPlan): string | undefined {
  const tables = new Set(plan.all.filter((n) => n.load).map(staticTableOf));
  return tables.size === 1 && !tables.has(undefined) ? [...tables][0] : undefined;
}

export function clearObject(o: Record<string, unknown>): void {
  for (const k of Object.keys(o)) delete o[k];
}

/**
 * The append root tables a run over an interval replaces (its resources' tables, from `written`:
 * resource → the tables it wrote, and their static table), except those of resources with
 * `intervalReplace: false`.
 */
export function intervalReplaceTables(plan: RunPlan, schema: Schema, written: Record<string, string[]>): string[] {
  const out = new Set<string>();
  for (const n of plan.all) {
    if (!n.load || resourceProps(n.resource).options.intervalReplace === false) continue;
    const tables = [...(written[n.resource.name] ?? []), staticTableOf(n)];
    for (const t of tables) {
      const ts = t === undefined ? undefined : schema.tables[t];
      if (ts && !ts.parent && (ts.writeDisposition ?? 'append') === 'append') out.add(ts.name);
    }
  }
  return [...out].sort();
}

/** One component of a decomposed run: a root resource and the selected transformers it feeds (dlt's `decompose`). */
export interface Component {
  name: string;
  resources: string[];
}

/** The components of what a run would load, in definition order; data or a lone resource is one. */
export function componentsOf(data: unknown, pipelineName: string): Component[] {
  const src = toSource(data, pipelineName, undefined);
  const groups = new Map<string, string[]>();
  for (const r of src.selectedResources) {
    let root: Resource = r;
    while (root.dataFrom) root = root.dataFrom;
    const g = groups.get(root.name) ?? [];
    g.push(r.name);
    groups.set(root.name, g);
  }
  return [...groups].map(([name, resources]) => ({ name, resources }));
}

/** What one component of a run extracts: the source with only its resources selected. */
export function componentData(data: unknown, pipelineName: string, c: Component): unknown {
  return data instanceof Source ? data.withResources(...c.resources) : toSource(data, pipelineName, undefined);
}

/**
 * A run over only some resources (`tide trigger --resources a,b`, the workflow input's `resources`):
 * the source with those selected. Unknown names fail (ResourceDefinitionError, not retryable).
 */
export function selectResources(data: unknown, names: readonly string[] | undefined): unknown {
  if (!names?.length) return data;
  if (data instanceof Source) return data.withResources(...names);
  if (data instanceof Resource && names.every((n) => n === data.name)) return data;
  throw new ResourceDefinitionError(`Only a source's resources can be selected: the pipeline's data has no resources ${names.map((n) => `"${n}"`).join(', ')}`);
}
