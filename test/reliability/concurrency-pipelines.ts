/**
 * The pipeline of the two-process concurrency test (concurrency-processes.test.ts), loaded by each
 * worker process (test/reliability/worker-main.ts). Both resources read the test's HTTP server
 * (`REL_CONC_URL`): `GET /events?table=…&start=…[&end=…]`, the worker's pid in `x-worker-pid` so the
 * test knows which process ran which request. No `end`: a cursor run (the server decides what "now"
 * shows); with `end`: a backfill interval.
 */
import { definePipeline, incremental, resource, source } from 'tide';

export const CONC_PIPELINE = process.env.REL_CONC_NAME ?? 'conc_proc';
export const CONC_DATASET = process.env.REL_CONC_DATASET ?? 'conc_proc';
export const FROM = '2026-01-01T00:00:00.000Z';

interface Event {
  id: number;
  updated_at: string;
  payload: string;
}

function events(name: 'events' | 'events_log') {
  return resource(
    async function* (ctx) {
      const inc = ctx.incremental!;
      const q = new URLSearchParams({ table: name, start: String(inc.startValue) });
      if (inc.endValue != null) q.set('end', String(inc.endValue));
      const res = await fetch(`${process.env.REL_CONC_URL}/events?${q}`, { headers: { 'x-worker-pid': String(process.pid) } });
      if (!res.ok) throw new Error(`source server: HTTP ${res.status}`);
      const rows = (await res.json()) as Event[];
      for (let i = 0; i < rows.length; i += 12) yield rows.slice(i, i + 12);
    },
    {
      name,
      // the same events into a merge table and an append table
      writeDisposition: name === 'events' ? 'merge' : 'append',
      primaryKey: 'id',
      incremental: incremental('updated_at', { initialValue: FROM, allowExternalSchedulers: true }),
    },
  );
}

export default [definePipeline({ name: CONC_PIPELINE, datasetName: CONC_DATASET, source: () => source('events', [events('events'), events('events_log')]) })];
