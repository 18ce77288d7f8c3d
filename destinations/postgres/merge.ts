/**
 * The merge write disposition: applies a root table and its nested tables from this load's staging
 * tables into the final tables, inside the load transaction.
 */
import type pg from 'pg';
import type { Schema, TableSchema } from '../../pipeline/schema.ts';
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
  finalExists: (table: string) => boolean;
  loadId: string;
}

/** Inserts every staged row of the family (merge without keys behaves as append, MG-6). */
export async function insertAll(ctx: MergeContext): Promise<void> {
  for (const t of ctx.family) {
    const st = ctx.staging(t.name);
    if (!st) continue;
    const cols = Object.keys(t.columns).map(ident).join(', ');
    await ctx.q(`INSERT INTO ${qualified(ctx.ds, t.name)} (${cols}) SELECT ${cols} FROM ${st}`);
  }
}

export async function applyMerge(ctx: MergeContext): Promise<void> {
  await insertAll(ctx);
}
