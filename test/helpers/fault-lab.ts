/**
 * The fault suite's own world (test/reliability/faults.test.ts): per lane, a Postgres with fsync,
 * synchronous commit and full-page writes on that it can stop (`pg_ctl stop -m immediate`) and start
 * again, and a TCP proxy the workers reach it through (drop / stall); one Temporal dev server with a
 * database file that it can SIGKILL and restart on the same port; worker processes it can SIGKILL. Plus where a
 * run stands in Postgres at a given moment (`boundaryNow`), read from `pg_stat_activity`.
 */
import { join } from 'node:path';
import pg from 'pg';
import { startEphemeralPostgres, type EphemeralPostgres } from '../../destinations/postgres/embedded.ts';
import { startDevServer, type DevServer } from '../../client/dev-server.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { killWorker, spawnWorker, stopWorker, type WorkerProcess } from './reliability-worker.ts';
import { sleep, waitFor } from './reliability-db.ts';
import { tempDir } from './pipelines.ts';

/** Where a run's work stands in Postgres. */
export type Boundary = 'activity' | 'copy' | 'tx-writes' | 'commit';

/** One Postgres with its proxy: the faults of a lane stop, cut or hold only its own server. */
export interface LabServer {
  pg: EphemeralPostgres;
  proxy: FaultProxy;
  /** Direct (not proxied) connections of the test; they reconnect after a Postgres restart. */
  admin: pg.Pool;
}

export interface Lab {
  /** one per lane; the workers reach server `i` at `FAULT_PG_URL_<i>` (server 0 also at `TIDE_POSTGRES_URL`) */
  servers: LabServer[];
  temporal: () => DevServer;
  address: string;
  workers: () => WorkerProcess[];
  restartTemporal(downMs: number): Promise<void>;
  killWorker(pid: number): Promise<boolean>;
  /** Waits until at least `n` workers are polling. */
  ensureWorkers(n: number): Promise<void>;
  close(): Promise<void>;
}

const ADMIN_APP = 'fault-admin';

/**
 * Every table the workers create in a dataset named `<prefix>…` (final and staging, not `_dlt_*` /
 * `_tide_*`) gets a statement trigger sleeping `sleepS` after each INSERT or COPY: a COPY into staging
 * and the load transaction's writes then last long enough for a fault to land inside them.
 */
function slowWritesSql(prefix: string, sleepS: number): string {
  return `
    CREATE FUNCTION public.fault_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${sleepS}); RETURN NULL; END $$;
    CREATE FUNCTION public.fault_slow_new_tables() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE object_type = 'table' AND schema_name LIKE '${prefix}%' LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = r.objid AND (relname LIKE '\\_dlt\\_%' OR relname LIKE '\\_tide\\_%')) THEN
          EXECUTE format('CREATE TRIGGER fault_slow AFTER INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.fault_slow()', r.object_identity);
        END IF;
      END LOOP;
    END $$;
    CREATE EVENT TRIGGER fault_slow_new_tables ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION public.fault_slow_new_tables();`;
}

async function startServer(prefix: string, slowWritesS: number): Promise<LabServer> {
  const server = await startEphemeralPostgres({ prefix: 'tide-fault-pg-', flags: ['-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'full_page_writes=on', '-c', 'max_connections=100'] });
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
  const adminUrl = new URL(server.url);
  adminUrl.searchParams.set('application_name', ADMIN_APP);
  const admin = new pg.Pool({ connectionString: adminUrl.toString(), max: 3 });
  admin.on('error', () => undefined); // an idle connection cut by a Postgres stop: the pool opens another
  await admin.query(slowWritesSql(prefix, slowWritesS));
  return { pg: server, proxy, admin };
}

export async function startLab(opts: { pipelinesModule: string; lanes: number; workers: number; env: Record<string, string>; prefix: string; slowWritesS: number }): Promise<Lab> {
  const dbFile = join(tempDir('tide-fault-temporal-'), 'temporal.db');
  const [firstTemporal, ...servers] = await Promise.all([
    startDevServer({ dbFile, logLevel: 'error' }),
    ...Array.from({ length: opts.lanes }, () => startServer(opts.prefix, opts.slowWritesS)),
  ]) as [DevServer, ...LabServer[]];
  let temporal = firstTemporal;
  const port = Number(temporal.address.split(':')[1]);
  const urls = Object.fromEntries(servers.map((s, i) => [`FAULT_PG_URL_${i}`, s.proxy.via(s.pg.url)]));
  const env = { ...opts.env, ...urls, TIDE_POSTGRES_URL: urls.FAULT_PG_URL_0, TEMPORAL_ADDRESS: temporal.address, REL_STICKY_TIMEOUT: '1s' };
  const all: WorkerProcess[] = [];
  const live = () => all.filter((w) => w.alive());
  const spawn = () => {
    const w = spawnWorker({ pipelinesModule: opts.pipelinesModule, taskQueue: opts.env.FAULT_TASK_QUEUE, env });
    all.push(w);
    return w;
  };
  for (let i = 0; i < opts.workers; i++) spawn();
  await Promise.all(all.map((w) => w.ready));
  const readyCount = async () => (await Promise.all(live().map((w) => Promise.race([w.ready.then(() => true, () => false), sleep(0).then(() => false)])))).filter(Boolean).length;
  return {
    servers,
    temporal: () => temporal,
    address: temporal.address,
    workers: live,
    restartTemporal: async (downMs) => {
      temporal.process!.kill('SIGKILL');
      await new Promise((r) => temporal.process!.once('exit', r));
      await sleep(downMs);
      temporal = await startDevServer({ dbFile, port, logLevel: 'error' });
    },
    killWorker: async (pid) => {
      const w = live().find((x) => x.pid === pid);
      if (!w) return false;
      await killWorker(w);
      spawn(); // a replacement starts in the background
      return true;
    },
    ensureWorkers: async (n) => {
      while (live().length < n) spawn();
      await waitFor(async () => (await readyCount()) >= n, 120_000, 50);
    },
    close: async () => {
      await Promise.all(all.map((w) => stopWorker(w)));
      await temporal.stop();
      for (const s of servers) {
        await s.admin.end().catch(() => undefined);
        await s.proxy.close();
        await s.pg.stop();
      }
    },
  };
}

/**
 * Where the workers' work in Postgres stands right now (the furthest of their backends): waiting in
 * COMMIT ('commit', held there by a synchronous standby that never answers), a COPY running
 * ('copy'), a transaction that has written ('tx-writes'); else 'activity'.
 */
export async function boundaryNow(admin: pg.Pool): Promise<{ boundary: Boundary; detail: string }> {
  const r = await admin.query<{ state: string; wrote: boolean; wait: string | null; q: string }>(
    `SELECT state, backend_xid IS NOT NULL AS wrote, wait_event AS wait, left(query, 60) AS q FROM pg_stat_activity
      WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> $1`,
    [ADMIN_APP],
  );
  const commit = r.rows.find((x) => x.wait === 'SyncRep');
  if (commit) return { boundary: 'commit', detail: commit.q };
  const copy = r.rows.find((x) => x.state === 'active' && /^\s*COPY/i.test(x.q));
  if (copy) return { boundary: 'copy', detail: copy.q };
  const tx = r.rows.find((x) => x.wrote && (x.state === 'active' || x.state === 'idle in transaction'));
  if (tx) return { boundary: 'tx-writes', detail: tx.q };
  return { boundary: 'activity', detail: '' };
}

/** Makes every COMMIT wait (a synchronous standby that never connects), or lets them through again. */
export async function holdCommits(admin: pg.Pool, hold: boolean, reload = true): Promise<void> {
  await admin.query(hold ? `ALTER SYSTEM SET synchronous_standby_names = 'fault_nobody'` : 'ALTER SYSTEM RESET synchronous_standby_names');
  if (reload) await admin.query('SELECT pg_reload_conf()');
}
