/**
 * The merge write disposition: applies a root table and its nested tables from this load's staging
 * tables into the final tables, inside the load transaction (dlt's `sql_jobs.py`, rewritten for
 * Postgres at scale: `EXISTS` / `NOT EXISTS` anti-joins instead of `NOT IN`, `ON CONFLICT` instead of
 * `MERGE`, one statement per key instead of an `OR` that defeats hash joins).
 *
 * `planMerge` is pure: it turns a description of the family (tables, staging relations, columns) into
 * SQL text, so the statements can be asserted in unit tests. `applyMerge` gathers that description from
 * the load session, creates the indexes merge lookups need and runs the statements.
 */
import type pg from 'pg';
import { SchemaError } from '../../pipeline/errors.ts';
import type { Schema, TableSchema } from '../../pipeline/schema.ts';
import { DLT_ID, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, keyColumns } from '../../pipeline/schema.ts';
import { uniqueId } from '../../pipeline/normalize/hash.ts';
import { ident, qualified } from './sql.ts';

export interface MergeContext {
  q: (text: string, params?: unknown[]) => Promise<pg.QueryResult>;
  ds: string;
  schema: Schema;
  root: TableSchema;
  /** The root table then its nested tables, parents first. */
  family: TableSchema[];
  /** The staging relation of a table in this load, if it got rows. */
  staging: (table: string) => string | undefined;
  /** Columns of a table's staging relation (empty without one). */
  stagingColumns?: (table: string) => string[];
  /** Columns of a final table as they exist in the database (empty when it does not exist). */
  finalColumns?: (table: string) => string[];
  finalExists: (table: string) => boolean;
  loadId: string;
  warn?: (message: string) => void;
}

/** One table of the family as the planner sees it. */
export interface PlanTable {
  name: string;
  /** `"ds"."name"` */
  final: string;
  /** The staging relation (already quoted), when the table got rows in this load. */
  staging?: string;
  /** Columns of the staging relation, in order. */
  columns: string[];
  /** The final table exists. */
  exists: boolean;
  /** Parent table name for nested tables. */
  parent?: string;
  /** Column linking a nested row to its root: `_dlt_root_id`, or `_dlt_parent_id` for level-1 tables without it. */
  link?: string;
}

export interface MergePlanInput {
  strategy: 'delete-insert' | 'upsert' | 'insert-only' | 'scd2';
  root: PlanTable;
  nested: PlanTable[];
  primaryKey: string[];
  mergeKey: string[];
  hardDelete?: { column: string; bool: boolean };
  dedupSort?: { column: string; order: 'asc' | 'desc' };
  /** upsert / insert-only: a unique index on the primary key exists (ON CONFLICT usable). */
  uniquePk?: boolean;
  scd2?: { validFrom: string; validTo: string; boundary: string; active?: string; versionColumn: string; chainNested: boolean };
  /** A unique suffix for temp table names. */
  uid: string;
}

const D = 'd';
const S = 's';

const col = (alias: string, c: string) => `${alias}.${ident(c)}`;
const eqAll = (cols: string[], a = D, b = S) => cols.map((c) => `${col(a, c)} = ${col(b, c)}`).join(' AND ');
const list = (cols: string[], alias?: string) => cols.map((c) => (alias ? col(alias, c) : ident(c))).join(', ');
const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** SQL condition true for a staged row flagged for deletion (MG-12). */
function deleted(hd: MergePlanInput['hardDelete'], alias = S): string | undefined {
  if (!hd) return undefined;
  return hd.bool ? `${col(alias, hd.column)} IS TRUE` : `${col(alias, hd.column)} IS NOT NULL`;
}
function notDeleted(hd: MergePlanInput['hardDelete'], alias = S): string | undefined {
  if (!hd) return undefined;
  return hd.bool ? `${col(alias, hd.column)} IS NOT TRUE` : `${col(alias, hd.column)} IS NULL`;
}
const where = (...conds: (string | undefined)[]) => {
  const c = conds.filter(Boolean);
  return c.length ? ` WHERE ${c.join(' AND ')}` : '';
};

/** The SQL statements of one merge, in order. */
export function planMerge(p: MergePlanInput): string[] {
  if (!p.root.staging) return [];
  switch (p.strategy) {
    case 'scd2':
      return planScd2(p);
    case 'upsert':
    case 'insert-only':
      return planUpsert(p);
    default:
      return planDeleteInsert(p);
  }
}

function insertAllSql(t: PlanTable, filter = ''): string {
  return `INSERT INTO ${t.final} (${list(t.columns)}) SELECT ${list(t.columns, S)} FROM ${t.staging} AS ${S}${filter}`;
}

/** MG-6 … MG-13: delete every destination row matching a staged row on the primary key or the merge key, then insert. */
function planDeleteInsert(p: MergePlanInput): string[] {
  const out: string[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const keys = [p.primaryKey, p.mergeKey].filter((k) => k.length);
  const nested = p.nested.filter((n) => n.exists);
  const del = ident(`tide_del_${p.uid}`);
  const ins = ident(`tide_ins_${p.uid}`);
  if (keys.length) {
    // one EXISTS per key (pk OR merge key): each is a hash semi-join; an OR inside one EXISTS is a nested loop
    const matches = keys.map((k) => `EXISTS (SELECT 1 FROM ${rootSt} AS ${S} WHERE ${eqAll(k)})`);
    if (nested.length) {
      out.push(
        `CREATE TEMP TABLE ${del} ON COMMIT DROP AS ${matches
          .map((m) => `SELECT ${col(D, DLT_ID)} FROM ${root.final} AS ${D} WHERE ${m}`)
          .join(' UNION ')}`,
      );
      for (const n of nested) out.push(`DELETE FROM ${n.final} AS ${D} WHERE ${col(D, n.link!)} IN (SELECT ${ident(DLT_ID)} FROM ${del})`);
      out.push(`DELETE FROM ${root.final} AS ${D} WHERE ${col(D, DLT_ID)} IN (SELECT ${ident(DLT_ID)} FROM ${del})`);
    } else {
      for (const m of matches) out.push(`DELETE FROM ${root.final} AS ${D} WHERE ${m}`);
    }
  }
  const staged = p.nested.filter((n) => n.staging);
  const dedup = p.primaryKey.length > 0;
  if (!dedup && !p.hardDelete) {
    // no primary key: every staged row goes in (merge key only, or no keys at all = append)
    out.push(insertAllSql(root));
    for (const n of staged) out.push(insertAllSql(n));
    return out;
  }
  // dedup by primary key (the winner picked first), then drop rows flagged as deletes (MG-9, MG-10, MG-12)
  let winners: string;
  if (dedup && p.dedupSort) {
    // a row without a sort value never beats one with it; ties keep the first occurrence (dlt docs)
    const order = `${ident(p.dedupSort.column)} ${p.dedupSort.order.toUpperCase()} NULLS LAST, ctid ASC`;
    const inner = `SELECT *, ROW_NUMBER() OVER (PARTITION BY ${list(p.primaryKey)} ORDER BY ${order}) AS _tide_rn FROM ${rootSt}`;
    winners = `(${inner}) AS ${S}${where(`${S}._tide_rn = 1`, notDeleted(p.hardDelete))}`;
  } else if (dedup) {
    // no dedup_sort: the last occurrence in the load wins (dlt: arbitrary); a hash anti-join, no sort
    const later = `NOT EXISTS (SELECT 1 FROM ${rootSt} AS s2 WHERE ${eqAll(p.primaryKey, 's2', S)} AND s2.ctid > ${S}.ctid)`;
    winners = `${rootSt} AS ${S}${where(later, notDeleted(p.hardDelete))}`;
  } else winners = `${rootSt} AS ${S}${where(notDeleted(p.hardDelete))}`;
  if (!staged.length) {
    out.push(`INSERT INTO ${root.final} (${list(root.columns)}) SELECT ${list(root.columns, S)} FROM ${winners}`);
    return out;
  }
  out.push(`CREATE TEMP TABLE ${ins} ON COMMIT DROP AS SELECT ${col(S, DLT_ID)} FROM ${winners}`);
  const inIns = (alias: string, c: string) => `${col(alias, c)} IN (SELECT ${ident(DLT_ID)} FROM ${ins})`;
  out.push(insertAllSql(root, ` WHERE ${inIns(S, DLT_ID)}`));
  for (const n of staged) out.push(insertAllSql(n, ` WHERE ${inIns(S, n.link!)}`));
  return out;
}

/**
 * delete-insert of one batch of a root table without nested tables, while the load goes on
 * (load.ts): the final rows with the batch's keys go (`$1`: the keys, an array of `keyType`), then the
 * batch's winners go in: the last row of each key (when the batch repeats keys), without the rows
 * flagged as deletes. Batch after batch this is the whole-load plan: a later batch deletes what an
 * earlier one inserted, so the last occurrence in the load wins (a dedupSort column needs the whole
 * load: no batches then).
 */
export function planDeleteInsertBatch(p: {
  final: string;
  batch: string;
  columns: string[];
  key: string;
  keyType: string;
  hardDelete?: MergePlanInput['hardDelete'];
  repeatsKeys: boolean;
}): string[] {
  const from = p.repeatsKeys ? `(SELECT DISTINCT ON (${ident(p.key)}) * FROM ${p.batch} ORDER BY ${ident(p.key)}, ctid DESC)` : p.batch;
  return [
    `DELETE FROM ${p.final} AS ${D} WHERE ${col(D, p.key)} = ANY($1::${p.keyType}[])`,
    `INSERT INTO ${p.final} (${list(p.columns)}) SELECT ${list(p.columns, S)} FROM ${from} AS ${S}${where(notDeleted(p.hardDelete))}`,
  ];
}

/**
 * The rows a batch replaces, when the batch goes straight into the final table (load.ts
 * #copiesToFinal): the final rows with the batch's keys (`$1`, an array of `keyType`). For upsert the
 * statement also counts deleted rows this load wrote (`$2`: the load id) as `repeated`: a key delivered
 * twice in one load, which upsert refuses (MG-15).
 */
export function planReplaceBatch(p: { final: string; key: string; keyType: string; upsert: boolean }): { text: string; repeated: boolean } {
  const del = `DELETE FROM ${p.final} AS ${D} WHERE ${col(D, p.key)} = ANY($1::${p.keyType}[])`;
  if (!p.upsert) return { text: del, repeated: false };
  return { text: `WITH gone AS (${del} RETURNING ${col(D, DLT_LOAD_ID)} AS l) SELECT count(*) FILTER (WHERE l = $2)::int AS repeated FROM gone`, repeated: true };
}

/**
 * upsert / insert-only of one batch of a root table without nested tables, while the load goes on
 * (load.ts). Rows flagged as deletes remove their key (upsert), the others go in with ON CONFLICT on
 * the unique key index. A key this load already wrote in an earlier batch is left alone
 * (`_dlt_load_id` tells), so `live` > `written` means the load repeats a key: upsert needs keys unique
 * in the data (MG-15), like the whole-load statement, which fails on it.
 * Returns the statements in order; the last one yields one row `{ written, live }`.
 */
export function planUpsertBatch(p: {
  final: string;
  batch: string;
  columns: string[];
  key: string;
  hardDelete?: MergePlanInput['hardDelete'];
  insertOnly: boolean;
}): string[] {
  const out: string[] = [];
  const isDel = deleted(p.hardDelete);
  if (isDel && !p.insertOnly) out.push(`DELETE FROM ${p.final} AS ${D} USING ${p.batch} AS ${S} WHERE ${col(D, p.key)} = ${col(S, p.key)} AND ${isDel}`);
  const rest = p.columns.filter((c) => c !== p.key);
  const action =
    p.insertOnly || !rest.length
      ? 'DO NOTHING'
      : `DO UPDATE SET ${rest.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')} WHERE ${col(D, DLT_LOAD_ID)} IS DISTINCT FROM EXCLUDED.${ident(DLT_LOAD_ID)}`;
  const live = where(notDeleted(p.hardDelete));
  out.push(
    `WITH w AS (INSERT INTO ${p.final} AS ${D} (${list(p.columns)}) SELECT ${list(p.columns, S)} FROM ${p.batch} AS ${S}${live} ON CONFLICT (${ident(p.key)}) ${action} RETURNING 1) ` +
      `SELECT (SELECT count(*) FROM w)::int AS written, (SELECT count(*) FROM ${p.batch} AS ${S}${live})::int AS live`,
  );
  return out;
}

/**
 * A unique index on exactly `cols` of `table`: an existing one, else a new one (the one applyMerge
 * makes for upsert). False when existing duplicate keys prevent it; nothing changes then.
 */
export async function ensureUniqueKeyIndex(ctx: Pick<MergeContext, 'q' | 'ds'>, table: string, cols: string[]): Promise<boolean> {
  const idx = await existingIndexes(ctx as MergeContext, [table]);
  if ([...idx.values()].some((i) => i.unique && i.columns.length === cols.length && cols.every((c) => i.columns.includes(c)))) return true;
  const name = indexName(table, `pk_${cols.join('_')}`.slice(0, 20));
  await ctx.q('SAVEPOINT tide_pk_index');
  try {
    await ctx.q(`CREATE UNIQUE INDEX IF NOT EXISTS ${ident(name)} ON ${qualified(ctx.ds, table)} (${list(cols)})`);
    await ctx.q('RELEASE SAVEPOINT tide_pk_index');
    return true;
  } catch {
    await ctx.q('ROLLBACK TO SAVEPOINT tide_pk_index');
    await ctx.q('RELEASE SAVEPOINT tide_pk_index');
    return false;
  }
}

/** MG-15 … MG-18: primary-key upsert (or insert-only); nested rows of upserted roots are replaced. */
function planUpsert(p: MergePlanInput): string[] {
  const out: string[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const pk = p.primaryKey;
  const insertOnly = p.strategy === 'insert-only';
  const nested = p.nested.filter((n) => n.exists);
  const staged = p.nested.filter((n) => n.staging);
  const isDel = deleted(p.hardDelete);
  if (!insertOnly) {
    // nested rows of every staged root go: replaced by the staged ones below, so list elements that
    // disappeared (or a list no longer delivered) are removed, and deleted roots lose theirs (MG-16, MG-17)
    // (matched through the final root rows: their `_dlt_id` may predate the key hash, e.g. after a switch from delete-insert)
    const rootIds = `SELECT r.${ident(DLT_ID)} FROM ${root.final} AS r WHERE EXISTS (SELECT 1 FROM ${rootSt} AS ${S} WHERE ${eqAll(pk, 'r')})`;
    for (const n of nested) out.push(`DELETE FROM ${n.final} AS ${D} WHERE ${col(D, n.link!)} IN (${rootIds})`);
    // hard deletes: rows whose key is staged with a delete flag
    if (isDel) out.push(`DELETE FROM ${root.final} AS ${D} USING ${rootSt} AS ${S} WHERE ${eqAll(pk)} AND ${isDel}`);
    const live = where(notDeleted(p.hardDelete));
    const rest = root.columns.filter((c) => !pk.includes(c));
    if (p.uniquePk) {
      const action = rest.length ? `DO UPDATE SET ${rest.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')}` : 'DO NOTHING';
      out.push(`${insertAllSql(root, live)} ON CONFLICT (${list(pk)}) ${action}`);
    } else {
      if (rest.length) {
        out.push(
          `UPDATE ${root.final} AS ${D} SET ${rest.map((c) => `${ident(c)} = ${col(S, c)}`).join(', ')} FROM ${rootSt} AS ${S} WHERE ${eqAll(pk)}${
            isDel ? ` AND ${notDeleted(p.hardDelete)}` : ''
          }`,
        );
      }
      out.push(insertAllSql(root, where(notDeleted(p.hardDelete), `NOT EXISTS (SELECT 1 FROM ${root.final} AS ${D} WHERE ${eqAll(pk)})`)));
    }
    for (const n of staged) {
      out.push(insertAllSql(n, isDel ? ` WHERE ${col(S, n.link!)} IN (SELECT ${col('r', DLT_ID)} FROM ${rootSt} AS r WHERE ${notDeleted(p.hardDelete, 'r')})` : ''));
    }
    return out;
  }
  // insert-only (MG-18): existing rows are never updated or deleted
  if (p.uniquePk) out.push(`${insertAllSql(root, where(notDeleted(p.hardDelete)))} ON CONFLICT (${list(pk)}) DO NOTHING`);
  else {
    const first = `(SELECT DISTINCT ON (${list(pk)}) * FROM ${rootSt} ORDER BY ${list(pk)}, ctid)`;
    out.push(
      `INSERT INTO ${root.final} (${list(root.columns)}) SELECT ${list(root.columns, S)} FROM ${first} AS ${S}${where(
        notDeleted(p.hardDelete),
        `NOT EXISTS (SELECT 1 FROM ${root.final} AS ${D} WHERE ${eqAll(pk)})`,
      )}`,
    );
  }
  for (const n of staged) {
    out.push(
      insertAllSql(
        n,
        where(
          isDel ? `${col(S, n.link!)} IN (SELECT ${col('r', DLT_ID)} FROM ${rootSt} AS r WHERE ${notDeleted(p.hardDelete, 'r')})` : undefined,
          `NOT EXISTS (SELECT 1 FROM ${n.final} AS ${D} WHERE ${col(D, DLT_ID)} = ${col(S, DLT_ID)})`,
        ),
      ),
    );
  }
  return out;
}

/** MG-19 … MG-27: slowly changing dimension type 2, with NOT EXISTS anti-joins (never NOT IN). */
function planScd2(p: MergePlanInput): string[] {
  const out: string[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const c = p.scd2!;
  const boundary = `${lit(c.boundary)}::timestamptz`;
  const activeValue = c.active === undefined ? 'NULL' : `${lit(c.active)}::timestamptz`;
  const active = (a: string) => (c.active === undefined ? `${col(a, c.validTo)} IS NULL` : `${col(a, c.validTo)} = ${activeValue}`);
  const v = c.versionColumn;
  // 1. retire active records whose version is not in the load (within the merge-key values of the load, MG-23)
  const retire = [active(D), `NOT EXISTS (SELECT 1 FROM ${rootSt} AS ${S} WHERE ${col(S, v)} = ${col(D, v)})`];
  if (p.mergeKey.length) retire.push(`EXISTS (SELECT 1 FROM ${rootSt} AS ${S} WHERE ${eqAll(p.mergeKey)})`);
  out.push(`UPDATE ${root.final} AS ${D} SET ${ident(c.validTo)} = ${boundary} WHERE ${retire.join(' AND ')}`);
  // 2. insert versions that are not active (new, changed, or back after being retired: MG-22)
  const data = root.columns.filter((x) => x !== c.validFrom && x !== c.validTo);
  const ins = `INSERT INTO ${root.final} (${list([...data, c.validFrom, c.validTo])}) SELECT ${list(data, S)}, ${boundary}, ${activeValue} FROM ${rootSt} AS ${S} WHERE NOT EXISTS (SELECT 1 FROM ${root.final} AS ${D} WHERE ${active(D)} AND ${col(D, v)} = ${col(S, v)})`;
  const staged = p.nested.filter((n) => n.staging);
  if (!c.chainNested || !staged.length) {
    out.push(ins);
    // 3. nested tables are insert-only by their deterministic `_dlt_id` (MG-27)
    for (const n of staged) out.push(insertAllSql(n, ` WHERE NOT EXISTS (SELECT 1 FROM ${n.final} AS ${D} WHERE ${col(D, DLT_ID)} = ${col(S, DLT_ID)})`));
    return out;
  }
  // user row version column: `_dlt_id` is random, so nested rows are inserted only under rows inserted now
  const tmp = (t: string) => ident(`tide_new_${p.uid}_${t}`);
  const all = [root, ...staged];
  for (const t of all) out.push(`CREATE TEMP TABLE ${tmp(t.name)} (${ident(DLT_ID)} varchar) ON COMMIT DROP`);
  out.push(`WITH ins AS (${ins} RETURNING ${ident(DLT_ID)}) INSERT INTO ${tmp(root.name)} SELECT ${ident(DLT_ID)}::varchar FROM ins`);
  for (const n of staged) {
    const parentTmp = all.some((t) => t.name === n.parent) ? tmp(n.parent!) : undefined;
    const filter = parentTmp ? ` WHERE ${col(S, DLT_PARENT_ID)}::varchar IN (SELECT ${ident(DLT_ID)} FROM ${parentTmp})` : ' WHERE false';
    out.push(`WITH ins AS (${insertAllSql(n, filter)} RETURNING ${ident(DLT_ID)}) INSERT INTO ${tmp(n.name)} SELECT ${ident(DLT_ID)}::varchar FROM ins`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------ runtime

export function hardDeleteOf(t: TableSchema): MergePlanInput['hardDelete'] {
  const c = Object.values(t.columns).find((x) => x.hardDelete);
  return c ? { column: c.name, bool: c.dataType === 'bool' } : undefined;
}

function dedupSortOf(t: TableSchema): MergePlanInput['dedupSort'] {
  const c = Object.values(t.columns).find((x) => x.dedupSort);
  return c ? { column: c.name, order: c.dedupSort === 'asc' ? 'asc' : 'desc' } : undefined;
}

/** Index names are per schema: `<table>__<kind>` shortened to 63 bytes with a hash suffix. */
export function indexName(table: string, kind: string): string {
  const name = `${table}__tide_${kind}`;
  if (Buffer.byteLength(name) <= 63) return name;
  let h = 0;
  for (const ch of name) h = (Math.imul(h, 31) + ch.codePointAt(0)!) >>> 0;
  return `${table.slice(0, 40)}__tide_${h.toString(36)}`;
}

function linkOf(root: TableSchema, t: TableSchema, cols: string[], strategy: string): string {
  if (cols.includes(DLT_ROOT_ID)) return DLT_ROOT_ID;
  if (t.parent === root.name && cols.includes(DLT_PARENT_ID)) return DLT_PARENT_ID;
  if (strategy === 'scd2') return DLT_PARENT_ID;
  throw new SchemaError(
    `Nested table "${t.name}" has no "${DLT_ROOT_ID}" column: a merge needs root key propagation from the table's first load (use source(…, { rootKey: true }) or refresh the tables)`,
    { resource: root.resource, table: t.name, column: DLT_ROOT_ID },
  );
}

/** Existing indexes of the family (name → unique), one catalog query. */
async function existingIndexes(ctx: MergeContext, tables: string[]): Promise<Map<string, { unique: boolean; table: string; columns: string[] }>> {
  const r = await ctx.q(
    `SELECT c.relname AS index, t.relname AS "table", i.indisunique AS "unique",
            array(SELECT a.attname FROM unnest(i.indkey) k JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)::text[] AS columns
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1 AND t.relname = ANY($2::text[])`,
    [ctx.ds, tables],
  );
  return new Map(r.rows.map((x: { index: string; table: string; unique: boolean; columns: string[] }) => [x.index, { unique: x.unique, table: x.table, columns: x.columns }]));
}

/**
 * An index on exactly `cols` of `table` (any existing one will do, e.g. the unique index an upsert
 * made), else a new `<table>__tide_<kind>` index; the same one applyMerge would make.
 */
export async function ensureKeyIndex(ctx: Pick<MergeContext, 'q' | 'ds'>, table: string, kind: string, cols: string[]): Promise<void> {
  const idx = await existingIndexes(ctx as MergeContext, [table]);
  if ([...idx.values()].some((i) => i.columns.length === cols.length && cols.every((c) => i.columns.includes(c)))) return;
  await ctx.q(`CREATE INDEX IF NOT EXISTS ${ident(indexName(table, kind))} ON ${qualified(ctx.ds, table)} (${list(cols)})`);
}

/** Applies this load's staged rows of one root table and its nested tables. */
export async function applyMerge(ctx: MergeContext): Promise<void> {
  const { root, ds } = ctx;
  const strategy = root.mergeStrategy ?? 'delete-insert';
  const stagingColumns = (t: TableSchema) =>
    ctx.stagingColumns?.(t.name) ?? (ctx.staging(t.name) ? Object.keys(t.columns) : []);
  const finalColumns = (t: TableSchema) => ctx.finalColumns?.(t.name) ?? Object.keys(t.columns);
  const rootSt = ctx.staging(root.name);
  if (!rootSt) return;
  const nestedSchemas = ctx.family.filter((t) => t !== root);
  const primaryKey = keyColumns(root, 'primaryKey');
  let mergeKey = keyColumns(root, 'mergeKey');
  const warn = ctx.warn ?? ((m: string) => process.stderr.write(`tide warning: ${m}\n`));
  if ((strategy === 'upsert' || strategy === 'insert-only') && !primaryKey.length) {
    throw new SchemaError(`The ${strategy} merge strategy needs a primary key`, { resource: root.resource, table: root.name });
  }
  if ((strategy === 'upsert' || strategy === 'insert-only') && mergeKey.length) mergeKey = [];
  const nested: PlanTable[] = [];
  for (const t of nestedSchemas) {
    const exists = ctx.finalExists(t.name);
    const st = ctx.staging(t.name);
    if (!exists && !st) continue;
    const cols = st ? stagingColumns(t) : finalColumns(t);
    nested.push({
      name: t.name,
      final: qualified(ds, t.name),
      staging: st,
      columns: cols,
      exists,
      parent: t.parent,
      link: linkOf(root, t, exists ? finalColumns(t) : cols, strategy),
    });
  }
  const rootTable: PlanTable = { name: root.name, final: qualified(ds, root.name), staging: rootSt, columns: stagingColumns(root), exists: true };
  const uid = uniqueId().replace(/[^A-Za-z0-9]/g, '').slice(0, 10).toLowerCase();
  const input: MergePlanInput = {
    strategy,
    root: rootTable,
    nested,
    primaryKey,
    mergeKey,
    hardDelete: strategy === 'scd2' ? undefined : hardDeleteOf(root),
    dedupSort: strategy === 'delete-insert' && primaryKey.length ? dedupSortOf(root) : undefined,
    uid,
  };
  if (strategy === 'scd2') {
    const cfg = root.scd2 ?? { validFrom: '_dlt_valid_from', validTo: '_dlt_valid_to' };
    input.scd2 = {
      validFrom: cfg.validFrom,
      validTo: cfg.validTo,
      boundary: cfg.boundaryTimestamp ?? new Date(Number(ctx.loadId) * 1000).toISOString(),
      active: cfg.activeRecordTimestamp,
      versionColumn: cfg.rowVersionColumn ?? DLT_ID,
      chainNested: Boolean(cfg.rowVersionColumn),
    };
  }

  // staging tables are fresh (temp) tables without statistics: without them the planner guesses 200
  // distinct keys and can pick nested loops over a million staged rows
  // (only the columns the merge joins and filters on: sampling every column of a wide batch costs more)
  const rootKeys = [...new Set([...primaryKey, ...mergeKey, DLT_ID, ...(root.scd2?.rowVersionColumn ? [root.scd2.rowVersionColumn] : [])])]
    .filter((c) => rootTable.columns.includes(c));
  const analyze = [
    `${rootSt}${rootKeys.length ? ` (${rootKeys.map(ident).join(', ')})` : ''}`,
    ...nested
      .filter((n) => n.staging)
      .map((n) => {
        const cols = [DLT_ID, '_dlt_root_id', '_dlt_parent_id'].filter((c) => n.columns.includes(c));
        return `${n.staging}${cols.length ? ` (${cols.map(ident).join(', ')})` : ''}`;
      }),
  ];
  await ctx.q(`ANALYZE ${analyze.join(', ')}`);

  // indexes the merge lookups use (created once, on first merge)
  const idx = await existingIndexes(ctx, [root.name, ...nested.filter((n) => n.exists || n.staging).map((n) => n.name)]);
  const hasIndexOn = (table: string, cols: string[], unique: boolean) =>
    [...idx.values()].some((i) => i.table === table && (!unique || i.unique) && i.columns.length === cols.length && cols.every((c) => i.columns.includes(c)));
  const ensureIndex = async (table: string, kind: string, cols: string[]) => {
    if (!cols.length || hasIndexOn(table, cols, false) || idx.has(indexName(table, kind))) return;
    await ctx.q(`CREATE INDEX IF NOT EXISTS ${ident(indexName(table, kind))} ON ${qualified(ds, table)} (${list(cols)})`);
  };
  if (strategy === 'upsert' || strategy === 'insert-only') {
    // existing duplicate keys prevent the index: then UPDATE + INSERT without ON CONFLICT
    input.uniquePk = await ensureUniqueKeyIndex(ctx, root.name, primaryKey);
    if (!input.uniquePk) warn(`table "${root.name}" has duplicate primary keys (${primaryKey.join(', ')}): ${strategy} runs without ON CONFLICT`);
  } else if (strategy === 'delete-insert') {
    await ensureIndex(root.name, 'pk', primaryKey);
    await ensureIndex(root.name, 'mk', mergeKey);
  } else {
    await ensureIndex(root.name, 'version', [input.scd2!.versionColumn]);
    await ensureIndex(root.name, 'mk', mergeKey);
  }
  for (const n of nested) {
    if (strategy === 'scd2' || strategy === 'insert-only') await ensureIndex(n.name, 'id', [DLT_ID]);
    else await ensureIndex(n.name, 'root', [n.link!]);
  }
  for (const text of planMerge(input)) await ctx.q(text);
}
