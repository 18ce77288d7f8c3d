/**
 * `definePipeline`: what a pipelines module default-exports, for `tide run`, the worker and schedules.
 */
import { ConfigurationError } from './errors.ts';
import type { Resource, Source } from './resource.ts';
import type { RunOptions } from './options.ts';
import type { Destination } from './destination.ts';
import { checkParamSpecs, type ParamSpecs } from './params.ts';

export type ScheduleEvery = 'hour' | 'day' | 'week';
/** `settle`: on each tick, also re-run the previous N intervals (late-arriving data; interval replace keeps them exact). */
export type ScheduleSpec = ({ every: ScheduleEvery } | { cron: string }) & { settle?: number };

export interface PipelineDefinition {
  /** The pipeline name (state key, CLI argument, schedule id part). */
  name: string;
  datasetName?: string;
  /** Builds what a run loads: a source, a resource, or data. Called once per run. */
  source: () => Source | Resource | unknown | Promise<Source | Resource | unknown>;
  /** When the pipeline runs on Temporal. */
  schedule?: ScheduleSpec;
  /** Options passed to every run (write disposition, table name …). */
  runOptions?: Omit<RunOptions, 'interval' | 'onProgress' | 'params'>;
  /**
   * The params a run takes (`tide trigger … --param name=value`, the workflow input's `params`),
   * validated before the run starts and handed to resources as `ctx.params` (see `pipeline/params.ts`).
   */
  params?: ParamSpecs;
  destination?: Destination | 'postgres';
  /**
   * How a run is split (dlt's Airflow `decompose`). `'none'` (default): one extract-and-load task, one
   * transaction, the fast path. `'serialize'` / `'parallel'`: one extract task per component (a
   * resource with its transformers), each retried on its own and resumable from its checkpoints,
   * one after another or at most `maxParallel` at once; then one load task commits every component's
   * data, the merged state and one `_dlt_loads` row together.
   */
  decompose?: Decompose;
  /** Components extracted at once with `decompose: 'parallel'` (default 4). */
  maxParallel?: number;
  /**
   * `'all_success'` (default): a component that fails (after its retries) fails the run and nothing
   * loads. `'all_done'`: the other components still load (data and state), the failed one's state
   * stays as it was, and the run ends failed, naming it.
   */
  triggerRule?: TriggerRule;
}

export type Decompose = 'none' | 'serialize' | 'parallel';
export type TriggerRule = 'all_success' | 'all_done';

/** Declares a pipeline for the CLI and the Temporal worker. */
export function definePipeline(def: PipelineDefinition): Readonly<PipelineDefinition> {
  if (!def?.name || typeof def.name !== 'string') throw new ConfigurationError('definePipeline() needs a name');
  if (typeof def.source !== 'function') throw new ConfigurationError(`definePipeline("${def.name}") needs source: () => source | resource | data`);
  if (def.schedule && !('every' in def.schedule) && !('cron' in def.schedule)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule is { every: 'hour' | 'day' | 'week' } or { cron }`);
  }
  if (def.schedule && 'every' in def.schedule && !['hour', 'day', 'week'].includes(def.schedule.every)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule.every must be 'hour', 'day' or 'week', got "${def.schedule.every}"`);
  }
  if (def.schedule?.settle !== undefined && !(Number.isInteger(def.schedule.settle) && def.schedule.settle >= 0)) {
    throw new ConfigurationError(`definePipeline("${def.name}"): schedule.settle must be a whole number ≥ 0, got ${def.schedule.settle}`);
  }
  checkDecompose(def);
  checkParamSpecs(def.name, def.params);
  return Object.freeze({ ...def });
}

function checkDecompose(def: PipelineDefinition): void {
  const where = `definePipeline("${def.name}")`;
  if (def.decompose !== undefined && !['none', 'serialize', 'parallel'].includes(def.decompose)) {
    throw new ConfigurationError(`${where}: decompose must be 'none', 'serialize' or 'parallel', got "${def.decompose}"`);
  }
  if (def.maxParallel !== undefined && !(Number.isInteger(def.maxParallel) && def.maxParallel >= 1)) {
    throw new ConfigurationError(`${where}: maxParallel must be a whole number ≥ 1, got ${def.maxParallel}`);
  }
  if (def.triggerRule !== undefined && !['all_success', 'all_done'].includes(def.triggerRule)) {
    throw new ConfigurationError(`${where}: triggerRule must be 'all_success' or 'all_done', got "${def.triggerRule}"`);
  }
}
