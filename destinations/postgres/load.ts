/**
 * The load step: inside one transaction, applies each root table's write disposition from this
 * load's staging tables, then writes the state row, the schema version and the `_dlt_loads` row.
 * Everything commits together, or nothing does.
 */
import { totalRows, type TableCounts } from '../../pipeline/counts.ts';
import type { CommitRequest } from '../../pipeline/destination.ts';
import type { Schema, TableSchema } from '../../pipeline/schema.ts';
import { nestedTablesOf, rootTableOf } from '../../pipeline/schema.ts';
import { applyMerge } from './merge.ts';
import { dropTablesSql, ident, qualified, truncateSql } from './sql.ts';
import { writeLoad, writeSchemaVersion, writeState } from './state.ts';
import { tableLock, type Tx } from './transaction.ts';

/** Refresh: tables dropped or emptied before this load's rows arrive. */
export interface Prepare {
  drop: string[];
  truncate: string[];
}

/** What the load step applies. */
export interface LoadStep {
  loadId: string;
  pipeline: string;
  request: CommitRequest;
  /** The staging relation (quoted) of a table, when the table got rows staged in this load. */
  staging: (table: string) => string | undefined;
  rowCounts: TableCounts;
}

export async function applyPrepare(tx: Tx, p: Prepare): Promise<void> {
  const drop = p.drop.filter((t) => tx.final.has(t));
  if (drop.length) {
    await tx.q(dropTablesSql(drop.map((t) => qualified(tx.ds, t)), true));
    for (const t of drop) tx.final.delete(t);
  }
  const truncate = p.truncate.filter((t) => tx.final.has(t));
  if (truncate.length) await tx.q(truncateSql(truncate.map((t) => qualified(tx.ds, t))));
}

/** The load step proper: dispositions, state, schema version, `_dlt_loads`, inside `tx`. */
export async function applyLoad(tx: Tx, step: LoadStep): Promise<void> {
  const req = step.request;
  const roots = [...new Set([...req.tables.map((t) => rootTableOf(req.schema, t.table)?.name ?? t.table), ...req.truncate])].sort();
  // per-table advisory locks in a fixed order: parallel loads into one table serialize, never deadlock
  for (const r of roots) await tx.lock(tableLock(tx.ds, r));
  for (const root of roots) {
    const rootSchema = req.schema.tables[root];
    if (rootSchema) await applyDisposition(tx, step, rootSchema);
  }
  if (req.state) await writeState(tx, step.pipeline, step.loadId, req.state);
  if (req.schemaChanged) await writeSchemaVersion(tx, req.schema, req.schemaVersionHash);
  await writeLoad(tx, {
    loadId: step.loadId,
    pipeline: step.pipeline,
    schemaName: req.schema.name,
    schemaVersionHash: req.schemaVersionHash,
    interval: req.interval,
    rows: totalRows(step.rowCounts),
    failedComponents: req.failedComponents,
  });
}

/** Applies one root table and its nested tables from staging, by the root's write disposition. */
async function applyDisposition(tx: Tx, step: LoadStep, root: TableSchema): Promise<void> {
  const schema = step.request.schema;
  const family = [root, ...nestedTablesOf(schema, root.name)];
  const disposition = root.writeDisposition ?? 'append';
  if (disposition === 'replace') {
    const existing = family.filter((t) => tx.final.has(t.name)).map((t) => qualified(tx.ds, t.name));
    if (existing.length) await tx.q(truncateSql(existing), undefined, root.name);
    for (const t of family) await insertFromStaging(tx, schema, t.name, step.staging(t.name));
  } else if (disposition === 'merge') {
    for (const t of family) if (step.staging(t.name)) await tx.ensureFinal(schema, t.name);
    await applyMerge({
      q: (text, params) => tx.q(text, params, root.name),
      ds: tx.ds,
      schema,
      root,
      family,
      staging: step.staging,
      finalExists: (t) => tx.final.has(t),
      finalColumns: (t) => [...(tx.final.get(t)?.columns ?? [])],
      loadId: step.loadId,
    });
  } else {
    // append: already in place in direct mode; from the staging tables in stage mode
    for (const t of family) await insertFromStaging(tx, schema, t.name, step.staging(t.name));
  }
}

async function insertFromStaging(tx: Tx, schema: Schema, table: string, staged: string | undefined): Promise<void> {
  if (!staged) return;
  await tx.ensureFinal(schema, table);
  // scd2 validity columns are the merge's to fill
  const columns = schema.tables[table].columns;
  const list = Object.keys(columns)
    .filter((c) => !columns[c].x_valid_from && !columns[c].x_valid_to)
    .map(ident)
    .join(', ');
  await tx.q(`INSERT INTO ${qualified(tx.ds, table)} (${list}) SELECT ${list} FROM ${staged}`, undefined, table);
}
