/**
 * `tide trigger` on the dev server (the CLI in a child process, a worker on its own task queue):
 * params are validated before anything starts (exit 2, no workflow), reach the resources as
 * `ctx.params`, and are recorded in the run's memo and the ledger; `--resources` selects; a run
 * started with the Temporal client directly (the Web UI's "Start workflow" with JSON input) is
 * validated by the worker and fails non-retryably naming the param.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { pipeline, postgres, type PipelineDefinition } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { temporalAddress, withWorker } from '../helpers/temporal.ts';
import { runTide } from '../helpers/cli.ts';
import { runsQuery } from '../../temporal/search-attributes.ts';

const tide = (home: string, args: string[]) => runTide(home, args, { timeoutMs: 90_000 });

/** A pipelines module (the CLI and the test's worker load the same file): source `gh`, resources `issues` (n rows) and `pulls`. */
function pipelinesModule(name: string, ds: string): { home: string; mod: string } {
  const home = tempDir('tide-trigger-e2e-');
  const mod = join(home, 'pipelines.mts');
  const tide = pathToFileURL(resolve('index.ts')).href;
  writeFileSync(
    mod,
    `import { definePipeline, resource, source } from ${JSON.stringify(tide)};
export default [
  definePipeline({
    name: ${JSON.stringify(name)},
    datasetName: ${JSON.stringify(ds)},
    params: {
      repo: { type: 'string', required: true, description: 'owner/name' },
      n: { type: 'number', default: 2 },
      full: { type: 'boolean', default: false },
      since: { type: 'date' },
    },
    source: () => source('gh', [
      resource(function* issues(ctx) {
        for (let i = 0; i < ctx.params.n; i++) yield { id: i, repo: ctx.params.repo, full: ctx.params.full, since: ctx.params.since ?? null };
      }, { primaryKey: 'id', writeDisposition: 'merge' }),
      resource(function* pulls(ctx) {
        yield { id: 1, repo: ctx.params.repo };
      }, { primaryKey: 'id', writeDisposition: 'merge' }),
    ]),
  }),
];\n`,
  );
  return { home, mod };
}

/** A date param as the resource yielded it: an ISO string, which the destination types as a timestamp. */
const SINCE = (iso: string) => new Date(iso);

async function read(ds: string, name: string) {
  const p = pipeline({ pipelineName: name, destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    const exists = async (t: string) => (await p.query<{ r: string | null }>(`SELECT to_regclass('"${ds}"."${t}"')::text AS r`))[0].r !== null;
    return {
      issues: (await exists('issues')) ? await p.query(`SELECT id::int AS id, repo, "full", since FROM "${ds}"."issues" ORDER BY id`) : null,
      pulls: (await exists('pulls')) ? await p.query(`SELECT id::int AS id, repo FROM "${ds}"."pulls"`) : null,
      loads: (await exists('_dlt_loads')) ? await p.query<{ load_id: string; tide_params: unknown }>(`SELECT load_id, tide_params FROM "${ds}"."_dlt_loads" ORDER BY load_id`) : [],
    };
  } finally {
    await p.close();
  }
}

describe('tide trigger', () => {
  it('validates params before starting, runs on the workers with ctx.params and --resources, records params in memo and ledger', async () => {
    const name = `trig_${randomBytes(3).toString('hex')}`;
    const ds = datasetName('trig');
    const { home, mod } = pipelinesModule(name, ds);
    const defs = (await import(pathToFileURL(mod).href)).default as PipelineDefinition[];
    await withWorker(defs, async (client, tq) => {
      const server = ['--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq];
      const bad = [
        [['--param', 'repo=a/b', '--param', 'n=ten'], `tide: Param "n" of pipeline "${name}" must be a number, got "ten"\n`],
        [['--param', 'n=3'], `tide: Missing required param "repo" of pipeline "${name}" (string: owner/name)\n`],
        [['--param', 'repo=a/b', '--param', 'nope=1'], `tide: Unknown param "nope" of pipeline "${name}" (it takes: repo, n, full, since)\n`],
        [['--param', 'repo=a/b', '--param', 'full=yes'], `tide: Param "full" of pipeline "${name}" must be a boolean (true or false), got "yes"\n`],
      ] as const;
      for (const [args, stderr] of bad) {
        const r = await tide(home, ['trigger', name, ...args, ...server]);
        expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 2, stderr, stdout: '' });
      }
      const typo = await tide(home, ['trigger', `${name}_x`, '--param', 'repo=a/b', ...server]);
      expect(typo.code).toBe(2);

      const ok = await tide(home, ['trigger', name, '--param', 'repo=a/b', '--param', 'n=3', '--param', 'since=2026-01-05', '--resources', 'issues', ...server]);
      expect(ok.stderr).not.toMatch(/^tide:/m);
      expect(ok.code).toBe(0);
      const m = /^run (\S+) \(cursor state\) params .*\n {2}(http\S+)\n/.exec(ok.stdout);
      expect(m, ok.stdout).not.toBeNull();
      const workflowId = m![1];
      expect(m![2]).toContain(`/workflows/${encodeURIComponent(workflowId)}/`);
      expect(ok.stdout).toMatch(/committed: 3 rows\n {2}issues {2}3\n$/);

      const params = { repo: 'a/b', n: 3, full: false, since: '2026-01-05T00:00:00Z' };
      expect(await read(ds, name)).toEqual({
        issues: [0, 1, 2].map((id) => ({ id, repo: 'a/b', full: false, since: SINCE('2026-01-05T00:00:00Z') })),
        pulls: null,
        loads: [{ load_id: expect.any(String), tide_params: params }],
      });
      const d = await client.client.workflow.getHandle(workflowId).describe();
      expect(d.memo?.params).toEqual(params);

      // nothing was started by the bad invocations: this run is the pipeline's only one
      const seen = [];
      for await (const w of client.client.workflow.list({ query: runsQuery(name) })) seen.push(w.workflowId);
      expect(seen).toEqual([workflowId]);
    });
  });

  it('a run started with the Temporal client and JSON params (the Web UI) is validated by the worker', async () => {
    const name = `trig_ui_${randomBytes(3).toString('hex')}`;
    const ds = datasetName('trig');
    const { mod } = pipelinesModule(name, ds);
    const defs = (await import(pathToFileURL(mod).href)).default as PipelineDefinition[];
    await withWorker(defs, async (client, tq) => {
      const start = (id: string, params: unknown) =>
        client.client.workflow.execute('pipelineRun', { taskQueue: tq, workflowId: `${name}-${id}`, args: [{ pipeline: name, kind: 'manual', params }] });
      const err = await start('bad', { repo: 'c/d', n: 'many' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const act = (err as WorkflowFailedError).cause as ActivityFailure;
      expect(act).toBeInstanceOf(ActivityFailure);
      expect(act.activityType).toBe('planRun');
      const failure = act.cause as ApplicationFailure;
      expect({ type: failure.type, nonRetryable: failure.nonRetryable, message: failure.message }).toEqual({
        type: 'ParamError',
        nonRetryable: true,
        message: `Param "n" of pipeline "${name}" must be a number, got "many"`,
      });
      expect(await read(ds, name)).toEqual({ issues: null, pulls: null, loads: [] });

      const res = await start('ok', { repo: 'c/d', n: 1, full: true, since: '2026-02-01T06:00:00+01:00' });
      expect(res.tables).toEqual({ issues: { rows: 1 }, pulls: { rows: 1 } });
      expect(await read(ds, name)).toEqual({
        issues: [{ id: 0, repo: 'c/d', full: true, since: SINCE('2026-02-01T05:00:00Z') }],
        pulls: [{ id: 1, repo: 'c/d' }],
        loads: [{ load_id: expect.any(String), tide_params: { repo: 'c/d', n: 1, full: true, since: '2026-02-01T05:00:00Z' } }],
      });
      expect((await client.client.workflow.getHandle(`${name}-ok`).describe()).memo?.params).toEqual({ repo: 'c/d', n: 1, full: true, since: '2026-02-01T05:00:00Z' });
    });
  });
});
