/**
 * The worker's metrics in Prometheus text (prom-client), served at `/metrics` by
 * `tide worker --metrics HOST:PORT`: rows and items per pipeline and table, run and step durations,
 * failures, retries and schedule lag. Activities report each step attempt (`createActivities`'
 * `observer`); workflows report runs and schedule lag through sinks (temporal/sinks.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { StepLog } from '../pipeline/run-log.ts';
import type { RunFinished, TideSinks } from '../temporal/sinks.ts';
import { TideError } from '../pipeline/errors.ts';

/** Seconds: from a quick API page to a long backfill interval. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];

export class TideMetrics {
  readonly registry = new Registry();
  readonly #rows = new Counter({ name: 'tide_rows_loaded_total', help: 'Rows committed, per pipeline and table', labelNames: ['pipeline', 'table'], registers: [this.registry] });
  readonly #items = new Counter({ name: 'tide_items_extracted_total', help: 'Items the resources yielded (after steps and incremental), per pipeline', labelNames: ['pipeline'], registers: [this.registry] });
  readonly #steps = new Histogram({ name: 'tide_step_duration_seconds', help: 'Duration of one attempt of a run step (run, extract, load)', labelNames: ['pipeline', 'step', 'outcome'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly #failures = new Counter({ name: 'tide_step_failures_total', help: 'Step attempts that failed, by error class', labelNames: ['pipeline', 'step', 'error'], registers: [this.registry] });
  readonly #retries = new Counter({ name: 'tide_step_retries_total', help: 'Step attempts after the first (Temporal retries)', labelNames: ['pipeline', 'step'], registers: [this.registry] });
  readonly #runs = new Histogram({ name: 'tide_run_duration_seconds', help: 'Duration of whole runs, by kind and how they ended', labelNames: ['pipeline', 'kind', 'status'], buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly #lag = new Histogram({ name: 'tide_schedule_lag_seconds', help: "A scheduled run's actual start minus its scheduled time", labelNames: ['pipeline'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers: [this.registry] });

  /** One attempt of a step ended (activities' observer). */
  step = (pipeline: string, s: StepLog): void => {
    this.#steps.observe({ pipeline, step: s.step, outcome: s.outcome ?? 'done' }, s.durationMs / 1000);
    if (s.attempt > 1) this.#retries.inc({ pipeline, step: s.step });
    if (s.outcome === 'failed') this.#failures.inc({ pipeline, step: s.step, error: s.errorType ?? 'Error' });
    if (s.items) this.#items.inc({ pipeline }, s.items);
    for (const [table, c] of Object.entries(s.loaded)) this.#rows.inc({ pipeline, table }, c.rows);
  };

  runFinished(r: RunFinished): void {
    this.#runs.observe({ pipeline: r.pipeline, kind: r.kind, status: r.status }, r.durationMs / 1000);
  }

  scheduleLag(pipeline: string, lagMs: number): void {
    this.#lag.observe({ pipeline }, Math.max(0, lagMs) / 1000);
  }

  /** The workflows' side, as the worker injects it (never called during replay). */
  sinks(): InjectedSinks<TideSinks> {
    return {
      tideMetrics: {
        runFinished: { fn: (_info, r) => this.runFinished(r), callDuringReplay: false },
        scheduleLag: { fn: (_info, pipeline, lagMs) => this.scheduleLag(pipeline, lagMs), callDuringReplay: false },
      },
    };
  }
}

/** `HOST:PORT` of `--metrics` (port 0: any free port). */
export function parseListen(spec: string, flag = '--metrics'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new TideError(`${flag} ${spec}: expected HOST:PORT, e.g. 127.0.0.1:9464`);
  return { host: m[1] ?? m[2], port };
}

/** Serves the registry at `/metrics` (Prometheus text); resolves once it listens, with the address it got. */
export async function serveMetrics(metrics: TideMetrics, listen: { host: string; port: number }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('tide worker: metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { server, url: `http://${host}:${a.port}/metrics` };
}
