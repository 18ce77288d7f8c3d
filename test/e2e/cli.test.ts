/**
 * The `tide` command against the Temporal dev server, run as a user runs it (`node bin/tide.js …`
 * in a child process, stdout piped, so no terminal): every command takes `--pipelines FILE`, a
 * pipeline name the module does not define is a usage error (exit 2, the known names listed) and
 * nothing is started on the server, and `tide backfill` exits when the backfill ends.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import type { PipelineDefinition } from 'tide';
import { TideClient } from '../../client/temporal.ts';
import { backfillWorkflowId, scheduleId } from '../../temporal/ids.ts';
import { splitInterval } from '../../temporal/grid.ts';
import { cleanup, datasetName, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress, withWorker } from '../helpers/temporal.ts';
import { runTide } from '../helpers/cli.ts';

/** `tide` with stdout piped; a process still alive 10 s after printing "backfill done" is killed. */
const tide = (home: string, args: string[], { timeoutMs = 60_000, graceMs = 10_000 } = {}) => runTide(home, args, { timeoutMs, graceMs });

/**
 * A pipelines module with no imports (the CLI and the test's worker load the same file): `name`
 * loads one row per hour of its data interval into table `events`; `other` loads nothing.
 */
function pipelinesModule(name: string, ds: string): { home: string; mod: string } {
  const home = tempDir('tide-cli-e2e-');
  const mod = join(home, 'pipelines.mjs');
  writeFileSync(
    mod,
    `export default [
      {
        name: ${JSON.stringify(name)},
        datasetName: ${JSON.stringify(ds)},
        source: () => function* events(ctx) {
          for (let t = ctx.interval.start.toMillis(); t < ctx.interval.end.toMillis(); t += 3_600_000) yield { id: t / 3_600_000, at: new Date(t).toISOString() };
        },
      },
      { name: 'other', source: () => [] },
    ];\n`,
  );
  return { home, mod };
}

async function connect(): Promise<TideClient> {
  return cleanup(await TideClient.connect({ address: temporalAddress() }));
}

describe('tide CLI on Temporal', () => {
  it('backfill, runs and schedule take --pipelines; a name not in the module is exit 2 with the names listed, and nothing is started', async () => {
    const { home, mod } = pipelinesModule('demo', datasetName('cli'));
    const typo = `demo_${randomBytes(3).toString('hex')}`;
    const server = ['--pipelines', mod, '--address', temporalAddress(), '--task-queue', taskQueue('cli')];
    const [from, to] = ['2026-01-01', '2026-01-03'];
    const commands = [
      ['backfill', typo, '--from', from, '--to', to, '--every', 'day'],
      ['runs', typo],
      ['schedule', 'create', typo, '--every', 'day'],
      ['schedule', 'trigger', typo],
    ];
    const results = await Promise.all(commands.map((args) => tide(home, [...args, ...server])));
    for (const [i, r] of results.entries()) {
      expect({ command: commands[i].join(' '), code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({
        command: commands[i].join(' '),
        code: 2,
        stderr: `tide: No pipeline "${typo}" in the pipelines module (it has: demo, other)\n`,
        stdout: '',
      });
    }
    const c = await connect();
    const ivs = splitInterval(from, to, 'day');
    await expect(c.client.workflow.getHandle(backfillWorkflowId(typo, ivs[0].start, ivs[ivs.length - 1].end)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(c.client.schedule.getHandle(scheduleId(typo)).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });

  it('backfill with stdout piped exits when the backfill ends, with the done line last and the exact rows', async () => {
    const name = `cli_bf_${randomBytes(3).toString('hex')}`;
    const { home, mod } = pipelinesModule(name, datasetName('cli'));
    const defs = (await import(pathToFileURL(mod).href)).default as PipelineDefinition[];
    await withWorker(defs, async (_client, tq) => {
      const server = ['--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq];
      const r = await tide(home, ['backfill', name, '--from', '2026-01-01', '--to', '2026-01-05', '--every', 'day', ...server]);
      expect(r.stderr).not.toMatch(/^tide:/m);
      expect(r.signal, `killed: still running ${r.afterDoneMs ?? '?'} ms after "backfill done" (stderr:\n${r.stderr.slice(-400)})`).toBeNull();
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\nbackfill done: 4\/4 intervals, 96 rows\n$|^backfill done: 4\/4 intervals, 96 rows\n$/);

      const runs = await tide(home, ['runs', name, ...server]);
      expect(runs.stderr).toBe('');
      expect(runs.code).toBe(0);
      expect(runs.stdout).toMatch(/^interval +kind +status +rows attempts {2}run +link\n/);
    });
  });
});
