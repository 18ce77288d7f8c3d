/**
 * `run(…, { refresh })`: which tables a run drops or empties, and the state it wipes (in the draft,
 * so nothing of it survives a failed run).
 *
 * - `drop_sources`: every table of the source and the whole source state;
 * - `drop_resources`: the selected resources' tables (and nested tables) and their state;
 * - `drop_data`: the selected resources' tables are emptied and their state wiped; the schema stays.
 */
import { ConfigurationError } from './errors.ts';
import { REFRESH_MODES, type RefreshMode } from './options.ts';
import { clearObject, type RunPlan } from './plan.ts';
import { nestedTablesOf, type Schema, type TableSchema } from './schema.ts';
import { sourceStateOf, type PipelineState, type StateObject } from './state.ts';

export interface RefreshPlan {
  drop: string[];
  truncate: string[];
  /** The state is written even if no resource changed it. */
  forceState: boolean;
}

const NO_REFRESH: RefreshPlan = Object.freeze({ drop: [], truncate: [], forceState: false }) as RefreshPlan;

export function planRefresh(plan: RunPlan, schema: Schema, mode: RefreshMode | undefined, draft: PipelineState): RefreshPlan {
  if (!mode) return NO_REFRESH;
  if (!REFRESH_MODES.includes(mode)) throw new ConfigurationError(`Invalid refresh mode "${mode}": use drop_sources, drop_resources or drop_data`);
  if (mode === 'drop_sources') return dropSources(plan, schema, draft);
  const selected = plan.all.filter((n) => n.load).map((n) => n.resource.name);
  const tables = familyOf(schema, rootsOf(schema, selected));
  for (const n of plan.all) if (n.load) clearObject(n.resourceState);
  if (mode === 'drop_data') return { drop: [], truncate: tables, forceState: true };
  for (const t of tables) delete schema.tables[t];
  return { drop: tables, truncate: [], forceState: true };
}

function dropSources(plan: RunPlan, schema: Schema, draft: PipelineState): RefreshPlan {
  const tables = familyOf(schema, rootsOf(schema, 'all'));
  const src = sourceStateOf(draft, plan.sourceName);
  clearObject(src);
  for (const n of plan.all) clearObject(n.resourceState);
  // the extracted resources keep writing into their (now empty) state objects: re-attach them
  const resources: Record<string, StateObject> = {};
  for (const n of plan.all) resources[n.resource.name] = n.resourceState;
  src.resources = resources;
  // a key (even undefined) keeps the emptied source in the state through pruneEmptyState, so the
  // wipe is what gets committed
  (src as Record<string, unknown>)._keep = undefined;
  for (const t of tables) delete schema.tables[t];
  return { drop: tables, truncate: [], forceState: true };
}

function rootsOf(schema: Schema, resources: string[] | 'all'): TableSchema[] {
  return Object.values(schema.tables).filter((t) => !t.parent && (resources === 'all' || (t.resource !== undefined && resources.includes(t.resource))));
}

/** Root tables with their nested tables. */
function familyOf(schema: Schema, roots: TableSchema[]): string[] {
  return roots.flatMap((r) => [r.name, ...nestedTablesOf(schema, r.name).map((n) => n.name)]);
}
