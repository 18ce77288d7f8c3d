/**
 * tide: incremental data loading for TypeScript, orchestrated by Temporal.
 *
 * @example
 * import { pipeline, resource, incremental } from 'tide';
 * const issues = resource(async function* (ctx) { yield await fetchSince(ctx.incremental!.startValue) },
 *   { name: 'issues', primaryKey: 'id', writeDisposition: 'merge', incremental: incremental('updated_at', { initialValue: '1970-01-01T00:00:00Z' }) });
 * const p = pipeline({ pipelineName: 'github', datasetName: 'github_data' });
 * console.log(await p.run(issues));
 */

// defining data
export { resource, transformer, source, Resource, Source } from './pipeline/resource.ts';
export type {
  ResourceContext,
  ResourceOptions,
  TransformerOptions,
  SourceOptions,
  ResourceFunction,
  TransformerFunction,
  PipeStep,
} from './pipeline/resource.ts';

// incremental
export { incremental, Incremental, IncrementalDef } from './pipeline/incremental/index.ts';
export type { IncrementalOptions } from './pipeline/incremental/index.ts';

// state
export { current } from './pipeline/state.ts';
export type { PipelineState, SourceState } from './pipeline/state.ts';

// running
export { Pipeline } from './pipeline/pipeline.ts';
export { pipeline } from './destinations/default.ts';
export { newLoadId } from './pipeline/load-id.ts';
export type { PipelineOptions, RunOptions, ExtractOptions, CheckpointInfo, RunInfo, RunProgress, RefreshMode } from './pipeline/options.ts';
export type { TableCounts } from './pipeline/counts.ts';
export type { Interval, IntervalInput } from './pipeline/interval.ts';
export { definePipeline } from './pipeline/define.ts';
export type { PipelineDefinition, ScheduleSpec, ScheduleEvery, Decompose, TriggerRule, RunEvent, NotifyEvent, RetrySpec, ScheduleOverlap } from './pipeline/define.ts';
export { runDecomposed } from './pipeline/decompose.ts';
export type { DecomposedRun } from './pipeline/decompose.ts';

// sources
/** Postgres tables as resources: `await sqlTable({ credentials, table, incremental? })`, `await sqlDatabase({ credentials, schema?, tableNames? })`. */
export { sqlTable, sqlDatabase } from './sources/sql-database/index.ts';
export type { SqlTableOptions, SqlDatabaseOptions, SqlSourceOptions, SqlCredentials } from './sources/sql-database/index.ts';

// schema
export type { ColumnHint, ColumnSchema, DataType, MergeConfig, MergeStrategy, Schema, TableSchema, WriteDisposition } from './pipeline/schema.ts';

// destinations
export { postgres } from './destinations/postgres/destination.ts';
export type { PostgresOptions } from './destinations/postgres/destination.ts';
export type { Destination, DestinationClient, LoadRecord, TableCount } from './pipeline/destination.ts';

// errors
export {
  TideError,
  ResourceDefinitionError,
  IncrementalUnboundError,
  ExtractError,
  NormalizeError,
  CannotCoerceNullError,
  LoadError,
  SchemaError,
  ConfigurationError,
  SqlSourceError,
  IncrementalCursorPathMissing,
  IncrementalCursorValueNone,
  IncrementalCursorInvalidCoercion,
  IncrementalPrimaryKeyMissing,
  PackageGoneError,
  AlreadyLoadedError,
  ComponentsFailedError,
  IntervalOverlapError,
} from './pipeline/errors.ts';
export type { FailedComponent } from './pipeline/errors.ts';
