/**
 * Interval replace: a run over a data interval takes the place of the earlier loads of its pipeline
 * over the same interval, or over intervals inside it (four weekly loads under a monthly re-run), in
 * its append tables: their rows (and nested rows) go in the same transaction the new rows commit
 * in, found through the ledger's load ids. Loads without an interval (cursor runs) are never
 * touched. An earlier interval that only partly overlaps fails the run before anything is written.
 */
import { IntervalOverlapError } from '../../pipeline/errors.ts';
import { formatInstant } from '../../pipeline/interval.ts';
import { LOADS_TABLE, nestedTablesOf, type Schema } from '../../pipeline/schema.ts';
import { qualified } from './sql.ts';
import type { Tx } from './transaction.ts';

export interface IsoRange {
  start: string;
  end: string;
}

interface EarlierLoad {
  loadId: string;
  start: string;
  end: string;
  inside: boolean;
}

/** Committed loads of `pipeline` whose interval meets `range`, and whether each lies inside it. */
async function earlierLoads(tx: Tx, pipeline: string, range: IsoRange): Promise<EarlierLoad[]> {
  // a ledger dlt made and tide never wrote to has no interval columns: no earlier interval loads
  if (!tx.final.get(LOADS_TABLE)?.columns.has('tide_interval_start')) return [];
  const r = await tx.q(
    `SELECT load_id, tide_interval_start AS s, tide_interval_end AS e, (tide_interval_start >= $2 AND tide_interval_end <= $3) AS inside
       FROM ${qualified(tx.ds, LOADS_TABLE)}
      WHERE tide_pipeline_name = $1 AND status = 0 AND tide_interval_start < $3 AND tide_interval_end > $2 ORDER BY load_id`,
    [pipeline, range.start, range.end],
  );
  return r.rows.map((x: { load_id: string; s: Date; e: Date; inside: boolean }) => ({ loadId: x.load_id, start: formatInstant(x.s), end: formatInstant(x.e), inside: x.inside }));
}

/** Before the first row: an earlier load whose interval partly overlaps `range` is an error naming both. */
export async function checkIntervalOverlap(tx: Tx, pipeline: string, range: IsoRange): Promise<void> {
  const partial = (await earlierLoads(tx, pipeline, range)).find((l) => !l.inside);
  if (!partial) return;
  throw new IntervalOverlapError(
    `The interval [${range.start}, ${range.end}) of this run partly overlaps [${partial.start}, ${partial.end}) of load ${partial.loadId}: re-run that interval, or intervals that tile it`,
    { pipeline, interval: range, overlaps: { loadId: partial.loadId, start: partial.start, end: partial.end } },
  );
}

/**
 * Deletes what the earlier loads over `range` (or inside it) wrote to `tables` and their nested
 * tables, children first. Returns the load ids replaced.
 */
export async function replaceIntervalRows(tx: Tx, pipeline: string, loadId: string, range: IsoRange, tables: string[], schema: Schema): Promise<string[]> {
  const old = (await earlierLoads(tx, pipeline, range)).filter((l) => l.inside && l.loadId !== loadId).map((l) => l.loadId);
  if (!old.length) return [];
  for (const root of tables) {
    if (!tx.final.has(root)) continue;
    const ofLoads = `SELECT _dlt_id FROM ${qualified(tx.ds, root)} WHERE _dlt_load_id = ANY($1::text[])`;
    const nested = nestedTablesOf(schema, root).filter((t) => tx.final.has(t.name));
    for (const t of nested.reverse()) await tx.q(`DELETE FROM ${qualified(tx.ds, t.name)} WHERE _dlt_parent_id IN (${parentIds(schema, t.parent!, root, ofLoads, tx.ds)})`, [old], t.name);
    await tx.q(`DELETE FROM ${qualified(tx.ds, root)} WHERE _dlt_load_id = ANY($1::text[])`, [old], root);
  }
  return old;
}

/** The `_dlt_id`s of the rows of `table` that descend from the root rows `ofLoads` selects. */
function parentIds(schema: Schema, table: string, root: string, ofLoads: string, ds: string): string {
  if (table === root) return ofLoads;
  const parent = schema.tables[table].parent!;
  return `SELECT _dlt_id FROM ${qualified(ds, table)} WHERE _dlt_parent_id IN (${parentIds(schema, parent, root, ofLoads, ds)})`;
}
