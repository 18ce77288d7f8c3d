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

// configuration and secrets (`ctx.config`, `ctx.secrets`; docs/configuration.md)
export { Secret } from './pipeline/config.ts';
export type { ConfigReader, SecretsReader, ConfigValue, ConfigType, ConfigTypeOf } from './pipeline/config.ts';

// incremental
export { incremental, Incremental, IncrementalDef } from './pipeline/incremental/index.ts';
export type { IncrementalOptions } from './pipeline/incremental/index.ts';

// declarative sources
/** A source from a declarative REST API config (dlt's `rest_api_source`); see docs/sources.md. */
export { restApiSource } from './sources/rest-api/source.ts';
export type { RestApiSourceOptions } from './sources/rest-api/source.ts';
export type {
  RestApiConfig,
  RestApiClientConfig,
  Endpoint,
  EndpointResource,
  EndpointResourceBase,
  ResolveParamConfig,
  IncrementalParamConfig,
  EndpointIncrementalConfig,
  ProcessingStep,
} from './sources/rest-api/config.ts';
export type { HttpRetryConfig } from './sources/rest-api/client.ts';
export type {
  Auth,
  AuthRequest,
  AuthConfig,
  BearerTokenAuthConfig,
  ApiKeyAuthConfig,
  HttpBasicAuthConfig,
  OAuth2ClientCredentialsConfig,
} from './sources/rest-api/auth.ts';
export type {
  Paginator,
  PageRequest,
  PageResponse,
  PaginatorConfig,
  PaginatorType,
  JsonLinkPaginatorConfig,
  HeaderLinkPaginatorConfig,
  OffsetPaginatorConfig,
  PageNumberPaginatorConfig,
  CursorPaginatorConfig,
  HeaderCursorPaginatorConfig,
  SinglePagePaginatorConfig,
  AutoPaginatorConfig,
} from './sources/rest-api/paginators.ts';
export type { ResponseAction, ResponseInfo } from './sources/rest-api/response-actions.ts';

// state
export { current } from './pipeline/state.ts';
export type { PipelineState, SourceState } from './pipeline/state.ts';

// running
export { Pipeline } from './pipeline/pipeline.ts';
export { pipeline } from './destinations/default.ts';
export { newLoadId } from './pipeline/load-id.ts';
export type { PipelineOptions, RunOptions, ExtractOptions, CheckpointInfo, RunInfo, RunProgress, RefreshMode } from './pipeline/options.ts';
/** Rows per table (`RunInfo.tables`); rows and values the schema contract dropped per table (`RunInfo.discarded`). */
export type { TableCounts, DiscardedCounts } from './pipeline/counts.ts';
export type { Interval, IntervalInput } from './pipeline/interval.ts';
export { definePipeline } from './pipeline/define.ts';
export type { PipelineDefinition, ScheduleSpec, ScheduleEvery, Decompose, TriggerRule, RunEvent, NotifyEvent, RetrySpec, ScheduleOverlap } from './pipeline/define.ts';
export { runDecomposed } from './pipeline/decompose.ts';
/** A run's log lines as the workers keep them (`Pipeline.runLog`, `tide runs <pipeline> --logs <run>`). */
export type { RunLogLine, RunLogLevel, RunLogKey, StoredRunLogLine } from './pipeline/run-log.ts';
export type { DecomposedRun } from './pipeline/decompose.ts';

// sources
/** Postgres tables as resources: `await sqlTable({ credentials, table, incremental? })`, `await sqlDatabase({ credentials, schema?, tableNames? })`. */
export { sqlTable, sqlDatabase } from './sources/sql-database/index.ts';
export type { SqlTableOptions, SqlDatabaseOptions, SqlSourceOptions, SqlCredentials } from './sources/sql-database/index.ts';

// schema
export type { ColumnHint, ColumnSchema, DataType, MergeConfig, MergeStrategy, Schema, TableSchema, WriteDisposition } from './pipeline/schema.ts';
/** What a run added to the schema (`RunInfo.schemaChanges`): new tables, new columns of existing tables, new variant columns. */
export type { SchemaChanges, AddedColumn } from './pipeline/schema.ts';
/** Schema contracts (dlt's `schema_contract`): `schemaContract` on a resource, a source or a run. */
export type { SchemaContract, SchemaContractMode, SchemaContractEntity } from './pipeline/contract.ts';

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
  DataContractViolation,
  ConfigurationError,
  ConfigFieldMissingError,
  SqlSourceError,
  IncrementalCursorPathMissing,
  IncrementalCursorValueNone,
  IncrementalCursorInvalidCoercion,
  IncrementalPrimaryKeyMissing,
  PackageGoneError,
  AlreadyLoadedError,
  ComponentsFailedError,
  IntervalOverlapError,
  RestApiError,
} from './pipeline/errors.ts';
export type { FailedComponent } from './pipeline/errors.ts';
