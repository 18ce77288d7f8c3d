/**
 * The stage step: each page of items a resource yields is routed to its table, normalized into rows
 * of that table and its nested tables, and handed to the load session (which COPYs them to the
 * destination while extraction goes on). Hints are applied to a table the first time it is seen.
 */
import { readTableCounts, type DiscardedCounts } from './counts.ts';
import type { LoadSession, TableLoadPlan } from './destination.ts';
import { ExtractError } from './errors.ts';
import type { ExtractNode } from './extract.ts';
import { applyHints } from './hints.ts';
import { Normalizer } from './normalize/normalizer.ts';
import { normalizePath } from './normalize/naming.ts';
import { plainCursorField } from './incremental/runtime.ts';
import type { RunProgress } from './options.ts';
import { isReplace, staticTableOf, type RunPlan } from './plan.ts';
import { resourceProps } from './resource.ts';
import type { Schema, TableSchema } from './schema.ts';
import { resolveSchemaContract } from './contract.ts';

export interface StageOptions {
  pipelineName: string;
  loadId: string;
  schema: Schema;
  plan: RunPlan;
  session: LoadSession;
  warn: (m: string) => void;
  onProgress?: (p: RunProgress) => void;
  startedAt: Date;
}

const PROGRESS_EVERY_MS = 1000;

export class Stage {
  readonly #o: StageOptions;
  /** one normalizer per resource, so a bad item is reported with its resource */
  readonly #normalizers = new Map<string, Normalizer>();
  /** resource + table pairs whose hints were applied in this run */
  readonly #hinted = new Set<string>();
  readonly #tablesOf = new Map<ExtractNode, Set<string>>();
  /** per node: its static table name, or null when a function of the item picks it */
  readonly #staticTable = new Map<ExtractNode, string | null>();
  #items = 0;
  #lastProgress = Date.now();
  /** Rows and values the schema contracts of this run's resources dropped, per table. */
  readonly discarded: DiscardedCounts = {};

  constructor(o: StageOptions) {
    this.#o = o;
  }

  /** The extractor's sink: one page of surviving items of `node`. */
  readonly sink = async (node: ExtractNode, page: unknown[]): Promise<void> => {
    const s = this.#o.session;
    const seen = this.#tables(node);
    const normalizer = this.#normalizer(node);
    let full = false;
    for (const item of page) {
      const table = this.#route(node, item);
      if (!seen.has(table)) {
        this.#hint(node, table);
        seen.add(table);
      }
      normalizer.normalize(item, table, (t, row) => {
        if (s.add(t, row, item, node.resource.name)) full = true;
      });
    }
    this.#items += page.length;
    if (full) await s.flush();
    this.#progress();
  };

  /**
   * Replace tables of loaded resources that yielded nothing this run: they are emptied by the load
   * (a replace with no rows is still a replace).
   */
  emptyReplaceTables(): string[] {
    const out: string[] = [];
    for (const n of this.#o.plan.all) {
      if (!n.load || !isReplace(n) || (this.#tablesOf.get(n)?.size ?? 0) > 0) continue;
      const table = staticTableOf(n);
      if (table !== undefined && this.#o.schema.tables[table]) {
        this.#hint(n, table);
        out.push(table);
      }
    }
    return out;
  }

  /** Items handed to the stage so far (with those of an earlier attempt this one resumed). */
  get items(): number {
    return this.#items;
  }

  /** resource → the tables it wrote rows to (a checkpoint's record of this stage). */
  tablesByResource(): Record<string, string[]> {
    return Object.fromEntries([...this.#tablesOf].map(([n, t]) => [n.resource.name, [...t]]));
  }

  /** Goes on from an earlier attempt's checkpoint: the tables its resources wrote, the items it staged. */
  resume(tables: Record<string, string[]>, items: number): void {
    for (const n of this.#o.plan.all) for (const t of tables[n.resource.name] ?? []) this.#tables(n).add(t);
    this.#items = items;
  }

  /** The tables this run wrote rows to, with their dispositions and row counts (after `session.drain()`). */
  tablePlans(): TableLoadPlan[] {
    const { schema, session } = this.#o;
    const out: TableLoadPlan[] = [];
    for (const names of this.#tablesOf.values()) {
      for (const t of names) out.push({ table: t, disposition: schema.tables[t].writeDisposition ?? 'append', rows: session.rowCounts[t]?.rows ?? 0 });
    }
    return out;
  }

  #tables(node: ExtractNode): Set<string> {
    let seen = this.#tablesOf.get(node);
    if (!seen) this.#tablesOf.set(node, (seen = new Set()));
    return seen;
  }

  #normalizer(node: ExtractNode): Normalizer {
    const resource = node.resource.name;
    let n = this.#normalizers.get(resource);
    if (!n) {
      const contract = resolveSchemaContract(resourceProps(node.resource).options.schemaContract, this.#o.plan.schemaContract);
      n = new Normalizer(this.#o.schema, { loadId: this.#o.loadId, pipeline: this.#o.pipelineName, resource, contract, discarded: this.discarded });
      this.#normalizers.set(resource, n);
    }
    return n;
  }

  /** The table an item goes to: the resource's table name, or what its tableName function returns. */
  #route(node: ExtractNode, item: unknown): string {
    let table = this.#staticTable.get(node);
    if (table === undefined) this.#staticTable.set(node, (table = staticTableOf(node) ?? null));
    if (table !== null) return table;
    const tn = resourceProps(node.resource).options.tableName as (item: unknown) => string;
    let raw: unknown;
    try {
      raw = tn(item);
    } catch (e) {
      throw new ExtractError(`tableName function of resource "${node.resource.name}" failed: ${(e as Error)?.message ?? e}`, { resource: node.resource.name, item, cause: e });
    }
    if (typeof raw !== 'string' || !raw) {
      throw new ExtractError(`tableName function of resource "${node.resource.name}" returned ${JSON.stringify(raw)}, not a table name`, { resource: node.resource.name, item });
    }
    return normalizePath(raw);
  }

  /** Applies the resource's hints to `table`, once per run (code wins over the stored schema). */
  #hint(node: ExtractNode, table: string): TableSchema {
    const key = `${node.resource.name}\u0000${table}`;
    const t = this.#o.schema.tables[table];
    if (t && this.#hinted.has(key)) return t;
    this.#hinted.add(key);
    const o = resourceProps(node.resource).options;
    const { plan } = this.#o;
    return applyHints(
      this.#o.schema,
      table,
      {
        resource: node.resource.name, writeDisposition: o.writeDisposition, primaryKey: o.primaryKey, mergeKey: o.mergeKey, columns: o.columns, maxTableNesting: o.maxTableNesting,
        cursorColumn: node.resource.incremental?.cursorPath && plainCursorField(node.resource.incremental.cursorPath),
      },
      { rootKey: plan.rootKey, maxTableNesting: plan.maxTableNesting },
      this.#o.warn,
    );
  }

  /** The final progress report: every item counted (a run shorter than the report interval has no other). */
  finished(): void {
    this.#progress(true);
  }

  #progress(final = false): void {
    const { onProgress, session, startedAt } = this.#o;
    if (!onProgress || (!final && Date.now() - this.#lastProgress <= PROGRESS_EVERY_MS)) return;
    this.#lastProgress = Date.now();
    onProgress({ items: this.#items, rows: readTableCounts(session.rowCounts), elapsedMs: Date.now() - startedAt.getTime() });
  }
}
