/**
 * Reliability-test helpers: a fingerprint of a dataset (tables, row counts, loads, stored state) so a
 * failed run can be shown to have changed nothing, and small utilities shared by the reliability suite.
 */
import type { Pipeline } from 'tide';

export interface DatasetFingerprint {
  tables: Record<string, number>;
  loads: string[];
  stateRows: string[];
}

/** Every table of the dataset with its exact row count, the `_dlt_loads` ids and the raw state rows. */
export async function fingerprint(p: Pipeline, schema = p.datasetName): Promise<DatasetFingerprint> {
  const names = (
    await p.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema])
  ).map((r) => r.t);
  const tables: Record<string, number> = {};
  if (names.length) {
    const q = names.map((t, i) => `SELECT ${i} AS i, count(*)::int AS n FROM "${schema}"."${t.replace(/"/g, '""')}"`).join(' UNION ALL ');
    const n = new Map<number, number>();
    for (const r of await p.query<{ i: number; n: number }>(q)) n.set(r.i, r.n);
    names.forEach((t, i) => (tables[t] = n.get(i)!)); // in name order: comparable as JSON
  }
  const loads = names.includes('_dlt_loads')
    ? (await p.query<{ id: string }>(`SELECT load_id AS id FROM "${schema}"."_dlt_loads" ORDER BY load_id`)).map((r) => r.id)
    : [];
  const stateRows = names.includes('_dlt_pipeline_state')
    ? (await p.query<{ s: string }>(`SELECT version::text || ':' || _dlt_load_id || ':' || state AS s FROM "${schema}"."_dlt_pipeline_state" ORDER BY version`)).map((r) => r.s)
    : [];
  return { tables, loads, stateRows };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `f` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(f: () => Promise<T> | T, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: timed out after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
