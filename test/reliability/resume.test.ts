/**
 * Resumable extraction (issue 13, item 5): a worker SIGKILLed at 80 % of a 1M-item extract that
 * checkpoints after every page. The next worker's attempt keeps the pages staged up to the last
 * checkpoint and goes on from there (retried by the server at the heartbeat timeout): exact rows and state, and the items the API served over both
 * attempts stay under 1.3× a clean run's (printed).
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { pipeline, postgres } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';
import { waitFor } from '../helpers/reliability-db.ts';
import { killWorker, pendingActivities, spawnWorker, stopWorker, type WorkerProcess } from '../helpers/reliability-worker.ts';
import { RESUME_PIPELINE } from './resume-pipelines.ts';

const ITEMS = Number(process.env.RELIABILITY_RESUME_ITEMS ?? 1_000_000);
const PAGE = 5000;
const PIPELINES_MODULE = fileURLToPath(new URL('./resume-pipelines.ts', import.meta.url));

/** Item `id`: its cursor grows with the id; every third has a nested list. */
function item(id: number) {
  return { id, updated_at: new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString(), title: `item ${id}`, ...(id % 3 === 0 ? { labels: [`l${id % 7}`, 'x'] } : {}) };
}

describe('reliability: resumable extraction', () => {
  let server: Server;
  let served = 0;
  const workers: WorkerProcess[] = [];
  const prefix = datasetName('rr');
  let env: Record<string, string>;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const page = Number(new URL(req.url!, 'http://x').searchParams.get('page'));
      const from = page * PAGE;
      const body = [];
      for (let id = from; id < Math.min(ITEMS, from + PAGE); id++) body.push(item(id));
      served += body.length;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    env = { TIDE_POSTGRES_URL: pgUrl(), TEMPORAL_ADDRESS: temporalAddress(), REL_PREFIX: prefix, REL_RESUME_URL: `http://127.0.0.1:${port}`, TIDE_HOME: tempDir('tide-rel-home-') };
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorker(w)));
    server?.close();
  });

  it('a worker SIGKILLed at 80% of the extract: the retry resumes from the last checkpoint', async () => {
    const tq = taskQueue('rel-resume');
    const spawn = () => {
      const w = spawnWorker({ pipelinesModule: PIPELINES_MODULE, taskQueue: tq, env });
      workers.push(w);
      return w;
    };
    const first = spawn();
    await first.ready;
    const connection = await Connection.connect({ address: temporalAddress() });
    const client = new Client({ connection });
    try {
      const handle = await client.workflow.start('pipelineRun', { taskQueue: tq, workflowId: `rel-resume-${prefix}`, args: [{ pipeline: RESUME_PIPELINE, kind: 'manual' }] });
      await waitFor(async () => served >= ITEMS * 0.8 || undefined, 240_000, 20);
      const killedAt = served;
      await killWorker(first);
      // the kill landed inside the extract activity, on that worker
      const [pending] = await pendingActivities(handle);
      expect(pending).toMatchObject({ type: 'extract', state: 2, workerPid: first.pid });
      // the retry comes from the server, at the attempt's heartbeat timeout (5 s), on the new worker
      await spawn().ready;
      const result = (await handle.result()) as { tables: Record<string, { rows: number }>; attempts: { components?: Record<string, number> } };
      const ratio = served / ITEMS;
      process.stdout.write(`[resume] ${ITEMS} items; worker killed after ${killedAt} served (${((100 * killedAt) / ITEMS).toFixed(1)}%); items served over both attempts: ${served} = ${ratio.toFixed(3)}× a clean run\n`);
      expect(result.attempts.components).toEqual({ items: 2 });
      expect(result.tables.items).toEqual({ rows: ITEMS });
      expect(ratio).toBeLessThan(1.3);
      expect(ratio).toBeGreaterThan(1); // the page in flight at the kill was served again
    } finally {
      await connection.close();
    }
    const ds = `${prefix}_resume`;
    const p = pipeline({ pipelineName: RESUME_PIPELINE, destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
    try {
      expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, min(id)::int AS lo, max(id)::int AS hi FROM "${ds}"."items"`)).toEqual([
        { n: ITEMS, d: ITEMS, lo: 0, hi: ITEMS - 1 },
      ]);
      const labelled = Math.floor((ITEMS - 1) / 3) + 1;
      expect(await p.query(`SELECT count(*)::int AS n, count(DISTINCT _dlt_parent_id)::int AS parents FROM "${ds}"."items__labels"`)).toEqual([{ n: 2 * labelled, parents: labelled }]);
      expect(await p.query(`SELECT count(*)::int AS n FROM "${ds}"."_dlt_loads"`)).toEqual([{ n: 1 }]);
      const state = (await p.syncFromDestination('api')).sources as any;
      expect(state.api.resources.items.incremental.updated_at.last_value).toBe(item(ITEMS - 1).updated_at);
      expect(await p.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${ds}_staging' AND table_name NOT IN ('_tide_packages', '_tide_run_log')`)).toEqual([{ n: 0 }]);
    } finally {
      await p.close();
    }
  });
});
