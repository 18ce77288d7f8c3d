/**
 * A decomposed run in-process (`tide run` of a pipeline defined with `decompose`): each component (a
 * resource with its transformers) is a staged extract of its own, one after another or a few at
 * once, then one load commits them all. The Temporal workflow runs the same steps as activities.
 */
import type { Decompose, TriggerRule } from './define.ts';
import { ComponentsFailedError, type FailedComponent } from './errors.ts';
import { newLoadId } from './load-id.ts';
import type { RunInfo, RunOptions } from './options.ts';
import type { Pipeline } from './pipeline.ts';
import { eachInLanes } from './parallel.ts';
import { componentData, componentsOf, type Component } from './plan.ts';
import { mergeSchemaChanges, noSchemaChanges } from './schema.ts';
import { addDiscarded, type DiscardedCounts } from './counts.ts';

export interface DecomposedRun {
  decompose: Exclude<Decompose, 'none'>;
  maxParallel?: number;
  triggerRule?: TriggerRule;
}

/** Components extracted at once with `decompose: 'parallel'` when `maxParallel` is not given. */
export const DEFAULT_MAX_PARALLEL = 4;

/** The id of a component's staged package within load `loadId`. */
export function packageIdOf(loadId: string, component: string): string {
  return `${loadId}/${component}`;
}

type Outcome = { component: Component; packageId?: string; error?: unknown };

/**
 * Runs `data()` decomposed. `open()` gives a pipeline object per concurrent extract (they share the
 * caller's destination). Throws the first component's error (`all_success`, nothing loaded) or,
 * after the others committed, ComponentsFailedError (`all_done`).
 */
export async function runDecomposed(open: () => Pipeline, data: () => unknown, how: DecomposedRun, opts: RunOptions = {}): Promise<RunInfo> {
  const main = open();
  const startedAt = new Date();
  const loadId = newLoadId();
  const components = componentsOf(await data(), main.pipelineName);
  const allDone = how.triggerRule === 'all_done';
  const limit = how.decompose === 'parallel' ? (how.maxParallel ?? DEFAULT_MAX_PARALLEL) : 1;
  // definition order, whatever order they finished in: the load combines their schemas in this order
  let schemaChanges = noSchemaChanges();
  const discarded: DiscardedCounts = {};
  const outcomes = (
    await eachInLanes(components, limit, allDone, async (c) => {
      const packageId = packageIdOf(loadId, c.name);
      const info = await open().extract(componentData(await data(), main.pipelineName, c), { ...opts, loadId, packageId });
      schemaChanges = mergeSchemaChanges(schemaChanges, info.schemaChanges);
      addDiscarded(discarded, info.discarded);
      return info.loadId ? packageId : undefined;
    })
  ).map((o): Outcome => ({ component: o.item, packageId: o.result, error: o.error }));
  const failed: FailedComponent[] = outcomes.filter((o) => o.error !== undefined).map((o) => ({ component: o.component.name, error: String((o.error as Error)?.message ?? o.error) }));
  const packages = outcomes.flatMap((o) => (o.packageId ? [o.packageId] : []));
  if (failed.length && !allDone) {
    await main.discardPackages(packages);
    throw outcomes.find((o) => o.error !== undefined)!.error;
  }
  const loaded = packages.length ? await main.load(loadId, packages, failed.map((f) => f.component)) : undefined;
  const info: RunInfo = { loadId: loaded ? loadId : null, pipelineName: main.pipelineName, datasetName: main.datasetName, tables: loaded?.tables ?? {}, startedAt, finishedAt: new Date(), schemaChanges, discarded };
  if (failed.length) {
    throw new ComponentsFailedError(`${failed.length} of ${components.length} components failed: ${failed.map((f) => `${f.component} (${f.error})`).join('; ')}`, {
      pipeline: main.pipelineName,
      failed,
      loadId: info.loadId ?? undefined,
    });
  }
  return info;
}

