/**
 * The merge write disposition: applies a root table and its nested tables from this load's staging
 * tables into the final tables, inside the load transaction (dlt's `sql_jobs.py`, rewritten for
 * Postgres at scale: `EXISTS` / `NOT EXISTS` anti-joins instead of `NOT IN`, `ON CONFLICT` instead of
 * `MERGE`, one statement per key instead of an `OR` that defeats hash joins).
 *
 * `planMerge` is pure: it turns a description of the family (tables, staging relations, columns) into
 * statements built with Kysely's query builder (compile-only, `sql.ts` `qb`), so their exact text and
 * parameters can be asserted in unit tests. `applyMerge` gathers that description from the load
 * session, creates the indexes merge lookups need and runs the statements. Raw `sql` fragments are
 * used only where the builder has no word for it (window functions, `ctid`, `= any($1::type[])`).
 */
import type pg from 'pg';
import { SchemaError } from '../../pipeline/errors.ts';
import type { MergeStrategy, Schema, TableSchema } from '../../pipeline/schema.ts';
import { DLT_ID, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, keyColumns } from '../../pipeline/schema.ts';
import { uniqueId } from '../../pipeline/normalize/hash.ts';
import { sql, type CompiledQuery, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import { createIndexSql, ident, insertInto, qb, relation } from './sql.ts';

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

/** A final table: the dataset (Postgres schema) and the table's name. */
export interface FinalTable {
  schema: string;
  name: string;
}

/** One table of the family as the planner sees it. */
export interface PlanTable extends FinalTable {
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

type Query = { compile(): CompiledQuery };
type Cond = Expression<SqlBool>;

/** `"alias"."column"` */
const ref = (alias: string, c: string) => sql.ref(`${alias}.${c}`);
/** A staging relation (already quoted by `ident` / `qualified`) with an alias. */
const staged = (quoted: string, alias: string) => sql<any>`${sql.raw(quoted)}`.as(alias);
/** A final table of the dataset with an alias. */
const finalOf = (t: FinalTable, alias: string) => relation(t.schema, t.name, alias);
const and = (conds: (Cond | undefined)[]): Cond | undefined => {
  const c = conds.filter((x): x is Cond => x !== undefined);
  return c.length === 0 ? undefined : c.length === 1 ? c[0] : sql<SqlBool>`${sql.join(c, sql` and `)}`;
};
const eqAll = (cols: string[], a = D, b = S): Cond => and(cols.map((c) => sql<SqlBool>`${ref(a, c)} = ${ref(b, c)}`))!;
/** `q.where(all conditions)`, or `q` when there are none. */
function where<Q>(q: Q, ...conds: (Cond | undefined)[]): Q {
  const c = and(conds);
  return c ? ((q as { where(c: Cond): Q }).where(c) as Q) : q;
}
/** `exists (select 1 from <staging> as s where …)` */
const existsIn = (quoted: string, cond: Cond): Cond => sql<SqlBool>`exists ${qb.selectFrom(staged(quoted, S)).select(sql.lit(1).as('one')).where(cond)}`;
/** `<column> in (select "_dlt_id" from <temp table>)` */
const inIds = (column: RawBuilder<unknown>, table: string): Cond => sql<SqlBool>`${column} in ${qb.selectFrom(table).select(DLT_ID)}`;

/** SQL condition true for a staged row flagged for deletion. */
function deleted(hd: MergePlanInput['hardDelete'], alias = S): Cond | undefined {
  if (!hd) return undefined;
  return hd.bool ? sql<SqlBool>`${ref(alias, hd.column)} is true` : sql<SqlBool>`${ref(alias, hd.column)} is not null`;
}
function notDeleted(hd: MergePlanInput['hardDelete'], alias = S): Cond | undefined {
  if (!hd) return undefined;
  return hd.bool ? sql<SqlBool>`${ref(alias, hd.column)} is not true` : sql<SqlBool>`${ref(alias, hd.column)} is null`;
}

/** `insert into <final> (cols) select s.cols from <staging> as s [where …]` */
function insertAll(t: PlanTable, ...conds: (Cond | undefined)[]) {
  const select = where(qb.selectFrom(staged(t.staging!, S)).select(t.columns.map((c) => ref(S, c).as(c))), ...conds);
  return insertInto(t.schema, t.name).columns(t.columns).expression(select);
}

/** The SQL statements of one merge, in order (text and parameters). */
export function planMerge(p: MergePlanInput): CompiledQuery[] {
  if (!p.root.staging) return [];
  const queries = p.strategy === 'scd2' ? planScd2(p) : p.strategy === 'upsert' || p.strategy === 'insert-only' ? planUpsert(p) : planDeleteInsert(p);
  return queries.map((q) => q.compile());
}

/** delete-insert: delete every destination row matching a staged row on the primary key or the merge key, then insert. */
function planDeleteInsert(p: MergePlanInput): Query[] {
  const out: Query[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const keys = [p.primaryKey, p.mergeKey].filter((k) => k.length);
  const nested = p.nested.filter((n) => n.exists);
  const del = `tide_del_${p.uid}`;
  const ins = `tide_ins_${p.uid}`;
  if (keys.length) {
    // one EXISTS per key (pk OR merge key): each is a hash semi-join; an OR inside one EXISTS is a nested loop
    const matches = keys.map((k) => existsIn(rootSt, eqAll(k)));
    if (nested.length) {
      const selects = matches.map((m) => qb.selectFrom(finalOf(root, D)).select(ref(D, DLT_ID).as(DLT_ID)).where(m));
      const union = selects.slice(1).reduce((u, q) => u.union(q), selects[0]);
      out.push(qb.schema.createTable(del).temporary().onCommit('drop').as(union));
      for (const n of nested) out.push(qb.deleteFrom(finalOf(n, D)).where(inIds(ref(D, n.link!), del)));
      out.push(qb.deleteFrom(finalOf(root, D)).where(inIds(ref(D, DLT_ID), del)));
    } else {
      for (const m of matches) out.push(qb.deleteFrom(finalOf(root, D)).where(m));
    }
  }
  const stagedNested = p.nested.filter((n) => n.staging);
  const dedup = p.primaryKey.length > 0;
  if (!dedup && !p.hardDelete) {
    // no primary key: every staged row goes in (merge key only, or no keys at all = append)
    out.push(insertAll(root));
    for (const n of stagedNested) out.push(insertAll(n));
    return out;
  }
  // dedup by primary key (the winner picked first), then drop rows flagged as deletes
  const winners = (columns: string[]) => {
    const select = columns.map((c) => ref(S, c).as(c));
    if (dedup && p.dedupSort) {
      // a row without a sort value never beats one with it; ties keep the first occurrence (dlt docs)
      const order = sql.raw(p.dedupSort.order === 'asc' ? 'asc' : 'desc');
      const rn = sql<number>`row_number() over (partition by ${sql.join(p.primaryKey.map((c) => sql.ref(c)))} order by ${sql.ref(p.dedupSort.column)} ${order} nulls last, ctid asc)`;
      const ranked = qb.selectFrom(staged(rootSt, 'r')).selectAll().select(rn.as('_tide_rn')).as(S);
      return where(qb.selectFrom(ranked).select(select), sql<SqlBool>`${ref(S, '_tide_rn')} = 1`, notDeleted(p.hardDelete));
    }
    const from = qb.selectFrom(staged(rootSt, S)).select(select);
    if (dedup) {
      // no dedup_sort: the last occurrence in the load wins (dlt: arbitrary); a hash anti-join, no sort
      const later = qb.selectFrom(staged(rootSt, 's2')).select(sql.lit(1).as('one')).where(and([eqAll(p.primaryKey, 's2', S), sql<SqlBool>`${ref('s2', 'ctid')} > ${ref(S, 'ctid')}`])!);
      return where(from, sql<SqlBool>`not exists ${later}`, notDeleted(p.hardDelete));
    }
    return where(from, notDeleted(p.hardDelete));
  };
  if (!stagedNested.length) {
    out.push(insertInto(root.schema, root.name).columns(root.columns).expression(winners(root.columns)));
    return out;
  }
  out.push(qb.schema.createTable(ins).temporary().onCommit('drop').as(winners([DLT_ID])));
  out.push(insertAll(root, inIds(ref(S, DLT_ID), ins)));
  for (const n of stagedNested) out.push(insertAll(n, inIds(ref(S, n.link!), ins)));
  return out;
}

/** Primary-key upsert (or insert-only); nested rows of upserted roots are replaced. */
function planUpsert(p: MergePlanInput): Query[] {
  const out: Query[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const pk = p.primaryKey;
  const insertOnly = p.strategy === 'insert-only';
  const nested = p.nested.filter((n) => n.exists);
  const stagedNested = p.nested.filter((n) => n.staging);
  const isDel = deleted(p.hardDelete);
  /** `<col> in (select r."_dlt_id" from <root staging> as r where not deleted)`: nested rows of live roots */
  const ofLiveRoots = (n: PlanTable) =>
    isDel ? sql<SqlBool>`${ref(S, n.link!)} in ${where(qb.selectFrom(staged(rootSt, 'r')).select(ref('r', DLT_ID).as(DLT_ID)), notDeleted(p.hardDelete, 'r'))}` : undefined;
  if (!insertOnly) {
    // nested rows of every staged root go: replaced by the staged ones below, so list elements that
    // disappeared (or a list no longer delivered) are removed, and deleted roots lose theirs
    // (matched through the final root rows: their `_dlt_id` may predate the key hash, e.g. after a switch from delete-insert)
    const rootIds = qb.selectFrom(finalOf(root, 'r')).select(ref('r', DLT_ID).as(DLT_ID)).where(existsIn(rootSt, eqAll(pk, 'r')));
    for (const n of nested) out.push(qb.deleteFrom(finalOf(n, D)).where(sql<SqlBool>`${ref(D, n.link!)} in ${rootIds}`));
    // hard deletes: rows whose key is staged with a delete flag
    if (isDel) out.push(qb.deleteFrom(finalOf(root, D)).using(staged(rootSt, S)).where(and([eqAll(pk), isDel])!));
    const rest = root.columns.filter((c) => !pk.includes(c));
    if (p.uniquePk) {
      const upsert = insertAll(root, notDeleted(p.hardDelete));
      out.push(
        rest.length
          ? upsert.onConflict((oc) => oc.columns(pk).doUpdateSet(Object.fromEntries(rest.map((c) => [c, sql.ref(`excluded.${c}`)]))))
          : upsert.onConflict((oc) => oc.columns(pk).doNothing()),
      );
    } else {
      if (rest.length) {
        const update = qb
          .updateTable(finalOf(root, D))
          .set(Object.fromEntries(rest.map((c) => [c, ref(S, c)])))
          .from(staged(rootSt, S));
        out.push(where(update, eqAll(pk), isDel ? notDeleted(p.hardDelete) : undefined));
      }
      const present = qb.selectFrom(finalOf(root, D)).select(sql.lit(1).as('one')).where(eqAll(pk));
      out.push(insertAll(root, notDeleted(p.hardDelete), sql<SqlBool>`not exists ${present}`));
    }
    for (const n of stagedNested) out.push(insertAll(n, ofLiveRoots(n)));
    return out;
  }
  // insert-only: existing rows are never updated or deleted
  if (p.uniquePk) out.push(insertAll(root, notDeleted(p.hardDelete)).onConflict((oc) => oc.columns(pk).doNothing()));
  else {
    const firstRows = qb
      .selectFrom(staged(rootSt, 'f'))
      .distinctOn(pk.map((c) => ref('f', c)))
      .selectAll();
    const first = pk.reduce((q, c) => q.orderBy(ref('f', c)), firstRows).orderBy(sql`ctid`).as(S);
    const present = qb.selectFrom(finalOf(root, D)).select(sql.lit(1).as('one')).where(eqAll(pk));
    const select = where(qb.selectFrom(first).select(root.columns.map((c) => ref(S, c).as(c))), notDeleted(p.hardDelete), sql<SqlBool>`not exists ${present}`);
    out.push(insertInto(root.schema, root.name).columns(root.columns).expression(select));
  }
  for (const n of stagedNested) {
    const present = qb.selectFrom(finalOf(n, D)).select(sql.lit(1).as('one')).where(sql<SqlBool>`${ref(D, DLT_ID)} = ${ref(S, DLT_ID)}`);
    out.push(insertAll(n, ofLiveRoots(n), sql<SqlBool>`not exists ${present}`));
  }
  return out;
}

/** Slowly changing dimension type 2, with NOT EXISTS anti-joins (never NOT IN). */
function planScd2(p: MergePlanInput): Query[] {
  const out: Query[] = [];
  const { root } = p;
  const rootSt = root.staging!;
  const c = p.scd2!;
  const boundary = sql`${c.boundary}::timestamptz`;
  const activeValue = c.active === undefined ? sql`null` : sql`${c.active}::timestamptz`;
  const active = (a: string) => (c.active === undefined ? sql<SqlBool>`${ref(a, c.validTo)} is null` : sql<SqlBool>`${ref(a, c.validTo)} = ${activeValue}`);
  const v = c.versionColumn;
  // 1. retire active records whose version is not in the load (within the merge-key values of the load)
  const inLoad = qb.selectFrom(staged(rootSt, S)).select(sql.lit(1).as('one')).where(sql<SqlBool>`${ref(S, v)} = ${ref(D, v)}`);
  const retire = qb
    .updateTable(finalOf(root, D))
    .set({ [c.validTo]: boundary })
    .where(and([active(D), sql<SqlBool>`not exists ${inLoad}`, p.mergeKey.length ? existsIn(rootSt, eqAll(p.mergeKey)) : undefined])!);
  out.push(retire);
  // 2. insert versions that are not active (new, changed, or back after being retired)
  const data = root.columns.filter((x) => x !== c.validFrom && x !== c.validTo);
  const isActive = qb.selectFrom(finalOf(root, D)).select(sql.lit(1).as('one')).where(and([active(D), sql<SqlBool>`${ref(D, v)} = ${ref(S, v)}`])!);
  const versions = qb
    .selectFrom(staged(rootSt, S))
    .select([...data.map((x) => ref(S, x).as(x)), boundary.as(c.validFrom), activeValue.as(c.validTo)])
    .where(sql<SqlBool>`not exists ${isActive}`);
  const ins = () => insertInto(root.schema, root.name).columns([...data, c.validFrom, c.validTo]).expression(versions);
  const stagedNested = p.nested.filter((n) => n.staging);
  if (!c.chainNested || !stagedNested.length) {
    out.push(ins());
    // 3. nested tables are insert-only by their deterministic `_dlt_id`
    for (const n of stagedNested) {
      const present = qb.selectFrom(finalOf(n, D)).select(sql.lit(1).as('one')).where(sql<SqlBool>`${ref(D, DLT_ID)} = ${ref(S, DLT_ID)}`);
      out.push(insertAll(n, sql<SqlBool>`not exists ${present}`));
    }
    return out;
  }
  // user row version column: `_dlt_id` is random, so nested rows are inserted only under rows inserted now
  const tmp = (t: string) => `tide_new_${p.uid}_${t}`;
  const all = [root, ...stagedNested];
  for (const t of all) out.push(qb.schema.createTable(tmp(t.name)).temporary().onCommit('drop').addColumn(DLT_ID, 'varchar'));
  const keepIds = (table: string, insert: ReturnType<typeof insertAll>) =>
    qb
      .with('ins', () => insert.returning(DLT_ID))
      .insertInto(table)
      .columns([DLT_ID])
      .expression(qb.selectFrom('ins').select(sql`${sql.ref(DLT_ID)}::varchar`.as(DLT_ID)));
  out.push(keepIds(tmp(root.name), ins()));
  for (const n of stagedNested) {
    const parentTmp = all.some((t) => t.name === n.parent) ? tmp(n.parent!) : undefined;
    const filter = parentTmp ? sql<SqlBool>`${ref(S, DLT_PARENT_ID)}::varchar in ${qb.selectFrom(parentTmp).select(DLT_ID)}` : sql<SqlBool>`false`;
    out.push(keepIds(tmp(n.name), insertAll(n, filter)));
  }
  return out;
}

/**
 * delete-insert of one batch of a root table without nested tables, while the load goes on
 * (early-merge.ts): the final rows with the batch's keys go (`keys`: an array of `keyType`), then the
 * batch's winners go in: the last row of each key (when the batch repeats keys), without the rows
 * flagged as deletes. Batch after batch this is the whole-load plan: a later batch deletes what an
 * earlier one inserted, so the last occurrence in the load wins (a dedupSort column needs the whole
 * load: no batches then).
 */
export function planDeleteInsertBatch(p: {
  final: FinalTable;
  batch: string;
  columns: string[];
  key: string;
  keyType: string;
  keys: unknown[];
  hardDelete?: MergePlanInput['hardDelete'];
  repeatsKeys: boolean;
}): CompiledQuery[] {
  const batch = ident(p.batch);
  // repeated keys: the last row of each key (COPY order = ctid order in the emptied scratch table)
  const from = (
    p.repeatsKeys ? qb.selectFrom(staged(batch, 'b')).distinctOn(ref('b', p.key)).selectAll().orderBy(ref('b', p.key)).orderBy(sql`ctid`, 'desc').as(S) : staged(batch, S)
  ) as ReturnType<typeof staged>;
  const select = where(qb.selectFrom(from).select(p.columns.map((c) => ref(S, c).as(c))), notDeleted(p.hardDelete));
  return [
    planReplaceBatch({ final: p.final, key: p.key, keyType: p.keyType, keys: p.keys, upsert: false }),
    insertInto(p.final.schema, p.final.name).columns(p.columns).expression(select).compile(),
  ];
}

/**
 * The rows a batch replaces, when the batch goes straight into the final table (early-merge.ts
 * #copiesToFinal): the final rows with the batch's keys (an array of `keyType`). For upsert the
 * statement also counts deleted rows this load wrote (`loadId`) as `repeated`: a key delivered twice
 * in one load, which upsert refuses.
 */
export function planReplaceBatch(p: { final: FinalTable; key: string; keyType: string; keys: unknown[]; upsert: boolean; loadId?: string }): CompiledQuery {
  const del = qb.deleteFrom(finalOf(p.final, D)).where(sql<SqlBool>`${ref(D, p.key)} = any(${p.keys}::${sql.raw(p.keyType)}[])`);
  if (!p.upsert) return del.compile();
  return qb
    .with('gone', () => del.returning(ref(D, DLT_LOAD_ID).as('l')))
    .selectFrom('gone')
    .select(sql<number>`count(*) filter (where ${sql.ref('l')} = ${p.loadId})::int`.as('repeated'))
    .compile();
}

/**
 * The root rows a batch of a root WITH nested tables replaces (early-merge.ts, delete-insert): the
 * final rows with the batch's keys go, and their `_dlt_id`s come back, so that their nested rows can
 * follow (`planDeleteNestedBatch`), and only when there were any.
 */
export function planReplaceRootBatch(p: { final: FinalTable; key: string; keyType: string; keys: unknown[] }): CompiledQuery {
  return qb
    .deleteFrom(finalOf(p.final, D))
    .where(sql<SqlBool>`${ref(D, p.key)} = any(${p.keys}::${sql.raw(p.keyType)}[])`)
    .returning(ref(D, DLT_ID).as(DLT_ID))
    .compile();
}

/** One row `{ empty }`: whether a final table has no rows. */
export function planIsEmpty(final: FinalTable): CompiledQuery {
  const any = qb.selectFrom(finalOf(final, D)).select(sql.lit(1).as('one'));
  return qb.selectNoFrom(sql<boolean>`not exists ${any}`.as('empty')).compile();
}

/**
 * The rows of a nested table whose roots `planReplaceRootBatch` deleted (`ids`: their `_dlt_id`s, an
 * array of `idType`), found by `_dlt_root_id`, as the whole-load merge finds them.
 */
export function planDeleteNestedBatch(p: { final: FinalTable; ids: unknown[]; idType: string }): CompiledQuery {
  return qb
    .deleteFrom(finalOf(p.final, D))
    .where(sql<SqlBool>`${ref(D, DLT_ROOT_ID)} = any(${p.ids}::${sql.raw(p.idType)}[])`)
    .compile();
}

/**
 * upsert / insert-only of one batch of a root table without nested tables, while the load goes on
 * (early-merge.ts). Rows flagged as deletes remove their key (upsert), the others go in with ON CONFLICT on
 * the unique key index. A key this load already wrote in an earlier batch is left alone
 * (`_dlt_load_id` tells), so `live` > `written` means the load repeats a key: upsert needs keys unique
 * in the data, like the whole-load statement, which fails on it.
 * Returns the statements in order; the last one yields one row `{ written, live }`.
 */
export function planUpsertBatch(p: {
  final: FinalTable;
  batch: string;
  columns: string[];
  key: string;
  hardDelete?: MergePlanInput['hardDelete'];
  insertOnly: boolean;
}): CompiledQuery[] {
  const out: Query[] = [];
  const batch = ident(p.batch);
  const isDel = deleted(p.hardDelete);
  if (isDel && !p.insertOnly) out.push(qb.deleteFrom(finalOf(p.final, D)).using(staged(batch, S)).where(and([sql<SqlBool>`${ref(D, p.key)} = ${ref(S, p.key)}`, isDel])!));
  const rest = p.columns.filter((c) => c !== p.key);
  const select = where(qb.selectFrom(staged(batch, S)).select(p.columns.map((c) => ref(S, c).as(c))), notDeleted(p.hardDelete));
  const insert = insertInto(p.final.schema, p.final.name).columns(p.columns).expression(select);
  const write =
    p.insertOnly || !rest.length
      ? insert.onConflict((oc) => oc.column(p.key).doNothing())
      : insert.onConflict((oc) =>
          oc
            .column(p.key)
            .doUpdateSet(Object.fromEntries(rest.map((c) => [c, sql.ref(`excluded.${c}`)])))
            // the conflicting row is named by its table (no schema) in ON CONFLICT
            .where(sql<SqlBool>`${sql.ref(`${p.final.name}.${DLT_LOAD_ID}`)} is distinct from ${sql.ref(`excluded.${DLT_LOAD_ID}`)}`),
        );
  const live = where(qb.selectFrom(staged(batch, S)).select(sql`count(*)::int`.as('n')), notDeleted(p.hardDelete));
  out.push(
    qb
      .with('w', () => write.returning(sql.lit(1).as('one')))
      .selectNoFrom([sql<number>`(select count(*) from ${sql.id('w')})::int`.as('written'), sql<number>`${live}`.as('live')]),
  );
  return out.map((q) => q.compile());
}

// ------------------------------------------------------------------------------------------ runtime

/** The merge strategy of a merge table (delete-insert unless the resource chose another). */
export function strategyOf(t: TableSchema): MergeStrategy {
  return t.mergeStrategy ?? 'delete-insert';
}

export function hardDeleteOf(t: TableSchema): MergePlanInput['hardDelete'] {
  const c = Object.values(t.columns).find((x) => x.hardDelete);
  return c ? { column: c.name, bool: c.dataType === 'bool' } : undefined;
}

function dedupSortOf(t: TableSchema): MergePlanInput['dedupSort'] {
  const c = Object.values(t.columns).find((x) => x.dedupSort);
  return c ? { column: c.name, order: c.dedupSort === 'asc' ? 'asc' : 'desc' } : undefined;
}

/** Index names are per schema: `<table>__<kind>` shortened to 63 bytes with a hash suffix. */
function indexName(table: string, kind: string): string {
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
  await run(ctx, createIndexSql(ctx.ds, table, indexName(table, kind), cols, false));
}

async function run(ctx: Pick<MergeContext, 'q'>, q: CompiledQuery): Promise<pg.QueryResult> {
  return ctx.q(q.sql, q.parameters as unknown[]);
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
    await run(ctx, createIndexSql(ctx.ds, table, name, cols, true));
    await ctx.q('RELEASE SAVEPOINT tide_pk_index');
    return true;
  } catch {
    await ctx.q('ROLLBACK TO SAVEPOINT tide_pk_index');
    await ctx.q('RELEASE SAVEPOINT tide_pk_index');
    return false;
  }
}

/** Applies this load's staged rows of one root table and its nested tables. */
export async function applyMerge(ctx: MergeContext): Promise<void> {
  const input = mergeInput(ctx);
  if (!input) return;
  await analyzeStaging(ctx, input);
  await ensureMergeIndexes(ctx, input);
  for (const q of planMerge(input)) await run(ctx, q);
}

function stagingColumns(ctx: MergeContext, t: TableSchema): string[] {
  return ctx.stagingColumns?.(t.name) ?? (ctx.staging(t.name) ? Object.keys(t.columns) : []);
}

function finalColumns(ctx: MergeContext, t: TableSchema): string[] {
  return ctx.finalColumns?.(t.name) ?? Object.keys(t.columns);
}

/** What the planner needs, gathered from the load; undefined when the root got no rows in this load. */
function mergeInput(ctx: MergeContext): MergePlanInput | undefined {
  const { root, ds } = ctx;
  const strategy = strategyOf(root);
  const rootSt = ctx.staging(root.name);
  if (!rootSt) return undefined;
  const primaryKey = keyColumns(root, 'primaryKey');
  // (upsert and insert-only without a primary key never get here: the engine refuses those hints
  // before anything is extracted, and a merge table's rows must all have their key columns)
  const byPrimaryKey = strategy === 'upsert' || strategy === 'insert-only';
  const nested = nestedPlanTables(ctx, strategy);
  const input: MergePlanInput = {
    strategy,
    root: { name: root.name, schema: ds, staging: rootSt, columns: stagingColumns(ctx, root), exists: true },
    nested,
    primaryKey,
    // upsert and insert-only match on the primary key alone
    mergeKey: byPrimaryKey ? [] : keyColumns(root, 'mergeKey'),
    hardDelete: strategy === 'scd2' ? undefined : hardDeleteOf(root),
    dedupSort: strategy === 'delete-insert' && primaryKey.length ? dedupSortOf(root) : undefined,
    uid: uniqueId().replace(/[^A-Za-z0-9]/g, '').slice(0, 10).toLowerCase(),
  };
  if (strategy === 'scd2') input.scd2 = scd2Of(root, ctx.loadId);
  return input;
}

/** The nested tables the merge touches: those that exist or got rows in this load. */
function nestedPlanTables(ctx: MergeContext, strategy: MergeStrategy): PlanTable[] {
  const nested: PlanTable[] = [];
  for (const t of ctx.family) {
    if (t === ctx.root) continue;
    const exists = ctx.finalExists(t.name);
    const st = ctx.staging(t.name);
    if (!exists && !st) continue;
    const cols = st ? stagingColumns(ctx, t) : finalColumns(ctx, t);
    nested.push({
      name: t.name,
      schema: ctx.ds,
      staging: st,
      columns: cols,
      exists,
      parent: t.parent,
      link: linkOf(ctx.root, t, exists ? finalColumns(ctx, t) : cols, strategy),
    });
  }
  return nested;
}

function scd2Of(root: TableSchema, loadId: string): NonNullable<MergePlanInput['scd2']> {
  const cfg = root.scd2 ?? { validFrom: '_dlt_valid_from', validTo: '_dlt_valid_to' };
  return {
    validFrom: cfg.validFrom,
    validTo: cfg.validTo,
    boundary: cfg.boundaryTimestamp ?? new Date(Number(loadId) * 1000).toISOString(),
    active: cfg.activeRecordTimestamp,
    versionColumn: cfg.rowVersionColumn ?? DLT_ID,
    chainNested: Boolean(cfg.rowVersionColumn),
  };
}

/**
 * Staging tables are fresh (temp) tables without statistics: without them the planner guesses 200
 * distinct keys and can pick nested loops over a million staged rows. Only the columns the merge
 * joins and filters on: sampling every column of a wide batch costs more.
 */
async function analyzeStaging(ctx: MergeContext, input: MergePlanInput): Promise<void> {
  const { root, nested, primaryKey, mergeKey } = input;
  const version = ctx.root.scd2?.rowVersionColumn;
  const rootKeys = [...new Set([...primaryKey, ...mergeKey, DLT_ID, ...(version ? [version] : [])])].filter((c) => root.columns.includes(c));
  const analyze = [
    `${root.staging}${rootKeys.length ? ` (${rootKeys.map(ident).join(', ')})` : ''}`,
    ...nested
      .filter((n) => n.staging)
      .map((n) => {
        const cols = [DLT_ID, '_dlt_root_id', '_dlt_parent_id'].filter((c) => n.columns.includes(c));
        return `${n.staging}${cols.length ? ` (${cols.map(ident).join(', ')})` : ''}`;
      }),
  ];
  await ctx.q(`ANALYZE ${analyze.join(', ')}`);
}

/** The indexes the merge lookups use (created once, on the first merge); sets `input.uniquePk`. */
async function ensureMergeIndexes(ctx: MergeContext, input: MergePlanInput): Promise<void> {
  const { strategy, root, nested, primaryKey, mergeKey } = input;
  const idx = await existingIndexes(ctx, [root.name, ...nested.filter((n) => n.exists || n.staging).map((n) => n.name)]);
  const hasIndexOn = (table: string, cols: string[]) =>
    [...idx.values()].some((i) => i.table === table && i.columns.length === cols.length && cols.every((c) => i.columns.includes(c)));
  const ensureIndex = async (table: string, kind: string, cols: string[]) => {
    if (!cols.length || hasIndexOn(table, cols) || idx.has(indexName(table, kind))) return;
    await run(ctx, createIndexSql(ctx.ds, table, indexName(table, kind), cols, false));
  };
  if (strategy === 'upsert' || strategy === 'insert-only') {
    // existing duplicate keys prevent the index: then UPDATE + INSERT without ON CONFLICT
    input.uniquePk = await ensureUniqueKeyIndex(ctx, root.name, primaryKey);
    const warn = ctx.warn ?? ((m: string) => process.stderr.write(`tide warning: ${m}\n`));
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
}
