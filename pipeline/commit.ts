/**
 * The commit decision of a run: the draft state is finished (pruned, named, versioned), and either
 * there is nothing to load — no rows, no state change, no schema change, nothing to drop or empty:
 * then nothing is committed, not even a `_dlt_loads` row — or the commit request for the load
 * transaction is built.
 */
import { readTableCounts, totalRows, type TableCounts } from './counts.ts';
import type { CommitRequest, LoadSession, StateCommit, TableLoadPlan } from './destination.ts';
import { toIsoInterval, type Interval } from './interval.ts';
import type { RefreshPlan } from './refresh.ts';
import { SchemaError } from './errors.ts';
import { mergeSchemaInto, type Schema } from './schema.ts';
import { bumpSchemaVersion, schemaHash } from './schema-store.ts';
import { bumpVersion, overlayState, pruneEmptyState, type PipelineState } from './state.ts';

/** The destination type in the state, as dlt names Postgres (dlt warns about and drops a name it does not know). */
const DESTINATION_TYPE = 'dlt.destinations.postgres';

export interface CommitInput {
  pipelineName: string;
  datasetName: string;
  schema: Schema;
  /** The schema's hash before the run. */
  schemaHashBefore: string;
  /** The state as committed before the run, and the run's draft. */
  committed: PipelineState;
  draft: PipelineState;
  sourceName: string;
  /** Resources extracted in this run (their state is the draft's in a concurrent-state merge). */
  touched: string[];
  tables: TableLoadPlan[];
  /** Replace tables emptied because their resource yielded nothing. */
  truncate: string[];
  refresh: RefreshPlan;
  interval?: Interval;
  /** With `interval`: the append tables whose rows of earlier loads of the interval this load replaces. */
  intervalReplace?: string[];
  session: Pick<LoadSession, 'rowCounts'>;
  /** The run's params, recorded in the ledger row. */
  params?: Readonly<Record<string, unknown>>;
}

/** The commit request, or undefined when there is nothing to load. Finishes `draft` in place. */
export function decideCommit(c: CommitInput): CommitRequest | undefined {
  const stateChanged = finishState(c);
  markSeenData(c.schema, c.session.rowCounts);
  bumpSchemaVersion(c.schema, c.schemaHashBefore);
  const schemaVersionHash = schemaHash(c.schema);
  const schemaChanged = schemaVersionHash !== c.schemaHashBefore;
  const rowsLoaded = totalRows(c.session.rowCounts) > 0;
  const refreshes = c.refresh.drop.length > 0 || c.refresh.truncate.length > 0;
  if (!rowsLoaded && !stateChanged && !c.truncate.length && !refreshes && !schemaChanged) return undefined;
  return {
    schema: c.schema,
    tables: c.tables,
    truncate: c.truncate,
    schemaChanged,
    schemaVersionHash,
    interval: c.interval && toIsoInterval(c.interval),
    ...(c.interval && c.intervalReplace?.length ? { intervalReplace: c.intervalReplace } : {}),
    ...(c.params && Object.keys(c.params).length ? { params: { ...c.params } } : {}),
    state: stateChanged || c.refresh.forceState ? { base: c.committed, draft: c.draft, sourceName: c.sourceName, touched: c.touched } : undefined,
  };
}

/** Tables that received rows are marked as holding data (dlt reads only those in `row_counts()`). */
function markSeenData(schema: Schema, rowCounts: Readonly<TableCounts>): void {
  for (const [t, { rows }] of Object.entries(rowCounts)) {
    const table = schema.tables[t];
    if (rows > 0 && table && !table.seenData) table.seenData = true;
  }
}

/** Prunes, names and versions the draft state; returns whether a state row must be written. */
function finishState(c: CommitInput): boolean {
  const { draft, committed } = c;
  pruneEmptyState(draft);
  draft.pipeline_name = c.pipelineName;
  draft.dataset_name = c.datasetName;
  draft.default_schema_name = draft.default_schema_name ?? c.schema.name;
  draft.schema_names = [...new Set([...(draft.schema_names ?? []), c.schema.name])].sort();
  draft.destination_type = DESTINATION_TYPE;
  // a pipeline whose state never held anything (stateless runs) writes no state row
  if (!draft.sources && !committed.sources && committed._state_version === 0) return false;
  return bumpVersion(draft);
}

/** The rows of a load per table, with the replace tables it emptied at 0 rows. */
export function withEmptied(rowCounts: Readonly<TableCounts>, emptied: string[]): TableCounts {
  const out = readTableCounts(rowCounts);
  for (const t of emptied) out[t] ??= { rows: 0 };
  return out;
}

/**
 * The one commit of a decomposed run. Each component staged a package with a commit request made
 * from the stored schema and state it read; together they become one request: the schemas' tables
 * and columns united, each component's resource state laid over the others', every table and
 * truncate of every package. The destination then merges the state with whatever committed since.
 */
export function combineCommits(requests: CommitRequest[], pipeline: string): CommitRequest {
  if (requests.length === 1) return requests[0];
  const [first, ...rest] = requests;
  const schema = structuredClone(first.schema);
  for (const r of rest) {
    const clash = mergeSchemaInto(schema, r.schema);
    if (clash) throw new SchemaError(`Column "${clash.column}" of table "${clash.table}" got different types in two components of one run`, { pipeline, ...clash });
  }
  bumpSchemaVersion(schema, first.schemaVersionHash);
  const schemaVersionHash = schemaHash(schema);
  return {
    schema,
    tables: requests.flatMap((r) => r.tables),
    truncate: [...new Set(requests.flatMap((r) => r.truncate))],
    schemaChanged: requests.some((r) => r.schemaChanged) || schemaVersionHash !== first.schemaVersionHash,
    schemaVersionHash,
    interval: first.interval,
    // every component of one run has the run's params
    ...(first.params ? { params: first.params } : {}),
    ...(requests.some((r) => r.intervalReplace?.length) ? { intervalReplace: [...new Set(requests.flatMap((r) => r.intervalReplace ?? []))].sort() } : {}),
    state: combineStates(requests),
  };
}

function combineStates(requests: CommitRequest[]): StateCommit | undefined {
  const states = requests.flatMap((r) => (r.state ? [r.state] : []));
  if (states.length <= 1) return states[0];
  let draft = structuredClone(states[0].draft);
  for (const s of states.slice(1)) draft = overlayState(draft, s.base, s.draft, s.sourceName, s.touched);
  draft._state_version = Math.max(...states.map((s) => s.draft._state_version));
  const oldest = states.reduce((a, b) => (b.base._state_version < a.base._state_version ? b : a));
  return { base: oldest.base, draft, sourceName: states[0].sourceName, touched: [...new Set(states.flatMap((s) => s.touched))] };
}
