/**
 * The tide worker: loads a pipelines module and the workflow bundle (built ahead of it, see
 * worker/bundle.ts), registers the activities and polls a task queue. Run as many as you like on as many machines: Temporal shares the work.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { createActivities } from '../activities/index.ts';
import type { PipelineDefinition } from '../pipeline/define.ts';
import type { Destination } from '../pipeline/destination.ts';
import { postgres } from '../destinations/postgres/destination.ts';
import { temporalAddress, temporalNamespace, temporalTls } from '../temporal/connection.ts';
import { DEFAULT_TASK_QUEUE, poolTaskQueue } from '../temporal/ids.ts';
import { WorkerGroup } from './group.ts';
import { searchAttributeRegistrations } from '../temporal/registration.ts';
import { workflowBundle } from './bundle.ts';
import { serveMetrics, TideMetrics } from './metrics.ts';

export { WORKFLOWS_PATH, workflowBundle } from './bundle.ts';

/** Registers tide's search attributes; already-registered ones are fine (idempotent). */
export async function registerSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, tls: temporalTls() });
  try {
    const wanted = searchAttributeRegistrations();
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.fromEntries(Object.entries(wanted).filter(([k]) => !(k in (existing.customAttributes ?? {}))));
    if (Object.keys(missing).length) {
      try {
        await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      } catch (e) {
        if (!/already exists/i.test(String((e as Error).message))) throw e;
      }
    }
  } finally {
    await connection.close();
  }
}

export interface WorkerOptions {
  pipelines: readonly PipelineDefinition[];
  address?: string;
  namespace?: string;
  taskQueue?: string;
  /** Shared by every activity; default `postgres()` (TIDE_POSTGRES_URL or the embedded server). */
  destination?: Destination;
  /** Concurrent activities (default 4). */
  maxConcurrentActivities?: number;
  /** How long a workflow task waits for this worker's sticky queue before going to any worker (SDK default 10 s). */
  stickyQueueScheduleToStartTimeout?: string;
  /**
   * Pools this worker serves, by name: extracts at once in this process (default: the
   * `maxConcurrentActivities`) and at most `ratePerSecond` started per second across all workers of
   * the pool. The pools of the worker's pipelines are served whether listed here or not.
   */
  pools?: Record<string, PoolOptions>;
  /** Serve Prometheus metrics at `http://HOST:PORT/metrics` (port 0: a free one; see worker/metrics.ts). */
  metrics?: { host: string; port: number };
  /** `HOST:PORT` for the Temporal SDK's own Prometheus exporter (one per process; the first worker's runtime decides). */
  temporalMetrics?: string;
}

export interface PoolOptions {
  concurrency?: number;
  ratePerSecond?: number;
}

/** The pools this worker serves: those its pipelines name, with the options given for them. */
function poolsOf(opts: WorkerOptions): [string, PoolOptions][] {
  const names = new Set([...opts.pipelines.flatMap((d) => (d.pool ? [d.pool] : [])), ...Object.keys(opts.pools ?? {})]);
  return [...names].sort().map((n) => [n, opts.pools?.[n] ?? {}]);
}

let runtimeInstalled = false;
/**
 * The SDK's runtime, once per process: its logger, and its own Prometheus exporter (task slots,
 * poll and schedule-to-start latencies, …) when `temporalMetrics` gives an address for it.
 */
function installRuntime(temporalMetrics?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const metrics = temporalMetrics ? { metrics: { prometheus: { bindAddress: temporalMetrics, countersTotalSuffix: true, useSecondsForDurations: true } } } : undefined;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TIDE_WORKER_LOG_LEVEL as 'WARN') ?? 'WARN'), ...(metrics ? { telemetryOptions: metrics } : {}) });
  } catch {
    /* already installed by the host process */
    if (temporalMetrics) process.stderr.write(`tide worker: the Temporal runtime was installed before: its metrics are not served at ${temporalMetrics}\n`);
  }
}

/** Creates a worker (not yet running). `worker.run()` polls until `worker.shutdown()`. */
export async function createWorker(opts: WorkerOptions): Promise<{ worker: WorkerGroup; close: () => Promise<void>; metricsUrl?: string }> {
  const address = opts.address ?? temporalAddress();
  const namespace = opts.namespace ?? temporalNamespace();
  installRuntime(opts.temporalMetrics);
  // built (when not cached) in a child process while this one registers and connects
  const bundle = workflowBundle();
  bundle.catch(() => undefined); // awaited below; a failure before that must not go unhandled
  await registerSearchAttributes(address, namespace);
  const destination = opts.destination ?? postgres();
  const connection = await NativeConnection.connect({ address, tls: temporalTls() });
  const taskQueue = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
  // always recorded (the workflows' sinks must exist), served only when asked
  const metrics = new TideMetrics();
  const activities = createActivities(opts.pipelines, { destination, observer: metrics.step });
  const main = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowBundle: await bundle,
    activities,
    sinks: metrics.sinks(),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 4,
    ...(opts.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: opts.stickyQueueScheduleToStartTimeout as '10s' } : {}),
  });
  const pools = await Promise.all(
    poolsOf(opts).map(([name, p]) =>
      // activities only: no workflows on a pool's queue
      Worker.create({
        connection,
        namespace,
        taskQueue: poolTaskQueue(taskQueue, name),
        activities,
        maxConcurrentActivityTaskExecutions: p.concurrency ?? opts.maxConcurrentActivities ?? 4,
        ...(p.ratePerSecond ? { maxTaskQueueActivitiesPerSecond: p.ratePerSecond } : {}),
      }),
    ),
  );
  // listening only once the workers exist: a scrape never sees a worker that failed to start
  const served = opts.metrics ? await serveMetrics(metrics, opts.metrics) : undefined;
  return {
    worker: new WorkerGroup(main, pools),
    ...(served ? { metricsUrl: served.url } : {}),
    close: async () => {
      await new Promise((r) => (served ? served.server.close(r) : r(undefined)));
      await connection.close();
      if (!opts.destination) await destination.close();
    },
  };
}
