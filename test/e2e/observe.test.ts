/**
 * Seeing what a run did (issue 17, item 6), on the dev server: a run whose first attempt fails
 * (a flaky resource) and whose retry loads. Its log lines (binding, the error, rows per table, step
 * timings) are kept in the destination and printed by `tide runs <pipeline> --logs <run>` from
 * another process; the Web UI's current details show the loading attempt's lines; the worker's
 * `/metrics` endpoint counts rows per table, items, the failure, the retry and the run.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { definePipeline, pipeline, postgres, resource, type PipelineDefinition } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress, withWorker } from '../helpers/temporal.ts';
import { runTide } from '../helpers/cli.ts';
import { freePort } from '../../common/net.ts';

/** A pipelines module whose resource fails the first time it runs (a marker file in `home`), then yields 3 issues with 2 labels. */
function pipelinesModule(name: string, ds: string): { home: string; mod: string } {
  const home = tempDir('tide-observe-e2e-');
  const mod = join(home, 'pipelines.mts');
  const tide = pathToFileURL(resolve('index.ts')).href;
  const marker = join(home, 'failed-once');
  writeFileSync(
    mod,
    `import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { definePipeline, incremental, resource, source } from ${JSON.stringify(tide)};
export default [
  definePipeline({
    name: ${JSON.stringify(name)},
    datasetName: ${JSON.stringify(ds)},
    retries: { extract: { maximumAttempts: 3, initialInterval: '100ms' } },
    source: () => source('gh', [
      resource(function* issues() {
        if (!existsSync(${JSON.stringify(marker)})) {
          writeFileSync(${JSON.stringify(marker)}, '');
          throw new Error('upstream answered 503');
        }
        yield [{ id: 1, labels: [{ name: 'bug' }] }, { id: 2, labels: [] }, { id: 3, labels: [{ name: 'docs' }] }];
      }, { primaryKey: 'id', incremental: incremental('id', { initialValue: 0 }) }),
    ]),
  }),
];\n`,
  );
  return { home, mod };
}

/** The value of one sample of the Prometheus text (undefined: no such sample). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2].split(',');
    if (have.length === want.length && want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

/** Scrapes until the run's end has reached the worker's metrics (sinks are called just after the workflow task that completes it). */
async function scrapeAfterRun(url: string, pipeline: string): Promise<string> {
  for (let i = 0; ; i++) {
    const text = await (await fetch(url)).text();
    if (sample(text, 'tide_run_duration_seconds_count', { pipeline, kind: 'manual', status: 'completed' }) !== undefined || i >= 100) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Log lines with their varying parts (time stamps, durations) replaced. */
function normalized(out: string): string[] {
  return out
    .trim()
    .split('\n')
    .map((l) => l.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'T').replace(/in \d+\.\d{3} s/, 'in S s'));
}

describe('tide runs --logs and worker metrics', () => {
  it('keeps every attempt’s lines with the run, shows them in the Web UI details, and counts rows, items, failures, retries and runs', async () => {
    const name = `obs_${randomBytes(3).toString('hex')}`;
    const ds = datasetName('obs');
    const { home, mod } = pipelinesModule(name, ds);
    const defs = (await import(pathToFileURL(mod).href)).default as PipelineDefinition[];
    await withWorker(
      defs,
      async (client, tq, { metricsUrl }) => {
        expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
        const h = await client.startRun(name);
        const result = await h.result();
        expect(result.tables).toEqual({ issues: { rows: 3 }, issues__labels: { rows: 2 } });
        expect(existsSync(join(home, 'failed-once'))).toBe(true);
        const runId = h.firstExecutionRunId;
        const loadId = result.loadId!;

        // the run in `tide runs`, with the id --logs takes
        const list = await runTide(home, ['runs', name, '--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq]);
        expect(list.code).toBe(0);
        expect(list.stdout.split('\n')[1]).toMatch(new RegExp(`^\\(cursor state\\) +manual +COMPLETED +5 +2  ${runId}  http`));
        // without Temporal: the committed loads from the ledger, with the load id --logs takes
        const ledger = await runTide(home, ['runs', name, '--pipelines', mod, '--address', `127.0.0.1:${await freePort()}`]);
        expect(ledger.code).toBe(0);
        expect(ledger.stderr).toMatch(/^tide: Temporal not reachable \(.*\): the committed loads from the ledger only\n$/);
        expect(ledger.stdout.trim().split('\n').slice(1)).toEqual([expect.stringMatching(new RegExp(`^\\(cursor state\\) +${loadId.replace('.', '\\.')} +5  \\d{4}-`))]);
        // another process (the CLI) reads the lines the worker kept, by run id or by load id
        const byRun = await runTide(home, ['runs', name, '--pipelines', mod, '--logs', runId]);
        expect(byRun.stderr).toBe('');
        expect(byRun.code).toBe(0);
        const bind = `Bind incremental on issues with initial_value: 0, start_value: 0, end_value: None, func: max, row_order: None, on_missing: raise, range_start: closed, range_end: open`;
        const attempt2 = [`  T INFO  run#2        ${bind}`, `  T INFO  run#2        table issues: 3 rows loaded`, `  T INFO  run#2        table issues__labels: 2 rows loaded`, `  T INFO  run#2        run done in S s`];
        expect(normalized(byRun.stdout)).toEqual([
          `run ${runId} (workflow ${h.workflowId}, load ${loadId})`,
          `  T INFO  run#1        ${bind}`,
          `  T ERROR run#1        ExtractError: Resource "issues" failed: upstream answered 503 [pipeline "${name}", resource "issues"]`,
          `  T ERROR run#1        run failed in S s`,
          ...attempt2,
        ]);
        const byLoad = await runTide(home, ['runs', name, '--pipelines', mod, '--logs', loadId]);
        expect(byLoad.stdout).toBe(byRun.stdout);
        const unknown = await runTide(home, ['runs', name, '--pipelines', mod, '--logs', 'no-such-run']);
        expect(unknown.code).toBe(2);
        expect(unknown.stderr).toMatch(/No log lines of a run "no-such-run" of pipeline obs_/);

        // the Web UI's "current details" of the run: the loading attempt's lines
        const meta = (await client.client.workflow.getHandle(h.workflowId).query('__temporal_workflow_metadata')) as { currentDetails?: string };
        const details = (meta.currentDetails ?? '').split('\n');
        expect(details[0]).toBe('```');
        expect(details.at(-1)).toBe('```');
        expect(details.slice(1, -1).map((l) => `  ${l.replace(/^\S+Z/, 'T').replace(/in \d+\.\d{3} s/, 'in S s')}`)).toEqual(attempt2);

        const text = await scrapeAfterRun(metricsUrl!, name);
        expect(sample(text, 'tide_rows_loaded_total', { pipeline: name, table: 'issues' })).toBe(3);
        expect(sample(text, 'tide_rows_loaded_total', { pipeline: name, table: 'issues__labels' })).toBe(2);
        expect(sample(text, 'tide_items_extracted_total', { pipeline: name })).toBe(3);
        expect(sample(text, 'tide_step_failures_total', { pipeline: name, step: 'run', error: 'ExtractError' })).toBe(1);
        expect(sample(text, 'tide_step_retries_total', { pipeline: name, step: 'run' })).toBe(1);
        expect(sample(text, 'tide_step_duration_seconds_count', { pipeline: name, step: 'run', outcome: 'failed' })).toBe(1);
        expect(sample(text, 'tide_step_duration_seconds_count', { pipeline: name, step: 'run', outcome: 'done' })).toBe(1);
        expect(sample(text, 'tide_run_duration_seconds_count', { pipeline: name, kind: 'manual', status: 'completed' })).toBe(1);
        expect(sample(text, 'tide_run_duration_seconds_count', { pipeline: name, kind: 'manual', status: 'failed' })).toBeUndefined();
      },
      { metrics: { host: '127.0.0.1', port: 0 } },
    );
  }, 180_000);

  it('counts a scheduled run and its schedule lag, and a run that failed for good: its lines, its Web UI details and its counters', async () => {
    const sched = `obs_s_${randomBytes(3).toString('hex')}`;
    const broken = `obs_b_${randomBytes(3).toString('hex')}`;
    const defs: PipelineDefinition[] = [
      definePipeline({ name: sched, datasetName: datasetName('obs'), source: () => resource(() => [{ id: 1 }, { id: 2 }], { name: 'events' }), schedule: { every: 'hour' } }),
      definePipeline({
        name: broken,
        datasetName: datasetName('obs'),
        retries: { extract: { maximumAttempts: 1 } },
        source: () =>
          resource(function* pages() {
            yield { id: 1 };
            throw new Error('page 2: 500');
          }),
      }),
    ];
    await withWorker(
      defs,
      async (client, _tq, { metricsUrl }) => {
        await client.createSchedule(sched, { every: 'hour' }, { paused: true });
        try {
          await client.triggerSchedule(sched);
          const h = await client.startRun(broken);
          const err = await h.result().catch((e: unknown) => e);
          expect(err).toBeInstanceOf(WorkflowFailedError);
          const runId = h.firstExecutionRunId;

          // its lines, by workflow id this time, from the destination the worker wrote them to
          const p = pipeline({ pipelineName: broken, datasetName: defs[1].datasetName, destination: postgres(pgUrl()), pipelinesDir: tempDir() });
          try {
            const lines = (await p.runLog(h.workflowId)).map((l) => [l.runId, l.loadId, l.step, l.attempt, l.level, l.message.replace(/in \d+\.\d{3} s$/, 'in S s')]);
            expect(lines).toEqual([
              [runId, expect.any(String), 'run', 1, 'error', `ExtractError: Resource "pages" failed: page 2: 500 [pipeline "${broken}", resource "pages"]`],
              [runId, expect.any(String), 'run', 1, 'error', 'run failed in S s'],
            ]);
          } finally {
            await p.close();
          }
          const meta = (await client.client.workflow.getHandle(h.workflowId).query('__temporal_workflow_metadata')) as { currentDetails?: string };
          expect(meta.currentDetails).toBe(
            `\`\`\`\n${broken}: run failed: Resource "pages" failed: page 2: 500 [pipeline "${broken}", resource "pages"] (all its lines: tide runs ${broken} --logs ${runId})\n\`\`\``,
          );

          let text = '';
          for (let i = 0; i < 300; i++) {
            text = await (await fetch(metricsUrl!)).text();
            const ran = sample(text, 'tide_run_duration_seconds_count', { pipeline: sched, kind: 'scheduled', status: 'completed' });
            const failed = sample(text, 'tide_run_duration_seconds_count', { pipeline: broken, kind: 'manual', status: 'failed' });
            if (ran !== undefined && failed !== undefined) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          expect(sample(text, 'tide_run_duration_seconds_count', { pipeline: sched, kind: 'scheduled', status: 'completed' })).toBe(1);
          expect(sample(text, 'tide_schedule_lag_seconds_count', { pipeline: sched })).toBe(1);
          expect(sample(text, 'tide_schedule_lag_seconds_sum', { pipeline: sched })).toBeGreaterThanOrEqual(0);
          expect(sample(text, 'tide_rows_loaded_total', { pipeline: sched, table: 'events' })).toBe(2);
          expect(sample(text, 'tide_run_duration_seconds_count', { pipeline: broken, kind: 'manual', status: 'failed' })).toBe(1);
          expect(sample(text, 'tide_step_failures_total', { pipeline: broken, step: 'run', error: 'ExtractError' })).toBe(1);
          expect(sample(text, 'tide_step_retries_total', { pipeline: broken, step: 'run' })).toBeUndefined();
          expect(sample(text, 'tide_rows_loaded_total', { pipeline: broken, table: 'pages' })).toBeUndefined();
          expect(sample(text, 'tide_items_extracted_total', { pipeline: broken })).toBeUndefined();
        } finally {
          await client.deleteSchedule(sched);
        }
      },
      { metrics: { host: '127.0.0.1', port: 0 } },
    );
  }, 180_000);

  it('tide worker --metrics HOST:PORT serves the metrics of a worker process (--temporal-metrics the SDK\'s), and a bad HOST:PORT is a usage error', async () => {
    const name = `obs_w_${randomBytes(3).toString('hex')}`;
    const { home, mod } = pipelinesModule(name, datasetName('obs'));
    const bad = await runTide(home, ['worker', '--pipelines', mod, '--address', temporalAddress(), '--metrics', '9464']);
    expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 2, stderr: 'tide: --metrics 9464: expected HOST:PORT, e.g. 127.0.0.1:9464\n' });

    const sdk = `127.0.0.1:${await freePort()}`;
    const tq = taskQueue();
    const worker = spawn(process.execPath, ['bin/tide.js', 'worker', '--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq, '--metrics', '127.0.0.1:0', '--temporal-metrics', sdk], {
      env: { ...process.env, TIDE_POSTGRES_URL: pgUrl(), TIDE_HOME: home },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        worker.stderr!.on('data', (b: Buffer) => {
          stderr += b.toString();
          const m = /tide worker: metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)\n/.exec(stderr);
          if (m) resolve(m[1]);
        });
        worker.once('exit', (code) => reject(new Error(`worker exited (${code}): ${stderr}`)));
      });
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      // nothing ran on it yet: every family is declared, none has a sample
      for (const family of ['tide_rows_loaded_total', 'tide_items_extracted_total', 'tide_step_duration_seconds', 'tide_step_failures_total', 'tide_step_retries_total', 'tide_run_duration_seconds', 'tide_schedule_lag_seconds']) {
        expect(text).toContain(`# TYPE ${family} ${family.endsWith('_total') ? 'counter' : 'histogram'}\n`);
      }
      expect(text.split('\n').filter((l) => l.startsWith('tide_'))).toEqual([]);
      expect(stderr).toContain(`tide worker: Temporal SDK metrics at http://${sdk}/metrics\n`);
      const sdkText = await (await fetch(`http://${sdk}/metrics`)).text();
      expect(sdkText).toContain(`\ntemporal_worker_start_total{namespace="default",service_name="temporal-core-sdk",task_queue="${tq}"} 1\n`);
    } finally {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGINT');
      await exited;
    }
  }, 120_000);
});

