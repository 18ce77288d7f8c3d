/**
 * dlt's relational JSON normalizer (`dlt.common.normalizers.json.relational`) plus the row coercion
 * of its JSONL items normalizer (`JsonLItemsNormalizer._coerce_row`), for one item at a time.
 *
 * Mirrors dlt 1.26 (verified against the real library, see test/unit/normalize.test.ts):
 * - keys are normalized with `normalize_path` (so `a__b` keeps its `__`), empty/blank keys → `_empty`;
 * - dicts are flattened with dlt's LIFO stack: top-level keys first, then the last nested dict first;
 *   keys that collide after normalization overwrite the earlier value but keep its position;
 * - lists become nested tables; the emitted order is the parent row, then each list (in the order
 *   the flattening found them), each element fully (depth-first) before the next;
 * - nested row columns: data, `_dlt_root_id` (propagation), `_dlt_parent_id`, `_dlt_list_idx`, `_dlt_id`;
 *   root rows: data, `_dlt_load_id`, `_dlt_id`.
 * The traversal is iterative (explicit stacks): deep input cannot overflow the call stack.
 */
import type { ColumnHint, ColumnSchema, DataType, Schema, TableSchema } from '../schema.ts';
import { DLT_ID, DLT_LIST_IDX, DLT_LOAD_ID, DLT_PARENT_ID, DLT_ROOT_ID, markColumnsChanged } from '../schema.ts';
import { CannotCoerceNullError, DataContractViolation, NormalizeError } from '../errors.ts';
import { TideError } from '../errors.ts';
import { isNewTable, type SchemaContractEntity, type SchemaContractModes } from '../contract.ts';
import { countDiscarded, type DiscardedCounts } from '../counts.ts';
import { digest10, nestedRowId, sortedJson, uniqueId } from './hash.ts';
import { EMPTY_KEY_IDENTIFIER, PATH_SEPARATOR, isBlank, normalizePath, shortenFragments } from './naming.ts';
import { coerceValue, inferType, valueType } from './types.ts';

export interface NormalizerOptions {
  loadId: string;
  pipeline?: string;
  resource?: string;
  /** The schema contract of the resource's tables (`resolveSchemaContract`); unset: everything evolves. */
  contract?: SchemaContractModes;
  /** Where rows and values the contract drops are counted (shared by the normalizers of a run). */
  discarded?: DiscardedCounts;
}

export type EmitFn = (table: string, row: Record<string, unknown>) => void;

const DEFAULT_MAX_NESTING = 1000;
/** Deepest json value accepted (see `assertAcyclic`). */
const MAX_JSON_DEPTH = 1000;
const MAX_LENGTH = 63;
const LIST_KEY = 'list';
const VALUE_KEY = 'value';

type Dict = Record<string, unknown>;

/** Ancestor chain (cons list) of containers being descended: cycle detection and error paths. */
interface Anc {
  obj: object;
  key: string;
  up: Anc | null;
}

interface RowFrame {
  kind: 0;
  dict: Dict;
  /** unshortened `__`-joined path of the table (root name, list keys…) */
  fullPath: string;
  table: string;
  parent: string | undefined;
  parentId: unknown;
  pos: number;
  rLvl: number;
  isRoot: boolean;
  extend: Dict | null;
  anc: Anc | null;
}

interface ScalarFrame {
  kind: 1;
  value: unknown;
  table: string;
  parent: string;
  parentId: unknown;
  pos: number;
  extend: Dict | null;
  /** the list holding the value (for cycle checks of json values) */
  anc: Anc;
}

type Frame = RowFrame | ScalarFrame;

interface ListEntry {
  /** normalized list path relative to the row, `__`-joined */
  path: string;
  value: unknown[];
  anc: Anc;
}

interface RootInfo {
  table: TableSchema;
  columns: Record<string, ColumnSchema>;
  hints: Record<string, ColumnHint> | undefined;
  maxNesting: number;
  rowId: 'random' | 'key_hash' | 'row_hash';
  isMerge: boolean;
  keyColumns: string[];
  primaryKey: string[];
  hardDeleteColumns: string[];
  propagate: boolean;
}

/** Fixed hints of dlt's normalizer columns (dlt `extend_schema`), applied by name in any table. */
const SYSTEM_COLUMN_HINTS: Record<string, Partial<ColumnSchema>> = {
  [DLT_ID]: { nullable: false, unique: true, rowKey: true },
  [DLT_LOAD_ID]: { nullable: false },
  [DLT_PARENT_ID]: { nullable: false, parentKey: true },
  [DLT_LIST_IDX]: { nullable: false },
  [DLT_ROOT_ID]: { nullable: false, rootKey: true },
};

const hasOwn = Object.prototype.hasOwnProperty;

/** `obj[key]` for own properties only: keys like `constructor` or `toString` must not hit the prototype. */
function own<T>(obj: Record<string, T> | undefined, key: string): T | undefined {
  if (obj === undefined) return undefined;
  const v = obj[key];
  return v !== undefined && hasOwn.call(obj, key) ? v : undefined;
}

function isPlainObject(v: unknown): v is Dict {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function pathOf(anc: Anc | null): string {
  const keys: string[] = [];
  for (let a = anc; a; a = a.up) keys.push(a.key);
  keys.reverse();
  if (keys.length > 24) return [...keys.slice(0, 12), `…(${keys.length - 24} more)…`, ...keys.slice(-12)].join('.');
  return keys.join('.');
}

function inChain(anc: Anc | null, obj: object): boolean {
  for (let a = anc; a; a = a.up) if (a.obj === obj) return true;
  return false;
}

/**
 * The root `_dlt_id` of upsert / insert-only rows (NM-10): digest of the sorted JSON of the primary
 * key values. One key with a string, number or boolean value (nearly every table) is written
 * directly, as sortedJson would write it.
 */
function keyHash(primaryKey: readonly string[], row: Dict): string {
  if (primaryKey.length === 1) {
    const v = row[primaryKey[0]];
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) {
      return digest10(`{${JSON.stringify(primaryKey[0])}:${JSON.stringify(v)}}`);
    }
  }
  const subset: Dict = {};
  for (const k of primaryKey) subset[k] = row[k];
  return digest10(sortedJson(subset));
}

export class Normalizer {
  readonly schema: Schema;
  readonly loadId: string;
  readonly pipeline?: string;
  readonly resource?: string;
  #rootInfos = new Map<string, RootInfo>();
  #tableNames = new Map<string, string>();
  #rows: [string, Dict][] = [];
  #keyCache = new Map<string, string>();
  readonly #contract?: SchemaContractModes;
  readonly #discarded: DiscardedCounts;
  /** Tables that were new when this normalizer first met them: their columns evolve (dlt's `evolve-columns-once`). */
  readonly #newTables = new Set<string>();
  /** Tables that had columns when this normalizer first met them: the contract's `columns` applies. */
  readonly #oldTables = new Set<string>();

  constructor(schema: Schema, opts: NormalizerOptions) {
    this.schema = schema;
    this.loadId = opts.loadId;
    this.pipeline = opts.pipeline;
    this.resource = opts.resource;
    this.#contract = opts.contract;
    this.#discarded = opts.discarded ?? {};
  }

  /**
   * Normalize one item yielded for root table `table` (already normalized name). Calls
   * `emit(tableName, row)` for the root row first, then nested rows (parents before children,
   * children in list order). Evolves `schema`. Rows are emitted only when the whole item succeeded.
   */
  normalize(item: unknown, table: string, emit: EmitFn): void {
    const root = this.#rootInfo(table);
    const dict: Dict = isPlainObject(item) ? item : { [VALUE_KEY]: item };
    const rows = this.#rows;
    rows.length = 0;
    try {
      const stack: Frame[] = [
        {
          kind: 0,
          dict,
          fullPath: table,
          table,
          parent: undefined,
          parentId: null,
          pos: 0,
          rLvl: root.maxNesting,
          isRoot: true,
          extend: null,
          anc: { obj: dict, key: '$', up: null },
        },
      ];
      const contract = this.#contract;
      while (stack.length) {
        const f = stack.pop()!;
        // a row of a table the contract refuses goes, with the rows nested in it
        if (contract && !this.#admitTable(f.table)) continue;
        if (f.kind === 1) this.#scalarRow(f);
        else this.#row(f, root, stack, item);
      }
    } catch (e) {
      rows.length = 0;
      throw this.#withContext(e, table, item);
    }
    // errors thrown by `emit` (the writer) propagate unchanged
    try {
      for (let i = 0; i < rows.length; i++) emit(rows[i][0], rows[i][1]);
    } finally {
      rows.length = 0;
    }
  }

  #withContext(e: unknown, table: string, item: unknown): unknown {
    if (!(e instanceof TideError)) {
      // e.g. a getter on the item that throws
      return new NormalizeError(`Cannot normalize item: ${e instanceof Error ? e.message : String(e)}`, {
        pipeline: this.pipeline,
        resource: this.resource,
        table,
        item,
        loadId: this.loadId,
        cause: e,
      });
    }
    const fields: Dict = { pipeline: this.pipeline, resource: this.resource, item, loadId: this.loadId };
    for (const k in fields) {
      if (fields[k] !== undefined && (e as unknown as Dict)[k] === undefined) {
        Object.defineProperty(e, k, { value: fields[k], enumerable: true, configurable: true, writable: true });
      }
    }
    return e;
  }

  // --- per-table info ----------------------------------------------------------------------------

  #rootInfo(name: string): RootInfo {
    let table = own(this.schema.tables, name);
    if (!table) table = this.schema.tables[name] = { name, columns: {} };
    const cached = this.#rootInfos.get(name);
    if (cached && cached.table === table && cached.columns === table.columns && cached.hints === table.columnHints) return cached;
    const hints = table.columnHints;
    const isMerge = table.writeDisposition === 'merge';
    const strategy = table.mergeStrategy ?? 'delete-insert';
    const names = [...Object.keys(table.columns), ...Object.keys(hints ?? {}).filter((n) => !(n in table.columns))];
    const has = (n: string, h: 'primaryKey' | 'mergeKey' | 'hardDelete') => Boolean(own(table.columns, n)?.[h] ?? own(hints, n)?.[h]);
    const primaryKey = names.filter((n) => has(n, 'primaryKey'));
    let rowId: RootInfo['rowId'] = 'random';
    if (isMerge && (strategy === 'upsert' || strategy === 'insert-only')) rowId = 'key_hash';
    else if (isMerge && strategy === 'scd2' && !table.scd2?.rowVersionColumn) rowId = 'row_hash';
    const info: RootInfo = {
      table,
      columns: table.columns,
      hints,
      maxNesting: table.maxTableNesting ?? DEFAULT_MAX_NESTING,
      rowId,
      isMerge,
      keyColumns: isMerge ? names.filter((n) => has(n, 'primaryKey') || has(n, 'mergeKey')) : [],
      primaryKey,
      hardDeleteColumns: names.filter((n) => has(n, 'hardDelete')),
      propagate: table.rootKeyPropagation === true,
    };
    this.#rootInfos.set(name, info);
    return info;
  }

  /** Normalized column name of an item key (dlt: `normalize_path`, blank → `_empty`), cached. */
  #normalizeKey(k: string): string {
    let normK = isBlank(k) ? EMPTY_KEY_IDENTIFIER : normalizePath(k, MAX_LENGTH);
    if (normK === '') normK = EMPTY_KEY_IDENTIFIER;
    if (this.#keyCache.size >= 100_000) this.#keyCache.clear();
    this.#keyCache.set(k, normK);
    return normK;
  }

  #tableName(fullPath: string): string {
    if (fullPath.length <= MAX_LENGTH) return fullPath;
    let t = this.#tableNames.get(fullPath);
    if (t === undefined) {
      if (this.#tableNames.size > 10_000) this.#tableNames.clear();
      t = shortenFragments([fullPath], MAX_LENGTH);
      this.#tableNames.set(fullPath, t);
    }
    return t;
  }

  /** dlt `is_nested_type`: true when the value at `col` must stay in place (json). */
  #keepAsJson(table: TableSchema | undefined, hints: Record<string, ColumnHint> | undefined, col: string, rLvl: number): boolean {
    if (rLvl <= 0) return true;
    const c = own(table?.columns, col);
    if (c?.dataType) return c.dataType === 'json';
    return own(hints, col)?.dataType === 'json';
  }

  // --- rows --------------------------------------------------------------------------------------

  /**
   * One row of `f`'s table from one object: its fields flattened, its lists pushed as frames.
   * Longer than a screen on purpose: it runs for every row, and splitting it into helpers costs
   * closures or per-field calls on the hottest path of a load (bench/normalizer-micro.ts shows it).
   */
  #row(f: RowFrame, root: RootInfo, stack: Frame[], item: unknown): void {
    const tableName = f.table;
    const tableSchema = own(this.schema.tables, tableName);
    const hints = f.isRoot ? root.hints : tableSchema?.columnHints;
    const row: Dict = {};
    let lists: Map<string, ListEntry> | null = null;

    // flatten (dlt `_flatten`): LIFO stack of dicts
    const fstack: [Dict, number, string, Anc | null][] = [[f.dict, f.rLvl, '', f.anc]];
    while (fstack.length) {
      const [cur, rLvl, prefix, anc] = fstack.pop()!;
      for (const k in cur) {
        if (!hasOwn.call(cur, k)) continue;
        const v = cur[k];
        let normK = this.#keyCache.get(k);
        if (normK === undefined) normK = this.#normalizeKey(k);
        // the joined path when it fits (the common case), as shortenFragments would return it
        const name = !prefix ? normK : prefix.length + 2 + normK.length <= MAX_LENGTH ? prefix + PATH_SEPARATOR + normK : shortenFragments([prefix, normK], MAX_LENGTH);
        if (typeof v === 'object' && v !== null) {
          if (Array.isArray(v)) {
            if (!this.#keepAsJson(tableSchema, hints, name, rLvl)) {
              if (inChain(anc, v)) this.#cycle(tableName, anc, k);
              const path = prefix ? prefix + PATH_SEPARATOR + normK : normK;
              if (!lists) lists = new Map();
              lists.set(path, { path, value: v, anc: { obj: v, key: k, up: anc } });
              continue;
            }
          } else if (isPlainObject(v)) {
            if (!this.#keepAsJson(tableSchema, hints, name, rLvl)) {
              if (inChain(anc, v)) this.#cycle(tableName, anc, k);
              fstack.push([v, rLvl - 1, prefix ? prefix + PATH_SEPARATOR + normK : normK, { obj: v, key: k, up: anc }]);
              continue;
            }
          }
          if (!(v instanceof Date) && !(v instanceof Uint8Array)) this.#assertAcyclic(v, tableName, { obj: v, key: k, up: anc });
        }
        row[name] = v;
      }
    }
    if (f.extend) Object.assign(row, f.extend);
    if (f.isRoot) row[DLT_LOAD_ID] = this.loadId;

    if (f.isRoot && root.isMerge) this.#checkKeys(root, row, tableName, item);
    let rowId = row[DLT_ID];
    if (!rowId) {
      if (!f.isRoot) {
        rowId = nestedRowId(String(f.parentId), tableName, f.pos);
        row[DLT_PARENT_ID] = f.parentId;
        row[DLT_LIST_IDX] = f.pos;
      } else if (root.rowId === 'key_hash') {
        rowId = keyHash(root.primaryKey, row);
      } else if (root.rowId === 'row_hash') {
        const subset: Dict = {};
        for (const k in f.dict) if (!k.startsWith('_dlt')) subset[k] = f.dict[k];
        rowId = digest10(sortedJson(subset));
      } else rowId = uniqueId();
      row[DLT_ID] = rowId;
    }
    const coerced = this.#coerceRow(tableName, f.parent, row, f.isRoot ? root : null, hints);
    // discarded by the schema contract: its nested rows go with it
    if (coerced === null) return;
    this.#rows.push([tableName, coerced]);

    if (!lists) return;
    let extend = f.extend;
    if (f.isRoot && root.propagate) extend = { [DLT_ROOT_ID]: rowId };
    // push children so that they pop in order: lists in order, elements in order
    const entries = [...lists.values()];
    const childRLvl = f.rLvl - 1;
    for (let li = entries.length - 1; li >= 0; li--) {
      const { path, value: seq, anc } = entries[li];
      const fullPath = f.fullPath + PATH_SEPARATOR + path;
      const childTable = this.#tableName(fullPath);
      for (let idx = seq.length - 1; idx >= 0; idx--) {
        const v = seq[idx];
        if (isPlainObject(v)) {
          if (inChain(anc, v)) this.#cycle(childTable, anc, `[${idx}]`);
          stack.push({
            kind: 0,
            dict: v,
            fullPath,
            table: childTable,
            parent: tableName,
            parentId: rowId,
            pos: idx,
            rLvl: childRLvl,
            isRoot: false,
            extend,
            anc: { obj: v, key: `[${idx}]`, up: anc },
          });
        } else if (Array.isArray(v)) {
          stack.push({
            kind: 0,
            dict: { [LIST_KEY]: v },
            fullPath,
            table: childTable,
            parent: tableName,
            parentId: rowId,
            pos: idx,
            rLvl: childRLvl - 1,
            isRoot: false,
            extend,
            anc: { obj: seq, key: `[${idx}]`, up: anc },
          });
        } else {
          stack.push({ kind: 1, value: v, table: childTable, parent: tableName, parentId: rowId, pos: idx, extend, anc });
        }
      }
    }
  }

  #scalarRow(f: ScalarFrame): void {
    const v = f.value;
    if (typeof v === 'object' && v !== null && !(v instanceof Date) && !(v instanceof Uint8Array)) {
      this.#assertAcyclic(v, f.table, { obj: v, key: `[${f.pos}]`, up: f.anc });
    }
    const row: Dict = { [VALUE_KEY]: v };
    if (f.extend) Object.assign(row, f.extend);
    row[DLT_PARENT_ID] = f.parentId;
    row[DLT_LIST_IDX] = f.pos;
    row[DLT_ID] = nestedRowId(String(f.parentId), f.table, f.pos);
    const coerced = this.#coerceRow(f.table, f.parent, row, null, undefined);
    if (coerced !== null) this.#rows.push([f.table, coerced]);
  }

  // --- keys --------------------------------------------------------------------------------------

  #checkKeys(root: RootInfo, row: Dict, table: string, item: unknown): void {
    for (const k of root.keyColumns) {
      const v = row[k];
      if (v === null || v === undefined) {
        throw new CannotCoerceNullError(`Key column "${k}" is ${v === null ? 'null' : 'missing'} in a row of a merge table`, {
          pipeline: this.pipeline,
          resource: this.resource,
          table,
          column: k,
          item,
        });
      }
    }
  }

  #isDeleteFlagged(root: RootInfo, row: Dict): boolean {
    for (const c of root.hardDeleteColumns) {
      const v = row[c];
      if (v === null || v === undefined) continue;
      const t = own(root.table.columns, c)?.dataType ?? own(root.hints, c)?.dataType;
      if (t === 'bool' || (t === undefined && typeof v === 'boolean')) {
        if (v === true || (typeof v === 'string' && ['yes', 'true', 't', 'y', '1'].includes(v.toLowerCase()))) return true;
      } else return true;
    }
    return false;
  }

  // --- coercion (dlt `_coerce_row`) --------------------------------------------------------------

  /**
   * dlt's `_coerce_row`: every value checked against its column, new columns and variant columns
   * made, as the schema contract allows (null: the contract discards the row). Kept whole for the
   * same reason as `row`: it runs per value of every row.
   */
  #coerceRow(tableName: string, parent: string | undefined, row: Dict, root: RootInfo | null, hints: Record<string, ColumnHint> | undefined): Dict | null {
    let table = own(this.schema.tables, tableName);
    if (!table) {
      table = { name: tableName, columns: {} };
      if (parent !== undefined) table.parent = parent;
      this.schema.tables[tableName] = table;
    }
    const columns = table.columns;
    let flagged: boolean | undefined;
    let renamed: [string, string][] | null = null;
    for (const col in row) {
      const v = row[col];
      let existing = own(columns, col);
      let incomplete: ColumnSchema | undefined;
      if (existing !== undefined && !existing.dataType) {
        // a column without a data type (hints only) is completed by the first value, like dlt
        incomplete = existing;
        existing = undefined;
      }
      if (v === null || v === undefined) {
        if (v === undefined) row[col] = null;
        if (existing && existing.nullable === false) {
          if (root && flagged === undefined) flagged = this.#isDeleteFlagged(root, row);
          if (flagged && !existing.primaryKey && !existing.mergeKey) continue;
          throw new CannotCoerceNullError(`Null value in not-null column "${col}"`, {
            pipeline: this.pipeline,
            resource: this.resource,
            table: tableName,
            column: col,
          });
        }
        continue;
      }
      let vt: DataType | null;
      try {
        vt = valueType(v);
      } catch (e) {
        if (e instanceof NormalizeError) {
          throw new NormalizeError(e.message.split('\n')[0], { pipeline: this.pipeline, resource: this.resource, table: tableName, column: col, value: e.value });
        }
        throw e;
      }
      if (existing) {
        if (vt === existing.dataType) {
          if (vt === 'timestamp' || vt === 'binary') row[col] = (coerceValue(v, vt, vt) as { value: unknown }).value;
          continue;
        }
        const r = coerceValue(v, existing.dataType, vt);
        if (r.ok) {
          row[col] = r.value;
          continue;
        }
      } else {
        if (this.#contract && !col.startsWith('_dlt')) {
          const verdict = this.#admitColumn(tableName, col, 'columns');
          if (verdict === 'discard_row') return null;
          if (verdict === 'discard_value') {
            delete row[col];
            continue;
          }
        }
        const hint: ColumnHint | undefined = incomplete ? { ...own(hints, col), ...incomplete } : own(hints, col);
        const type = hint?.dataType ?? inferType(v)!;
        const r = coerceValue(v, type, vt);
        if (r.ok) {
          columns[col] = this.#newColumn(col, type, hint, root);
          markColumnsChanged(this.schema);
          row[col] = r.value;
          continue;
        }
      }
      // variant column `<col>__v_<type>`
      const vname = shortenFragments([col, `v_${vt}`], MAX_LENGTH);
      const vcol = own(columns, vname);
      let vv: unknown;
      if (vcol) {
        const r = coerceValue(v, vcol.dataType, vt);
        if (!r.ok) {
          throw new NormalizeError(`Cannot coerce a ${vt} value into variant column "${vname}" of type ${vcol.dataType}`, {
            pipeline: this.pipeline,
            resource: this.resource,
            table: tableName,
            column: vname,
            value: v,
          });
        }
        vv = r.value;
      } else {
        if (this.#contract) {
          const verdict = this.#admitColumn(tableName, col, 'data_type', vname);
          if (verdict === 'discard_row') return null;
          if (verdict === 'discard_value') {
            delete row[col];
            continue;
          }
        }
        const type = inferType(v)!;
        const r = coerceValue(v, type, vt);
        if (!r.ok) {
          throw new NormalizeError(`Cannot coerce value into variant column "${vname}"`, { table: tableName, column: vname, value: v });
        }
        columns[vname] = { name: vname, dataType: type, nullable: true, variant: true };
        markColumnsChanged(this.schema);
        vv = r.value;
      }
      (renamed ??= []).push([col, vname]);
      row[col] = vv;
    }
    if (!renamed) return row;
    // keep dlt's key order: the variant column takes the place of the original key
    const map = new Map(renamed);
    const out: Dict = {};
    for (const k in row) out[map.get(k) ?? k] = row[k];
    return out;
  }

  // --- schema contract (dlt `apply_schema_contract`) ----------------------------------------------

  /** Whether rows may go to `table`: it exists, or the contract lets tables evolve. Decided once per table that is allowed. */
  #admitTable(table: string): boolean {
    if (this.#newTables.has(table) || this.#oldTables.has(table)) return true;
    if (!isNewTable(own(this.schema.tables, table))) {
      this.#oldTables.add(table);
      return true;
    }
    const mode = this.#contract!.tables;
    if (mode === 'evolve') {
      this.#newTables.add(table);
      return true;
    }
    if (mode === 'freeze') {
      throw new DataContractViolation(`Cannot add table "${table}": the schema contract freezes tables`, { entity: 'tables', pipeline: this.pipeline, resource: this.resource, table });
    }
    countDiscarded(this.#discarded, table, 'rows');
    return false;
  }

  /**
   * What the contract says to a new column (`columns`) or a new variant column `variant` (`data_type`)
   * of `table`: 'ok', or which of the row or the value goes. Freeze throws.
   */
  #admitColumn(table: string, column: string, entity: SchemaContractEntity, variant?: string): 'ok' | 'discard_row' | 'discard_value' {
    const mode = entity === 'columns' && this.#newTables.has(table) ? 'evolve' : this.#contract![entity];
    if (mode === 'evolve') return 'ok';
    if (mode === 'freeze') {
      const what = variant ? `variant column "${variant}" (a value whose type does not fit column "${column}")` : `column "${column}"`;
      throw new DataContractViolation(`Cannot add ${what} to table "${table}": the schema contract freezes ${entity}`, {
        entity, pipeline: this.pipeline, resource: this.resource, table, column,
      });
    }
    if (mode === 'discard_row') {
      countDiscarded(this.#discarded, table, 'rows');
      return 'discard_row';
    }
    countDiscarded(this.#discarded, table, 'values');
    return 'discard_value';
  }

  #newColumn(name: string, dataType: DataType, hint: ColumnHint | undefined, root: RootInfo | null): ColumnSchema {
    const col: ColumnSchema = { name, dataType, nullable: true };
    const sys = own(SYSTEM_COLUMN_HINTS, name);
    if (sys) Object.assign(col, sys);
    if (hint) {
      for (const k in hint) {
        const hv = (hint as Record<string, unknown>)[k];
        if (hv !== undefined && k !== 'dataType' && k !== 'name') (col as unknown as Record<string, unknown>)[k] = hv;
      }
      if ((hint.primaryKey || hint.mergeKey) && hint.nullable === undefined) col.nullable = false;
    }
    if (root && name === DLT_ID && root.rowId === 'row_hash') {
      // scd2: `_dlt_id` is the row version column, not unique (MG-19)
      delete col.unique;
      delete col.rowKey;
      col.x_row_version = true;
    }
    return col;
  }

  // --- hostile input -----------------------------------------------------------------------------

  #cycle(table: string, anc: Anc | null, key: string): never {
    throw new NormalizeError(`Cyclic reference at "${pathOf(anc)}.${key}"`, { pipeline: this.pipeline, resource: this.resource, table });
  }

  /**
   * A value stored as json must be serializable: no cycles and at most MAX_JSON_DEPTH levels (the
   * COPY encoder's `JSON.stringify` overflows the stack at a few thousand; dlt's orjson refuses
   * more than 254). Iterative, so any depth is checked safely.
   */
  #assertAcyclic(v: object, table: string, anc: Anc | null): void {
    const onPath = new Set<object>();
    for (let a = anc?.up ?? null; a; a = a.up) onPath.add(a.obj);
    const stack: [object, number][] = [[v, 1]];
    while (stack.length) {
      const [o, depth] = stack.pop()!;
      if (depth < 0) {
        onPath.delete(o);
        continue;
      }
      if (onPath.has(o)) this.#cycle(table, anc, '…');
      if (depth > MAX_JSON_DEPTH) {
        throw new NormalizeError(`A json value is nested deeper than ${MAX_JSON_DEPTH} levels at "${pathOf(anc)}"`, {
          pipeline: this.pipeline,
          resource: this.resource,
          table,
        });
      }
      onPath.add(o);
      stack.push([o, -1]);
      const vals = Array.isArray(o) ? o : o instanceof Date || o instanceof Uint8Array ? [] : Object.values(o);
      for (const x of vals) if (typeof x === 'object' && x !== null) stack.push([x, depth + 1]);
    }
  }
}
