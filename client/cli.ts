/**
 * The `tide` command line.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { pipeline, type DestinationClient, type Pipeline, type RunInfo, type RunOptions } from '../index.ts';
import { runDecomposed } from '../pipeline/decompose.ts';
import type { PoolOptions } from '../worker/index.ts';
import type { PipelineDefinition, ScheduleEvery, ScheduleSpec } from '../pipeline/define.ts';
import { TideClient } from './temporal.ts';
import { withDataset } from './dataset.ts';
import { pollProgress } from './progress.ts';
import { backfillPlan, countStatuses, formatGrid, formatPlan, lastCompleteInterval, readIntervals, type Reprocess } from './intervals.ts';
import { ParamError, TideError } from '../pipeline/errors.ts';
import { parseParamArgs, resolveParams, type Params } from '../pipeline/params.ts';
import { REFRESH_MODES, type RefreshMode } from '../pipeline/options.ts';
import { toInterval, toIsoInterval, type IsoInterval } from '../pipeline/interval.ts';
import { tideHome } from '../common/home.ts';
import { formatRunLogLine } from '../pipeline/run-log.ts';
import { importPipelinesModule } from './pipelines-module.ts';
import { portOr } from '../common/net.ts';
import { DEFAULT_TASK_QUEUE, intervalWorkflowId, scheduleId } from '../temporal/ids.ts';

/** The pipelines module used when `--pipelines` is not given. */
const DEFAULT_PIPELINES_FILES = ['tide.pipelines.ts', 'tide.pipelines.js'];

/** A repeatable option's values. */
function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

async function loadPipelines(file?: string): Promise<PipelineDefinition[]> {
  const candidates = file ? [file] : DEFAULT_PIPELINES_FILES;
  const found = candidates.map((f) => resolve(f)).find((f) => existsSync(f));
  if (!found) {
    throw new TideError(
      file ? `Pipelines module not found: ${file}` : `No pipelines module: pass --pipelines FILE or create ${DEFAULT_PIPELINES_FILES[0]} (default export: [definePipeline(…)])`,
    );
  }
  const mod = await importPipelinesModule(found);
  const defs = (mod.default ?? mod.pipelines) as PipelineDefinition[] | undefined;
  if (!Array.isArray(defs)) throw new TideError(`${found} must default-export an array of definePipeline(…)`);
  return defs;
}

/** The command line named something that does not exist (a pipeline, an action) or left out a name it needs: exit code 2. */
class UsageError extends TideError {}

async function findPipeline(name: string, file?: string): Promise<PipelineDefinition> {
  const defs = await loadPipelines(file);
  const def = defs.find((d) => d.name === name);
  if (!def) throw new UsageError(`No pipeline "${name}" in the pipelines module (it has: ${defs.map((d) => d.name).join(', ') || 'none'})`);
  return def;
}

function pipelineOf(def: PipelineDefinition, log?: (m: string) => void): Pipeline {
  return pipeline({ pipelineName: def.name, datasetName: def.datasetName, destination: def.destination, log });
}

function printInfo(info: RunInfo): void {
  const out = process.stdout;
  if (!info.loadId) {
    out.write(`Pipeline ${info.pipelineName}: nothing new to load (dataset ${info.datasetName}).\n`);
    printSchemaReport(info);
    return;
  }
  const secs = (info.finishedAt.getTime() - info.startedAt.getTime()) / 1000;
  out.write(`Pipeline ${info.pipelineName} load ${info.loadId} committed to dataset ${info.datasetName} in ${secs.toFixed(2)} s\n`);
  const names = Object.keys(info.tables).sort();
  const w = Math.max(5, ...names.map((n) => n.length));
  out.write(`  ${'table'.padEnd(w)}  rows\n`);
  for (const t of names) out.write(`  ${t.padEnd(w)}  ${info.tables[t].rows}\n`);
  printSchemaReport(info);
}

/** What the run added to the schema and what its schema contract dropped, one line each (nothing when neither). */
function printSchemaReport(info: RunInfo): void {
  const out = process.stdout;
  const c = info.schemaChanges;
  const cols = (xs: { table: string; column: string; dataType: string }[]) => xs.map((x) => `${x.table}.${x.column} (${x.dataType})`).join(', ');
  if (c.tables.length) out.write(`  new tables: ${c.tables.join(', ')}\n`);
  if (c.columns.length) out.write(`  new columns: ${cols(c.columns)}\n`);
  if (c.variants.length) out.write(`  new variant columns: ${cols(c.variants)}\n`);
  for (const [t, d] of Object.entries(info.discarded)) out.write(`  discarded by the schema contract in ${t}: ${d.rows} rows, ${d.values} values\n`);
}

/** `--param k=v …` checked against the definition's params: a bad one is a usage error (exit 2), nothing starts. */
function paramsOf(def: PipelineDefinition, args: string[] | undefined): Params {
  return resolveParams(def.params, parseParamArgs(args), def.name);
}

async function runCommand(name: string, o: { pipelines?: string; from?: string; to?: string; show?: boolean; param?: string[] }): Promise<void> {
  const def = await findPipeline(name, o.pipelines);
  if ((o.from && !o.to) || (!o.from && o.to)) throw new TideError('Give both --from and --to, or neither');
  const params = paramsOf(def, o.param);
  // log lines such as "Bind incremental on <resource> …" go to stderr, like dlt's INFO log
  const p = pipelineOf(def, (m) => process.stderr.write(`${m}\n`));
  try {
    const t0 = Date.now();
    const tty = process.stderr.isTTY;
    const opts: RunOptions = {
      ...def.runOptions,
      interval: o.from && o.to ? { start: o.from, end: o.to } : undefined,
      params,
      onProgress: (pr) => {
        const rate = pr.items / Math.max(0.001, pr.elapsedMs / 1000);
        const rows = Object.entries(pr.rows).map(([t, n]) => `${t}=${n.rows}`).join(' ');
        const line = `  ${pr.items} items (${Math.round(rate)}/s) ${rows}`;
        process.stderr.write(tty ? `\r${line.slice(0, 160)}` : `${line}\n`);
      },
    };
    const decompose = def.decompose ?? 'none';
    const info =
      decompose === 'none'
        ? await p.run(await def.source({ params }), opts)
        : await runDecomposed(() => p.fork(), () => def.source({ params }), { decompose, maxParallel: def.maxParallel, triggerRule: def.triggerRule }, opts);
    if (tty && Date.now() - t0 > 1000) process.stderr.write('\n');
    printInfo(info);
    if (o.show !== false && info.loadId) await withDataset(def, p.datasetName, (c) => printSamples(c, info));
  } finally {
    await p.close();
  }
}

/** The first rows of each table a run loaded. */
async function printSamples(c: DestinationClient, info: RunInfo): Promise<void> {
  for (const t of Object.keys(info.tables).sort()) {
    const rows = await c.preview(t, 3);
    if (!rows.length) continue;
    process.stdout.write(`\n${t} (first ${rows.length} of ${info.tables[t].rows} loaded rows):\n`);
    for (const r of rows) process.stdout.write(`  ${JSON.stringify(r)}\n`);
  }
}

const PIPELINE_ACTIONS = ['info', 'state', 'drop'];

async function pipelineCommand(name: string, action: string, o: { pipelines?: string; verbose?: boolean }): Promise<void> {
  if (!PIPELINE_ACTIONS.includes(action)) throw new UsageError(`Unknown action "${action}": use info, state or drop`);
  const def = await findPipeline(name, o.pipelines);
  const p = pipelineOf(def);
  try {
    const state = await p.syncFromDestination();
    if (action === 'state') {
      process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      return;
    }
    if (action === 'drop') {
      await p.drop();
      process.stdout.write(`Dropped dataset ${p.datasetName} (tables, loads, state, staging) and the local working folder of pipeline ${name}.\n`);
      return;
    }
    process.stdout.write(`Attaching to pipeline ${name}\n`);
    process.stdout.write(`dataset: ${p.datasetName}\nstate version: ${state._state_version}\n`);
    await withDataset(def, p.datasetName, (c) => printDataset(c, name));
    if (o.verbose) process.stdout.write(`\nsources:\n${JSON.stringify(state.sources ?? {}, null, 2)}\n`);
  } finally {
    await p.close();
  }
}

/** The last loads of a pipeline and the tables of its dataset with their row counts. */
async function printDataset(c: DestinationClient, pipelineName: string): Promise<void> {
  const out = process.stdout;
  out.write(`last loads:\n`);
  for (const l of await c.loads(pipelineName, 5)) out.write(`  ${l.loadId}  ${l.insertedAt.toISOString()}  ${l.rows ?? ''} rows\n`);
  out.write(`tables:\n`);
  for (const t of await c.tableCounts()) out.write(`  ${t.table}: ${t.rows} rows\n`);
}

function temporalOpts(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS or localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default: TEMPORAL_NAMESPACE or default)')
    .option('--task-queue <name>', 'task queue of the tide workers', DEFAULT_TASK_QUEUE);
}

async function withClient<T>(o: { address?: string; namespace?: string; taskQueue?: string }, fn: (c: TideClient) => Promise<T>): Promise<T> {
  const c = await TideClient.connect({ address: o.address, namespace: o.namespace, taskQueue: o.taskQueue });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => resolve(sig);
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
}

/** `--pool NAME=N[,rate=R/s]` → [name, { concurrency, ratePerSecond }]. */
export function parsePool(spec: string): [string, PoolOptions] {
  const m = /^([A-Za-z0-9_.-]{1,64})=(\d+)(?:,rate=(\d+(?:\.\d+)?)\/s)?$/.exec(spec);
  if (!m || Number(m[2]) < 1) throw new UsageError(`--pool ${spec}: expected NAME=N or NAME=N,rate=R/s (N ≥ 1), e.g. github-api=2,rate=5/s`);
  return [m[1], { concurrency: Number(m[2]), ...(m[3] ? { ratePerSecond: Number(m[3]) } : {}) }];
}

async function workerCommand(o: { pipelines?: string; address?: string; namespace?: string; taskQueue?: string; pool?: string[]; metrics?: string; temporalMetrics?: string }): Promise<void> {
  const defs = await loadPipelines(o.pipelines);
  const pools = Object.fromEntries((o.pool ?? []).map(parsePool));
  const { parseListen } = await import('../worker/metrics.ts');
  let metrics: { host: string; port: number } | undefined;
  try {
    metrics = o.metrics ? parseListen(o.metrics) : undefined;
    if (o.temporalMetrics) parseListen(o.temporalMetrics, '--temporal-metrics');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { createWorker } = await import('../worker/index.ts');
  const { worker, close, metricsUrl } = await createWorker({ pipelines: defs, address: o.address, namespace: o.namespace, taskQueue: o.taskQueue, pools, metrics, temporalMetrics: o.temporalMetrics });
  if (metricsUrl) process.stderr.write(`tide worker: metrics at ${metricsUrl}\n`);
  if (o.temporalMetrics) process.stderr.write(`tide worker: Temporal SDK metrics at http://${o.temporalMetrics}/metrics\n`);
  // the pool workers createWorker made, as they poll (queue and concurrency)
  const served = worker.pools.length ? `; pools ${worker.pools.map((w) => `${w.options.taskQueue} (${w.options.maxConcurrentActivityTaskExecutions} at once)`).join(', ')}` : '';
  process.stderr.write(`tide worker: ${defs.length} pipeline(s) [${defs.map((d) => d.name).join(', ')}] on task queue "${o.taskQueue ?? DEFAULT_TASK_QUEUE}"${served}; Ctrl-C stops\n`);
  const running = worker.run();
  await Promise.race([untilSignal().then(() => worker.getState() === 'RUNNING' && worker.shutdown()), running]);
  await running;
  await close();
}

async function initCommand(dir: string | undefined, o: { install: boolean; tide?: string }): Promise<void> {
  const { scaffold, npmInstall } = await import('./init.ts');
  const r = scaffold(dir ?? '.', o.tide);
  const out = process.stdout;
  out.write(`tide init: ${r.dir}\n`);
  for (const f of r.created) out.write(`  created ${f}\n`);
  for (const f of r.kept) out.write(`  kept    ${f} (exists)\n`);
  if (o.install) await npmInstall(r.dir);
  const cd = resolve(r.dir) === resolve('.') ? '' : `cd ${dir} && `;
  out.write(`\nnext: ${cd}${o.install ? '' : 'npm install && '}npx tide run example   (or npx tide dev: Temporal Web UI, worker, schedules)\n`);
}

async function devCommand(o: { pipelines?: string; port?: string; uiPort?: string }): Promise<void> {
  const defs = await loadPipelines(o.pipelines);
  const { ensureEmbeddedPostgres } = await import('../destinations/postgres/embedded.ts');
  const { startDevServer } = await import('./dev-server.ts');
  const { createWorker } = await import('../worker/index.ts');
  const { join } = await import('node:path');
  const { configuredPostgresUrl } = await import('../destinations/postgres/credentials.ts');
  const configured = configuredPostgresUrl();
  const pgHandle = configured ? undefined : await ensureEmbeddedPostgres();
  if (pgHandle) process.env.TIDE_POSTGRES_URL = pgHandle.url;
  const pgUrl = configured ?? pgHandle!.url;
  const port = o.port ? Number(o.port) : await portOr(7233);
  const uiPort = o.uiPort ? Number(o.uiPort) : await portOr(port + 1000);
  process.stderr.write(`tide dev: starting Temporal dev server (history in ${join(tideHome(), 'temporal.db')}) …\n`);
  const server = await startDevServer({ dbFile: join(tideHome(), 'temporal.db'), port, ui: true, uiPort, install: true });
  const { worker, close } = await createWorker({ pipelines: defs, address: server.address });
  const running = worker.run();
  const client = await TideClient.connect({ address: server.address, uiUrl: server.uiUrl });
  try {
    const applied = await client.applySchedules(defs);
    const out = process.stdout;
    out.write(`\ntide dev is running\n`);
    out.write(`  Temporal Web UI: ${server.uiUrl}\n`);
    out.write(`  Temporal:        ${server.address}   (TEMPORAL_ADDRESS=${server.address})\n`);
    out.write(`  Postgres:        ${redact(pgUrl)}\n`);
    for (const d of defs) {
      const a = applied.find((x) => x.pipeline === d.name);
      out.write(`\n  pipeline ${d.name}: ${a ? `schedule ${a.created ? 'created' : 'updated'} (${'every' in d.schedule! ? `every ${d.schedule!['every' as never]}` : 'cron'}${d.schedule!.timezone ? ` in ${d.schedule!.timezone}` : ''})` : 'no schedule'}\n`);
      if (a) out.write(`    schedule: ${client.scheduleUrl(d.name)}\n`);
      for (const [k, url] of Object.entries(client.pipelineFilters(d.name))) out.write(`    ${k.padEnd(9)} runs: ${url}\n`);
    }
    // a first run of each scheduled pipeline right away, over its last complete interval
    for (const d of defs) {
      const iv = d.schedule && lastCompleteInterval(d.schedule, Date.now());
      if (!iv) continue;
      out.write(`\n  first run of ${d.name} over its last complete interval [${iv.start} → ${iv.end}) …\n`);
      try {
        const r = await client.runNow(d.name, iv);
        out.write(`    ${r.loadId ? `load ${r.loadId}:` : 'nothing new'} ${Object.entries(r.tables).map(([t, n]) => `${t} ${n.rows} rows`).join(', ')}\n`);
        out.write(`    ${client.workflowUrl(intervalWorkflowId(d.name, iv))}\n`);
      } catch (e) {
        out.write(`    failed: ${(e as Error).message}\n`);
      }
    }
    out.write(`\n  Try: TEMPORAL_ADDRESS=${server.address} npx tide backfill ${defs[0]?.name ?? '<pipeline>'} --from 2026-01-05 --to 2026-03-02 --every week --parallel 4\n`);
    out.write(`  Ctrl-C stops everything (history and data are kept under .tide/).\n`);
    const sig = await Promise.race([untilSignal(), running.then(() => 'worker stopped')]);
    process.stderr.write(`\ntide dev: ${sig}, stopping …\n`);
  } finally {
    await client.close().catch(() => undefined);
    // the SDK also shuts the worker down on SIGINT/SIGTERM by itself
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await close();
    await server.stop();
    await pgHandle?.release();
    process.stderr.write('tide dev: stopped\n');
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@]+):[^@]*@/, '//$1:***@');
}

const SCHEDULE_ACTIONS = ['create', 'list', 'pause', 'unpause', 'trigger', 'delete'];

async function scheduleCommand(action: string, name: string | undefined, o: { pipelines?: string; every?: string; cron?: string; address?: string; namespace?: string; taskQueue?: string; catchupWindow?: string; paused?: boolean }): Promise<void> {
  // the action and the pipeline name are checked before anything is asked of the server
  if (!SCHEDULE_ACTIONS.includes(action)) throw new UsageError(`Unknown schedule action "${action}": use create, list, pause, unpause, trigger or delete`);
  const def = action === 'list' ? undefined : await findPipeline(requiredName(name, `tide schedule ${action}`), o.pipelines);
  await withClient(o, async (c) => {
    if (!def) {
      const list = await c.listSchedules();
      if (!list.length) process.stdout.write('no tide schedules\n');
      for (const s of list) {
        process.stdout.write(`${s.pipeline.padEnd(24)} ${s.paused ? 'paused ' : 'active '} ${s.spec.padEnd(12)} next ${s.next?.toISOString() ?? '-'}  ${c.scheduleUrl(s.pipeline)}\n`);
        if (s.note) process.stdout.write(`${''.padEnd(24)} ${s.note}\n`);
      }
      return;
    }
    const name = def.name;
    switch (action) {
      case 'create': {
        let spec: ScheduleSpec | undefined;
        if (o.cron) spec = { cron: o.cron };
        else if (o.every) spec = { every: o.every as ScheduleEvery };
        else spec = def.schedule;
        if (!spec) throw new TideError(`Pipeline "${name}" has no schedule: pass --every hour|day|week or --cron EXPR`);
        const r = await c.createSchedule(name, spec, { catchupWindow: o.catchupWindow, paused: o.paused, ...(def.sla ? { sla: def.sla } : {}) });
        process.stdout.write(`schedule ${r.scheduleId} ${r.created ? 'created' : 'updated'}: ${c.scheduleUrl(name)}\n`);
        return;
      }
      case 'pause':
        await c.pauseSchedule(name);
        break;
      case 'unpause':
        await c.unpauseSchedule(name);
        break;
      case 'trigger':
        await c.triggerSchedule(name);
        break;
      case 'delete':
        if (!(await c.deleteSchedule(name))) throw new TideError(`No schedule for pipeline "${name}"`);
        break;
    }
    process.stdout.write(`schedule ${scheduleId(name)}: ${action} done\n`);
  });
}

function requiredName(name: string | undefined, command: string): string {
  if (!name) throw new UsageError(`${command} needs a pipeline name`);
  return name;
}

async function backfillCommand(
  name: string,
  o: {
    pipelines?: string; from: string; to: string; every: string; parallel?: string; pause?: boolean; resume?: boolean; handover?: boolean;
    reprocess?: string; dryRun?: boolean; backwards?: boolean; address?: string; namespace?: string; taskQueue?: string;
  },
): Promise<void> {
  if (!['hour', 'day', 'week'].includes(o.every)) throw new TideError(`--every must be hour, day or week, got "${o.every}"`);
  const def = await findPipeline(name, o.pipelines);
  await withClient(o, async (c) => {
    const range = { pipeline: name, from: o.from, to: o.to, every: o.every as ScheduleEvery };
    if (o.pause || o.resume) {
      const running = c.backfillHandle(range);
      await c.pauseBackfill(running, !!o.pause);
      process.stdout.write(`backfill ${running.workflowId} ${o.pause ? 'paused: no new interval starts until --resume' : 'resumed'}\n`);
      return;
    }
    // planned from the destination's ledger (and Temporal for failed and running intervals): client/intervals.ts
    const reprocess = (o.reprocess ?? 'missing') as Reprocess;
    const every = range.every;
    // the same backfill running: attach to it (--parallel changes its parallelism); it keeps its own plan
    const attach = !o.dryRun && (await c.backfillRunning(range));
    const { statuses, plan, indexes } = attach ? { statuses: [], plan: [], indexes: undefined } : await backfillPlan(def, { from: o.from, to: o.to, every, reprocess, backwards: o.backwards, handover: o.handover }, c);
    if (o.dryRun) return void process.stdout.write(formatPlan(name, every, statuses, plan, reprocess, o.backwards ?? false));
    if (!attach && !plan.length) return void process.stdout.write(`backfill: nothing to run (reprocess ${reprocess}: ${statuses.length} intervals, none to run); started nothing\n`);
    const planName = `reprocess ${reprocess}${o.backwards ? ', newest first' : ''}`;
    // --parallel given: also the new parallelism of the same backfill when it already runs (attached)
    const h = await c.startBackfill({ ...range, parallel: o.parallel ? Number(o.parallel) : undefined, handover: o.handover, indexes, plan: planName });
    process.stderr.write(attach ? `backfill: attached to the running backfill of this range (it keeps its own plan)\n` : `backfill: ${plan.length} of ${statuses.length} intervals (${planName})\n`);
    process.stderr.write(`backfill ${h.workflowId}\n  ${c.workflowUrl(h.workflowId)}\n  runs: ${c.pipelineFilters(name).backfill}\n`);
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      { format: '  {bar} {value}/{total} intervals | running {running} | failed {failed} | rows {rows}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 },
      cliProgress.Presets.shades_classic,
    );
    // The bar starts at the first progress answer and updates at each one. A progress query can
    // answer after the result has come: the poller drops such an answer, so the bar, once stopped,
    // is never started again (a started bar's timer, every 5 s without a terminal, would keep the
    // process alive and reprint the bar after "backfill done").
    let started = false;
    const progress = pollProgress(
      () => c.backfillProgress(h),
      (p) => {
        if (!started) {
          bar.start(p.total, 0, { running: 0, failed: 0, rows: 0 });
          started = true;
        }
        bar.update(p.done + p.failed, { running: p.running, failed: p.failed, rows: p.rows });
      },
      1000,
    );
    let result: Awaited<ReturnType<typeof h.result>>;
    try {
      result = await h.result();
    } catch (e) {
      progress.stop();
      bar.stop();
      const details = (e as { cause?: { details?: unknown[] } }).cause?.details?.[0] as { failedIntervals?: { interval: { start: string; end: string }; error: string }[] } | undefined;
      process.stdout.write(`backfill finished with failures:\n`);
      for (const f of details?.failedIntervals ?? []) process.stdout.write(`  [${f.interval.start} → ${f.interval.end}) ${f.error}\n`);
      throw new TideError(`backfill ${h.workflowId} failed: ${(e as Error).message}`);
    }
    progress.stop();
    if (started) bar.update(result.done, { running: 0, failed: result.failed, rows: result.rows });
    bar.stop();
    process.stdout.write(`backfill done: ${result.done}/${result.total} intervals, ${result.rows} rows\n`);
  });
}

/**
 * `tide trigger`: a manual run on the workers. Pipeline name, interval and params are checked before
 * anything starts; without --from/--to the run gets the last complete interval of the pipeline's
 * `every` schedule (as a schedule trigger would), or none (cursor state) without one.
 */
async function triggerCommand(
  name: string,
  o: { pipelines?: string; from?: string; to?: string; resources?: string; param?: string[]; refresh?: RefreshMode; wait?: boolean; address?: string; namespace?: string; taskQueue?: string },
): Promise<void> {
  const def = await findPipeline(name, o.pipelines);
  if ((o.from && !o.to) || (!o.from && o.to)) throw new UsageError('Give both --from and --to, or neither');
  let interval: IsoInterval | undefined;
  if (o.from && o.to) {
    try {
      interval = toIsoInterval(toInterval({ start: o.from, end: o.to }, '--from/--to'));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } else if (def.schedule) {
    interval = lastCompleteInterval(def.schedule, Date.now());
  }
  const params = paramsOf(def, o.param);
  const resources = o.resources?.split(',').map((r) => r.trim()).filter(Boolean);
  await withClient(o, async (c) => {
    const h = await c.startRun(def.name, interval, {
      ...(def.params || Object.keys(params).length ? { params: { ...params } } : {}),
      ...(resources?.length ? { resources } : {}),
      ...(o.refresh ? { refresh: o.refresh } : {}),
    });
    const iv = interval ? `[${interval.start} → ${interval.end})` : '(cursor state)';
    process.stdout.write(`run ${h.workflowId} ${iv}${Object.keys(params).length ? ` params ${JSON.stringify(params)}` : ''}
  ${c.workflowUrl(h.workflowId, h.firstExecutionRunId)}
`);
    if (o.wait === false) return;
    const tty = process.stderr.isTTY;
    const progress = pollProgress(
      () => c.runProgress(h),
      (acts) => {
        const line = acts.map((a) => `  ${a.activity}: ${a.items ?? 0} items ${Object.entries(a.rows ?? {}).map(([t, n]) => `${t}=${n.rows}`).join(' ')}`).join('\n');
        process.stderr.write(tty ? `\r${line.slice(0, 160)}` : `${line}\n`);
      },
      1000,
    );
    let r: Awaited<ReturnType<typeof h.result>>;
    try {
      r = await h.result();
    } catch (e) {
      throw new TideError(`run ${h.workflowId} failed: ${innermost(e)}`);
    } finally {
      progress.stop();
      if (tty) process.stderr.write('\n');
    }
    if (!r.loadId) return void process.stdout.write(`Pipeline ${def.name}: nothing new to load.\n`);
    process.stdout.write(`Pipeline ${def.name} load ${r.loadId} committed: ${r.rows} rows${r.applied ? '' : ' (by an earlier attempt)'}\n`);
    for (const [t, n] of Object.entries(r.tables).sort()) process.stdout.write(`  ${t}  ${n.rows}\n`);
  });
}

/** The message of a workflow failure without its wrappers (the activity's own error). */
function innermost(e: unknown): string {
  let x = e as { cause?: unknown; message?: string } | undefined;
  while (x?.cause && typeof x.cause === 'object') x = x.cause as typeof x;
  return x?.message ?? String(e);
}

async function intervalsCommand(name: string, o: { from: string; to: string; every?: string; json?: boolean; pipelines?: string; address?: string; namespace?: string; taskQueue?: string }): Promise<void> {
  const def = await findPipeline(name, o.pipelines);
  const every = (o.every ?? (def.schedule && 'every' in def.schedule ? def.schedule.every : 'day')) as ScheduleEvery;
  if (!['hour', 'day', 'week'].includes(every)) throw new TideError(`--every must be hour, day or week, got "${every}"`);
  const client = await TideClient.connect({ address: o.address, namespace: o.namespace, taskQueue: o.taskQueue }).catch((e: Error) => {
    process.stderr.write(`tide: Temporal not reachable (${e.message}): statuses from the ledger only, failed and running intervals are not known\n`);
    return undefined;
  });
  try {
    const { statuses } = await readIntervals(def, { from: o.from, to: o.to, every }, client);
    const counts = countStatuses(statuses);
    if (o.json) process.stdout.write(`${JSON.stringify({ pipeline: name, from: statuses[0].start, to: statuses[statuses.length - 1].end, every, counts, intervals: statuses }, null, 2)}\n`);
    else process.stdout.write(formatGrid(name, every, statuses));
    if (counts.missing || counts.failed) process.exitCode = 1;
  } finally {
    await client?.close();
  }
}

async function runsCommand(name: string, o: { pipelines?: string; limit?: string; logs?: string; address?: string; namespace?: string; taskQueue?: string }): Promise<void> {
  const def = await findPipeline(name, o.pipelines);
  if (o.logs) return printRunLog(def, o.logs);
  const limit = o.limit ? Number(o.limit) : 20;
  const c = await TideClient.connect({ address: o.address, namespace: o.namespace, taskQueue: o.taskQueue }).catch((e: Error) => {
    process.stderr.write(`tide: Temporal not reachable (${e.message}): the committed loads from the ledger only\n`);
    return undefined;
  });
  if (!c) return printLedgerRuns(def, limit);
  try {
    const rows = await c.runs(name, limit);
    const iso = (d?: Date) => (d ? d.toISOString().replace('.000Z', 'Z') : '-');
    process.stdout.write(`${'interval'.padEnd(44)} ${'kind'.padEnd(10)} ${'status'.padEnd(11)} ${'rows'.padStart(8)} attempts  ${'run'.padEnd(36)}  link\n`);
    for (const r of rows) {
      const iv = r.intervalStart ? `${iso(r.intervalStart)} → ${iso(r.intervalEnd)}` : '(cursor state)';
      // a decomposed run whose other components loaded: failed, but partly
      const status = r.failed ? 'PARTIAL' : r.status;
      const failed = r.failed ? `  failed: ${r.failed.join(', ')}` : '';
      process.stdout.write(`${iv.padEnd(44)} ${(r.kind ?? '-').padEnd(10)} ${status.padEnd(11)} ${String(r.rows ?? '-').padStart(8)} ${String(r.attempts ?? '-').padStart(8)}  ${r.runId.padEnd(36)}  ${r.url}${failed}\n`);
    }
    process.stdout.write(`\nall runs of ${name}: ${c.pipelineFilters(name).all}\na run's log: tide runs ${name} --logs <run | workflow id | load id>\n`);
  } finally {
    await c.close();
  }
}

/** Without Temporal: the pipeline's newest committed loads, as the ledger has them (their load id takes --logs). */
async function printLedgerRuns(def: PipelineDefinition, limit: number): Promise<void> {
  const p = pipelineOf(def);
  try {
    await withDataset(def, p.datasetName, async (c) => {
      process.stdout.write(`${'interval'.padEnd(44)} ${'load'.padEnd(20)} ${'rows'.padStart(8)}  committed\n`);
      for (const l of await c.loads(def.name, limit)) {
        const iv = l.interval ? `${l.interval.start.toISOString()} → ${l.interval.end.toISOString()}` : '(cursor state)';
        process.stdout.write(`${iv.padEnd(44)} ${l.loadId.padEnd(20)} ${String(l.rows ?? '-').padStart(8)}  ${l.insertedAt.toISOString()}\n`);
      }
    });
  } finally {
    await p.close();
  }
}

/** `tide runs <pipeline> --logs RUN`: the lines the workers kept with the run in the destination (no Temporal needed). */
async function printRunLog(def: PipelineDefinition, run: string): Promise<void> {
  const p = pipelineOf(def);
  try {
    const lines = await p.runLog(run);
    if (!lines.length) throw new UsageError(`No log lines of a run "${run}" of pipeline ${def.name} in dataset ${p.datasetName} (give a run id, workflow id or load id from \`tide runs ${def.name}\`)`);
    let shown: string | undefined;
    for (const l of lines) {
      // a workflow id may name several runs: each starts with its header
      if (l.runId !== shown) process.stdout.write(`run ${l.runId} (workflow ${l.workflowId}${l.loadId ? `, load ${l.loadId}` : ''})\n`);
      shown = l.runId;
      process.stdout.write(`  ${formatRunLogLine(l)}\n`);
    }
  } finally {
    await p.close();
  }
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('tide').description('Incremental data loading for TypeScript, orchestrated by Temporal').showHelpAfterError();
  const pipelinesOpt = () => new Option('--pipelines <file>', `pipelines module (default: ${DEFAULT_PIPELINES_FILES.join(' or ')})`);

  program
    .command('run <pipeline>')
    .description('run one pipeline now, in-process (no Temporal needed)')
    .addOption(pipelinesOpt())
    .option('--from <T>', 'data interval start (ISO-8601) for resources with allowExternalSchedulers')
    .option('--to <T>', 'data interval end (exclusive)')
    .option('--no-show', 'do not print sample rows of the loaded tables')
    .option('--param <name=value>', "a run param (definePipeline's params; repeatable)", collect, [])
    .action(runCommand);

  temporalOpts(
    program
      .command('trigger <pipeline>')
      .description('start a manual run on the workers (params, resources, refresh), print its Web UI link and follow it')
      .addOption(pipelinesOpt())
      .option('--from <T>', "data interval start (ISO-8601); default: the last complete interval of the pipeline's schedule")
      .option('--to <T>', 'data interval end (exclusive)')
      .option('--resources <a,b>', 'only these resources of the source')
      .option('--param <name=value>', "a run param (definePipeline's params; repeatable)", collect, [])
      .addOption(new Option('--refresh <mode>', 'drop before loading (RunOptions.refresh)').choices(REFRESH_MODES as string[]))
      .option('--no-wait', 'print the link and exit; do not follow the run'),
  ).action(triggerCommand);

  program
    .command('pipeline <pipeline> <action>')
    .description('info [-v] | state | drop — like `dlt pipeline … info`')
    .addOption(pipelinesOpt())
    .option('-v, --verbose', 'print the sources → resources → incremental state')
    .action(pipelineCommand);

  program
    .command('init [dir]')
    .description('a new project in dir (default: here): package.json, tsconfig.json, tide.pipelines.ts with an example, .tide/config.toml and secrets.toml, .gitignore; then npm install')
    .option('--no-install', 'do not run npm install')
    .option('--tide <spec>', "package.json's dependency on tide: a version range (default: ^ this version), a tarball, a folder, a git URL")
    .action(initCommand);

  program
    .command('dev')
    .description('embedded Postgres + Temporal dev server + worker + schedules; prints the Web UI URL')
    .addOption(pipelinesOpt())
    .option('--port <n>', 'Temporal port (default 7233, or a free one)')
    .option('--ui-port <n>', 'Web UI port (default Temporal port + 1000)')
    .action(devCommand);

  temporalOpts(
    program
      .command('worker')
      .description('run a worker against TEMPORAL_ADDRESS / TIDE_POSTGRES_URL (or the configured destination credentials)')
      .addOption(pipelinesOpt())
      .option('--pool <NAME=N[,rate=R/s]>', "serve a pool's extracts N at a time (and at most R/s across workers); repeatable", (v: string, all: string[] = []) => [...all, v])
      .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (rows, items, durations, failures, retries, schedule lag)')
      .option('--temporal-metrics <host:port>', "serve the Temporal SDK's own metrics (task slots, poll latencies, …) at http://HOST:PORT/metrics"),
  ).action(workerCommand);

  temporalOpts(
    program
      .command('schedule <action> [pipeline]')
      .description('create | list | pause | unpause | trigger | delete a pipeline\'s schedule')
      .addOption(pipelinesOpt())
      .option('--every <hour|day|week>', 'interval of the schedule')
      .option('--cron <expr>', 'cron expression (not yet supported: use --every)')
      .option('--catchup-window <duration>', 'missed runs caught up after downtime (default 7 days)')
      .option('--paused', 'create the schedule paused'),
  ).action(scheduleCommand);

  temporalOpts(
    program
      .command('backfill <pipeline>')
      .description('load [from, to) interval by interval, in parallel, without touching the cursor')
      .addOption(pipelinesOpt())
      .requiredOption('--from <T>', 'start (ISO-8601, inclusive)')
      .requiredOption('--to <T>', 'end (ISO-8601, exclusive)')
      .option('--every <hour|day|week>', 'interval length', 'day')
      .option('--parallel <n>', 'intervals running at once (default 1); on a running backfill: its new parallelism')
      .option('--pause', 'pause the running backfill of these arguments (the running intervals finish) and exit')
      .option('--resume', 'resume it and exit')
      .option('--handover', "the interval ending at --to sets the stored cursor to --to: the first incremental run starts where the backfill stopped")
      .addOption(new Option('--reprocess <which>', 'intervals to run: missing (no committed load), failed, or all').choices(['missing', 'failed', 'all']).default('missing'))
      .option('--dry-run', 'print every interval with its status and what would run; start nothing')
      .option('--backwards', 'newest interval first'),
  ).action(backfillCommand);

  temporalOpts(
    program
      .command('intervals <pipeline>')
      .description('status of every interval of [from, to) (loaded / failed / running / missing); exit 1 if any is missing or failed')
      .addOption(pipelinesOpt())
      .requiredOption('--from <T>', 'start (ISO-8601, inclusive)')
      .requiredOption('--to <T>', 'end (ISO-8601, exclusive)')
      .option('--every <hour|day|week>', "interval length (default: the pipeline's schedule, else day)")
      .option('--json', 'every interval as JSON'),
  ).action(intervalsCommand);

  temporalOpts(
    program
      .command('runs <pipeline>')
      .description('recent runs: interval, status, rows, attempts, run id, link; --logs RUN prints the log lines kept with one run')
      .addOption(pipelinesOpt())
      .option('--limit <n>', 'how many', '20')
      .option('--logs <run>', "one run's log lines (binding, warnings, rows per table, errors, step timings), by run id, workflow id or load id"),
  ).action(runsCommand);

  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.stderr.write(`tide: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = e instanceof UsageError || e instanceof ParamError ? 2 : 1;
  }
}
