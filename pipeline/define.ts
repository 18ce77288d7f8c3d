/**
 * `definePipeline`: what a pipelines module default-exports, for `tide run`, the worker and schedules.
 */
import { ConfigurationError } from './errors.ts';
import type { Resource, Source } from './resource.ts';
import type { RunOptions } from './options.ts';
import type { Destination } from './destination.ts';

export type ScheduleEvery = 'hour' | 'day' | 'week';
export type ScheduleSpec = { every: ScheduleEvery } | { cron: string };

export interface PipelineDefinition {
  /** The pipeline name (state key, CLI argument, schedule id part). */
  name: string;
  datasetName?: string;
  /** Builds what a run loads: a source, a resource, or data. Called once per run. */
  source: () => Source | Resource | unknown | Promise<Source | Resource | unknown>;
  /** When the pipeline runs on Temporal. */
  schedule?: ScheduleSpec;
  /** Options passed to every run (write disposition, table name …). */
  runOptions?: Omit<RunOptions, 'interval' | 'onProgress'>;
  destination?: Destination | 'postgres';
}

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
  return Object.freeze({ ...def });
}
