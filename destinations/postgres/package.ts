/**
 * Staged packages: the extract → load split of a Temporal run. The extract step stages a load's rows
 * in `<dataset>_staging` tables and records a package row saying what the load will do; that
 * transaction commits on its own. The load step (`applyPackage`) later applies the package in one
 * transaction, idempotently: a load id already in `_dlt_loads` is a no-op.
 */
import { readTableCounts, type TableCounts } from '../../pipeline/counts.ts';
import type pg from 'pg';
import type { CommitRequest } from '../../pipeline/destination.ts';
import { LoadError } from '../../pipeline/errors.ts';
import { decodeTypedJson, encodeTypedJson } from '../../pipeline/state.ts';
import { applyLoad, applyPrepare, type Prepare } from './load.ts';
import { dropTablesSql, PACKAGES_TABLE, qualified, stagingSchemaOf } from './sql.ts';
import { isLoaded } from './state.ts';
import { packageLock, poolQueryable, Tx } from './transaction.ts';

/** What a staged package records: everything the load step needs, and nothing else. */
export interface PackageRecord {
  /** the commit request, its state as typed JSON text */
  request: Omit<CommitRequest, 'state'> & { state?: { base: string; draft: string; sourceName: string; touched: string[] } };
  prepare: Prepare;
  /** data table → its staging table (quoted) */
  staging: Record<string, string>;
  rowCounts: TableCounts;
}

export function packageRecord(req: CommitRequest, prepare: Prepare, staging: Record<string, string>, rowCounts: TableCounts): PackageRecord {
  const state = req.state && {
    base: encodeTypedJson(req.state.base),
    draft: encodeTypedJson(req.state.draft),
    sourceName: req.state.sourceName,
    touched: req.state.touched,
  };
  return { request: { ...req, state }, prepare, staging, rowCounts };
}

function commitRequestOf(pkg: PackageRecord): CommitRequest {
  const r = pkg.request;
  const state = r.state && {
    base: decodeTypedJson(r.state.base) as never,
    draft: decodeTypedJson(r.state.draft) as never,
    sourceName: r.state.sourceName,
    touched: r.state.touched,
  };
  return { ...r, state };
}

function packagesTable(ds: string): string {
  return qualified(stagingSchemaOf(ds), PACKAGES_TABLE);
}

/** Records a staged package inside the extract's transaction. */
export async function writePackage(tx: Tx, loadId: string, pipeline: string, record: PackageRecord): Promise<void> {
  await tx.q(`INSERT INTO ${packagesTable(tx.ds)} (load_id, pipeline_name, created_at, package) VALUES ($1, $2, now(), $3)`, [
    loadId,
    pipeline,
    JSON.stringify(record),
  ]);
}

/** The package column is text; datasets staged by an earlier tide have it as jsonb (already parsed). */
function readPackage(v: unknown): PackageRecord {
  const pkg = (typeof v === 'string' ? JSON.parse(v) : v) as PackageRecord;
  // a package an older tide staged counts rows as bare numbers
  return { ...pkg, rowCounts: readTableCounts(pkg.rowCounts) };
}

async function readPackageRow(tx: Tx, loadId: string): Promise<PackageRecord | undefined> {
  const r = await tx.q(`SELECT package FROM ${packagesTable(tx.ds)} WHERE load_id = $1`, [loadId]);
  return r.rows[0] ? readPackage(r.rows[0].package) : undefined;
}

/** Drops a package's staging tables and its record. */
async function dropPackage(tx: Tx, loadId: string, pkg: PackageRecord): Promise<void> {
  const staged = Object.values(pkg.staging);
  if (staged.length) await tx.q(dropTablesSql(staged, false));
  await tx.q(`DELETE FROM ${packagesTable(tx.ds)} WHERE load_id = $1`, [loadId]);
}

export interface AppliedPackage {
  /** false when the load id was already committed (a retried load step). */
  applied: boolean;
  tables: TableCounts;
  /** The schema (source) the package loaded. */
  schemaName?: string;
}

/**
 * The load step of a staged package: applies it in one transaction and drops its staging tables.
 * Idempotent by load id.
 */
export async function applyPackage(pool: pg.Pool, ds: string, pipeline: string, loadId: string, createIndexes = false): Promise<AppliedPackage> {
  const tx = await Tx.open(pool, ds, pipeline, createIndexes);
  return tx.commitAfter(async () => {
    await tx.lock(packageLock(ds, loadId));
    const done = await isLoaded(tx, ds, loadId);
    const pkg = await readPackageRow(tx, loadId);
    // a retried load step: the transaction writes nothing
    if (done) return { applied: false, tables: pkg ? pkg.rowCounts : {} };
    if (!pkg) throw new LoadError(`Load package ${loadId} not found in ${stagingSchemaOf(ds)}: it was never staged or was dropped`, { pipeline, loadId });
    const request = commitRequestOf(pkg);
    await applyPrepare(tx, pkg.prepare);
    await applyLoad(tx, { loadId, pipeline, request, staging: (t) => pkg.staging[t], rowCounts: pkg.rowCounts });
    await dropPackage(tx, loadId, pkg);
    return { applied: true, tables: pkg.rowCounts, schemaName: request.schema.name };
  });
}

/**
 * Staged packages nobody will load: an extract whose worker died after staging but before it
 * reported leaves its package behind (the retry stages a new one). Packages older than
 * `olderThanHours` are dropped with their staging tables. Returns how many were dropped.
 */
export async function dropStalePackages(pool: pg.Pool, ds: string, olderThanHours: number): Promise<number> {
  const stale = await poolQueryable(pool).q(`SELECT load_id, package FROM ${packagesTable(ds)} WHERE created_at < now() - make_interval(hours => $1)`, [
    olderThanHours,
  ]);
  for (const row of stale.rows) {
    const tx = await Tx.open(pool, ds, 'gc');
    await tx.commitAfter(async () => {
      await tx.lock(packageLock(ds, row.load_id));
      await dropPackage(tx, row.load_id, readPackage(row.package));
    });
  }
  return stale.rows.length;
}
