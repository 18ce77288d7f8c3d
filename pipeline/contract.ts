/**
 * Schema contracts, as dlt defines them (`dlt.common.schema.schema.Schema.apply_schema_contract`):
 * what a run may change in the schema. Three entities: `tables` (a new table), `columns` (a new
 * column of a table that existed before the run) and `data_type` (a new variant column), each with a
 * mode: `evolve` (allow), `freeze` (fail the run: DataContractViolation, nothing written),
 * `discard_row` (drop the row, with its nested rows), `discard_value` (drop the value, keep the row;
 * for a table it drops the row, as dlt does). The normalizer applies them while it evolves the schema.
 */
import { ResourceDefinitionError } from './errors.ts';
import type { TableSchema } from './schema.ts';

export type SchemaContractMode = 'evolve' | 'freeze' | 'discard_row' | 'discard_value';
export type SchemaContractEntity = 'tables' | 'columns' | 'data_type';

/** One mode for all three entities, or per entity (unset entities evolve). */
export type SchemaContract = SchemaContractMode | Partial<Record<SchemaContractEntity, SchemaContractMode>>;

/** A contract with every entity set. */
export type SchemaContractModes = Readonly<Record<SchemaContractEntity, SchemaContractMode>>;

const MODES: readonly SchemaContractMode[] = ['evolve', 'freeze', 'discard_row', 'discard_value'];
const ENTITIES: readonly SchemaContractEntity[] = ['tables', 'columns', 'data_type'];

/** Throws a ResourceDefinitionError naming `where` unless `c` is a contract. */
export function validateSchemaContract(c: unknown, where: { resource?: string; pipeline?: string; what: string }): void {
  if (c === undefined) return;
  const bad = (why: string) => new ResourceDefinitionError(`${where.what}: schemaContract ${why}`, { resource: where.resource, pipeline: where.pipeline, value: c });
  if (typeof c === 'string') {
    if (!MODES.includes(c as SchemaContractMode)) throw bad(`must be one of ${MODES.join(', ')}`);
    return;
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad('must be a mode or { tables, columns, data_type }');
  for (const [k, v] of Object.entries(c)) {
    if (!ENTITIES.includes(k as SchemaContractEntity)) throw bad(`has an unknown entity "${k}" (known: ${ENTITIES.join(', ')})`);
    if (!MODES.includes(v as SchemaContractMode)) throw bad(`"${k}" must be one of ${MODES.join(', ')}`);
  }
}

/**
 * The contract a resource's tables load under: the resource's, else the source's. A run's contract
 * is laid on every resource it loads (plan.ts), as in dlt; a resource's replaces its source's whole,
 * not entity by entity. Undefined when everything evolves: the normalizer then checks nothing.
 */
export function resolveSchemaContract(resource: SchemaContract | undefined, source: SchemaContract | undefined): SchemaContractModes | undefined {
  const c = resource ?? source;
  if (c === undefined) return undefined;
  const modes = typeof c === 'string' ? { tables: c, columns: c, data_type: c } : { tables: c.tables ?? 'evolve', columns: c.columns ?? 'evolve', data_type: c.data_type ?? 'evolve' };
  return ENTITIES.every((e) => modes[e] === 'evolve') ? undefined : modes;
}

/**
 * dlt's `is_new_table`: absent, or no column has a data type yet (only hints). A new table's columns
 * evolve freely for the whole run that creates it, whatever `columns` says.
 */
export function isNewTable(t: TableSchema | undefined): boolean {
  if (!t) return true;
  for (const c in t.columns) if (t.columns[c].dataType) return false;
  return true;
}
