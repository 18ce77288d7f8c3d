/**
 * Staged packages: the extract → load split of a Temporal run. An extract stages rows in
 * `<dataset>_staging` tables (unlogged) and records a package row saying what the load will do. A
 * package is one run's whole source, or one component of a decomposed run (its id is then the
 * run's load id and the component). An extract that checkpoints commits its pages so far with a
 * `partial` record; a later attempt of the same package goes on from there. The load step
 * (`applyPackages`) applies every package of a run in one transaction, idempotently by load id.
 */
import { createHash } from 'node:crypto';
import { addRows, readTableCounts, type TableCounts } from '../../pipeline/counts.ts';
import type pg from 'pg';
import { combineCommits } from '../../pipeline/commit.ts';
import type { CommitRequest, StagedPackage } from '../../pipeline/destination.ts';
import { PackageGoneError } from '../../pipeline/errors.ts';
import { decodeTypedJson, encodeTypedJson } from '../../pipeline/state.ts';
import { applyLoad, applyPrepare, type Prepare } from './load.ts';
import { dropTablesSql, ident, PACKAGES_TABLE, qualified, stagingSchemaOf } from './sql.ts';
import { isLoaded } from './state.ts';
import { packageLock, poolQueryable, Tx, type Queryable } from './transaction.ts';

type WireRequest = Omit<CommitRequest, 'state'> & { state?: { base: string; draft: string; sourceName: string; touched: string[] } };

/** What a package row records. `staged`: everything the load step needs; `partial`: an extract's last checkpoint. */
export type PackageRecord =
  | { status: 'staged'; request: WireRequest; prepare: Prepare; staging: Record<string, string>; rowCounts: TableCounts }
  | { status: 'partial'; progress: string; staging: Record<string, string>; columns: Record<string, string[]>; rowCounts: TableCounts };

export type StagedRecord = Extract<PackageRecord, { status: 'staged' }>;
export type PartialRecord = Extract<PackageRecord, { status: 'partial' }>;

export function stagedRecord(req: CommitRequest, prepare: Prepare, staging: Record<string, string>, rowCounts: TableCounts): StagedRecord {
  const state = req.state && {
    base: encodeTypedJson(req.state.base),
    draft: encodeTypedJson(req.state.draft),
    sourceName: req.state.sourceName,
    touched: req.state.touched,
  };
  return { status: 'staged', request: { ...req, state }, prepare, staging, rowCounts };
}

function commitRequestOf(pkg: StagedRecord): CommitRequest {
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

/** The prefix of a package's staging tables: short, and distinct per package. */
export function stagingPrefix(loadId: string, packageId: string): string {
  if (packageId === loadId) return `l${loadId.replace('.', '_')}_`;
  return `p${createHash('sha1').update(packageId).digest('hex').slice(0, 12)}_`;
}

/** Records (or, after a checkpoint, replaces) a package's row inside the extract's transaction. */
export async function writePackage(tx: Tx, packageId: string, pipeline: string, record: PackageRecord): Promise<void> {
  await tx.q(
    `INSERT INTO ${packagesTable(tx.ds)} (load_id, pipeline_name, created_at, package) VALUES ($1, $2, now(), $3)
       ON CONFLICT (load_id) DO UPDATE SET package = excluded.package`,
    [packageId, pipeline, JSON.stringify(record)],
  );
}

/** The package column is text; datasets staged by an earlier tide have it as jsonb (already parsed), without a status. */
function readPackage(v: unknown): PackageRecord {
  const pkg = (typeof v === 'string' ? JSON.parse(v) : v) as PackageRecord;
  // a package an older tide staged counts rows as bare numbers
  return { ...pkg, status: pkg.status ?? 'staged', rowCounts: readTableCounts(pkg.rowCounts) } as PackageRecord;
}

async function readPackageRow(db: Queryable, ds: string, packageId: string): Promise<PackageRecord | undefined> {
  const r = await db.q(`SELECT package FROM ${packagesTable(ds)} WHERE load_id = $1`, [packageId]);
  return r.rows[0] ? readPackage(r.rows[0].package) : undefined;
}

/** What an earlier attempt of a package left: nothing, its last checkpoint, or the whole package. */
export async function stagedPackage(pool: pg.Pool, ds: string, packageId: string): Promise<StagedPackage | undefined> {
  const pkg = await readPackageRow(poolQueryable(pool), ds, packageId);
  if (!pkg) return undefined;
  return pkg.status === 'staged' ? { status: 'staged', tables: pkg.rowCounts } : { status: 'partial', progress: pkg.progress, tables: pkg.rowCounts };
}

/**
 * Tables of a package whose record is gone: a server crash resets unlogged tables to empty but
 * keeps them, and loses the record with them. Dropped before the package is staged anew.
 */
export async function dropLeftovers(tx: Tx, prefix: string): Promise<void> {
  const staging = stagingSchemaOf(tx.ds);
  const r = await tx.q(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND left(c.relname, length($2)) = $2`,
    [staging, prefix],
  );
  if (r.rows.length) await tx.q(dropTablesSql(r.rows.map((x: { relname: string }) => qualified(staging, x.relname)), false));
}

/** The partial record of a package, for its staging tables (read in the extract's transaction). */
export async function partialPackage(tx: Tx, packageId: string): Promise<PartialRecord | undefined> {
  const pkg = await readPackageRow(tx, tx.ds, packageId);
  return pkg?.status === 'partial' ? pkg : undefined;
}

/** Drops a package's staging tables and its record. */
async function dropPackage(tx: Tx, packageId: string, pkg: PackageRecord | undefined): Promise<void> {
  const staged = Object.values(pkg?.staging ?? {});
  if (staged.length) await tx.q(dropTablesSql(staged, false));
  await tx.q(`DELETE FROM ${packagesTable(tx.ds)} WHERE load_id = $1`, [packageId]);
}

export interface AppliedPackage {
  /** false when the load id was already committed (a retried load step). */
  applied: boolean;
  tables: TableCounts;
  /** The schema (source) the package loaded. */
  schemaName?: string;
}

/**
 * The load step of a run's staged packages: applies them in one transaction (one `_dlt_loads` row,
 * one state row) and drops their staging tables. Idempotent by load id. A package that is missing,
 * unfinished, or whose staging tables lost rows (a server crash empties unlogged tables) fails with
 * PackageGoneError: extracting it again is the way on.
 */
export async function applyPackages(
  pool: pg.Pool,
  ds: string,
  pipeline: string,
  { loadId, packageIds, failedComponents }: { loadId: string; packageIds: string[]; failedComponents?: string[] },
  createIndexes = false,
): Promise<AppliedPackage> {
  const tx = await Tx.open(pool, ds, pipeline, createIndexes);
  return tx.commitAfter(async () => {
    await tx.lock(packageLock(ds, loadId));
    const found = await Promise.all(packageIds.map((id) => readPackageRow(tx, ds, id)));
    const rowCounts: TableCounts = {};
    for (const p of found) for (const [t, c] of Object.entries(p?.rowCounts ?? {})) addRows(rowCounts, t, c.rows);
    // a retried load step: the transaction writes nothing
    if (await isLoaded(tx, ds, loadId)) return { applied: false, tables: rowCounts };
    const pkgs = await checkStaged(tx, pipeline, loadId, packageIds, found);
    const request = { ...combineCommits(pkgs.map(commitRequestOf), pipeline), failedComponents };
    const staging = await combineStaging(tx, pkgs);
    for (const p of pkgs) await applyPrepare(tx, p.prepare);
    await applyLoad(tx, { loadId, pipeline, request, staging: (t) => staging[t], rowCounts });
    for (let i = 0; i < pkgs.length; i++) await dropPackage(tx, packageIds[i], pkgs[i]);
    return { applied: true, tables: rowCounts, schemaName: request.schema.name };
  });
}

/** Every package staged, with all its rows: else PackageGoneError naming the packages to extract again. */
async function checkStaged(tx: Tx, pipeline: string, loadId: string, ids: string[], found: (PackageRecord | undefined)[]): Promise<StagedRecord[]> {
  const gone: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const p = found[i];
    if (p?.status !== 'staged' || !(await rowsIntact(tx, p))) gone.push(ids[i]);
  }
  if (gone.length) {
    throw new PackageGoneError(`Load ${loadId}: staged package(s) ${gone.join(', ')} not found in ${stagingSchemaOf(tx.ds)} (never staged, dropped, or emptied by a server restart): extract again`, {
      pipeline,
      loadId,
      packages: gone,
    });
  }
  return found as StagedRecord[];
}

/** Whether a package's staging tables still hold the rows it recorded (unlogged tables are emptied by a crash). */
async function rowsIntact(tx: Tx, pkg: StagedRecord): Promise<boolean> {
  const entries = Object.entries(pkg.staging);
  if (!entries.length) return true;
  const exists = await tx.q(`SELECT ${entries.map((_, i) => `to_regclass($${i + 1}) IS NOT NULL AS t${i}`).join(', ')}`, entries.map(([, rel]) => rel));
  if (entries.some((_, i) => !exists.rows[0][`t${i}`])) return false;
  // a crash leaves them empty; an emptied table is all this has to notice (count(*) would read every row)
  const probe = await tx.q(entries.map(([t, rel], i) => `SELECT ${i} AS i, EXISTS (SELECT 1 FROM ${rel}) AS has`).join(' UNION ALL '));
  return probe.rows.every((r: { i: number; has: boolean }) => r.has || (pkg.rowCounts[entries[r.i][0]]?.rows ?? 0) === 0);
}

/**
 * Data table → the one staging relation the load step reads. Two components that staged the same
 * table (two resources writing one table): the second's rows are moved into the first's table.
 */
async function combineStaging(tx: Tx, pkgs: StagedRecord[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of pkgs) {
    for (const [table, rel] of Object.entries(p.staging)) {
      const into = out[table];
      if (!into) out[table] = rel;
      else await appendStaged(tx, into, rel, table);
    }
  }
  return out;
}

async function appendStaged(tx: Tx, into: string, from: string, table: string): Promise<void> {
  const cols = async (rel: string) =>
    (await tx.q(`SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [rel])).rows as {
      attname: string;
      type: string;
    }[];
  const have = new Set((await cols(into)).map((c) => c.attname));
  const theirs = await cols(from);
  const missing = theirs.filter((c) => !have.has(c.attname));
  if (missing.length) await tx.q(`ALTER TABLE ${into} ${missing.map((c) => `ADD COLUMN ${ident(c.attname)} ${c.type}`).join(', ')}`, undefined, table);
  const list = theirs.map((c) => ident(c.attname)).join(', ');
  await tx.q(`INSERT INTO ${into} (${list}) SELECT ${list} FROM ${from}`, undefined, table);
}

/** Drops packages a run will not load (a failed run's other components), under each package's lock. */
export async function discardPackages(pool: pg.Pool, ds: string, packageIds: string[]): Promise<void> {
  for (const id of packageIds) {
    const tx = await Tx.open(pool, ds, 'gc');
    await tx.commitAfter(async () => {
      await tx.lock(packageLock(ds, id));
      await dropPackage(tx, id, await readPackageRow(tx, ds, id));
    });
  }
}

/**
 * Staged packages nobody will load: an extract whose worker died after staging but before it
 * reported leaves its package behind (the retry stages a new one). Packages older than
 * `olderThanHours` are dropped with their staging tables. Returns how many were dropped.
 */
export async function dropStalePackages(pool: pg.Pool, ds: string, olderThanHours: number): Promise<number> {
  const stale = await poolQueryable(pool).q(`SELECT load_id FROM ${packagesTable(ds)} WHERE created_at < now() - make_interval(hours => $1)`, [olderThanHours]);
  await discardPackages(pool, ds, stale.rows.map((r: { load_id: string }) => r.load_id));
  return stale.rows.length;
}
