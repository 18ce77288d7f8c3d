/**
 * `tide intervals` and a planned `tide backfill` (--reprocess, --dry-run, --backwards) as a user runs
 * them, against a real Temporal dev server and worker: statuses from the ledger and Temporal, the
 * exit code, exactly which intervals run and in which order, and that a dry run starts nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, definePipeline, incremental, resource, source } from 'tide';
import type { TideClient } from '../../client/temporal.ts';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { recordHistory, temporalAddress, withWorker } from '../helpers/temporal.ts';
import { runTide } from '../helpers/cli.ts';

const HOUR = 3_600_000;
const FROM = '2026-01-01T00:00:00Z';
const TO = '2026-01-06T00:00:00Z';
const day = (d: number) => `2026-01-0${d}T00:00:00Z`;

/** Events every 6 hours: 4 a day. */
const ALL: { id: number; created_at: string }[] = [];
for (let t = Date.parse(FROM); t < Date.parse(TO); t += 6 * HOUR) ALL.push({ id: t / HOUR, created_at: new Date(t).toISOString().replace('.000Z', 'Z') });

const tide = (home: string, args: string[]) => runTide(home, args, { timeoutMs: 120_000 });

/** All workflows of the pipeline on Temporal: type, id, start time, status. */
async function workflows(c: TideClient, name: string) {
  const out: { type: string; id: string; start: number; status: string }[] = [];
  for await (const w of c.client.workflow.list({ query: `TidePipeline = '${name}'` })) out.push({ type: w.type, id: w.workflowId, start: w.startTime.getTime(), status: w.status.name });
  return out.sort((a, b) => a.start - b.start);
}

describe('tide intervals and a planned backfill', () => {
  it('--reprocess missing runs exactly the two failed intervals; --dry-run starts nothing; intervals exits 1 then 0; --backwards runs newest first', async () => {
    const name = `grid_${Date.now()}`;
    const ds = datasetName('grid');
    // upstream is broken for two days (a non-retryable error), then fixed
    const broken = new Set([day(2), day(4)]);
    const events = resource(
      function* (ctx) {
        const inc = ctx.incremental!;
        if (broken.has(String(inc.startValue).replace('.000Z', 'Z'))) throw new ConfigurationError(`upstream broken for ${inc.startValue}`);
        yield ALL.filter((e) => e.created_at >= String(inc.startValue) && e.created_at < String(inc.endValue));
      },
      { name: 'events', writeDisposition: 'append', incremental: incremental('created_at', { initialValue: FROM, allowExternalSchedulers: true }) },
    );
    const def = definePipeline({ name, datasetName: ds, source: () => source('events', [events]) });
    const home = tempDir('tide-grid-');
    const mod = join(home, 'pipelines.mjs');
    writeFileSync(mod, `export default [{ name: ${JSON.stringify(name)}, datasetName: ${JSON.stringify(ds)}, source: () => [] }];\n`);

    await withWorker([def], async (client, tq) => {
      const cli = (args: string[]) => tide(home, [...args, '--pipelines', mod, '--address', temporalAddress(), '--task-queue', tq]);
      const range = ['--from', FROM, '--to', TO, '--every', 'day'];

      // a first backfill: days 2 and 4 fail
      const h = await client.startBackfill({ pipeline: name, from: FROM, to: TO, every: 'day', parallel: 2 });
      await expect(h.result()).rejects.toThrow();

      const grid = await cli(['intervals', name, ...range, '--json']);
      expect(grid.code).toBe(1);
      const json = JSON.parse(grid.stdout);
      expect(json.counts).toEqual({ loaded: 3, failed: 2, running: 0, missing: 0 });
      expect(json.intervals.map((x: { start: string; status: string; rows?: number; error?: string }) => [x.start, x.status, x.rows ?? null, x.error ?? null])).toEqual([
        [day(1), 'loaded', 4, null],
        [day(2), 'failed', null, `upstream broken for 2026-01-02T00:00:00Z (pipeline "${name}")`],
        [day(3), 'loaded', 4, null],
        [day(4), 'failed', null, `upstream broken for 2026-01-04T00:00:00Z (pipeline "${name}")`],
        [day(5), 'loaded', 4, null],
      ]);
      expect(json.intervals[0]).toMatchObject({ index: 0, end: day(2), workflowId: `tide/${name}/${day(1)}/${day(2)}`, loadId: expect.stringMatching(/^\d+\.\d+$/), run: { status: 'COMPLETED' } });

      const text = await cli(['intervals', name, ...range]);
      expect(text.code).toBe(1);
      expect(text.stdout.replace(/load \d+\.\d+ at \S+/g, 'load L at T')).toBe(
        [
          `${name}: 5 intervals every day in [${FROM} → ${TO})`,
          `  ${FROM}  ■✗■✗■`,
          '  ■ loaded 3   ✗ failed 2   ▶ running 0   · missing 0',
          '',
          `  ${day(1)} → ${day(2)}  loaded         4  load L at T`,
          `  ${day(2)} → ${day(3)}  failed            upstream broken for 2026-01-02T00:00:00Z (pipeline "${name}")`,
          `  ${day(3)} → ${day(4)}  loaded         4  load L at T`,
          `  ${day(4)} → ${day(5)}  failed            upstream broken for 2026-01-04T00:00:00Z (pipeline "${name}")`,
          `  ${day(5)} → ${day(6)}  loaded         4  load L at T`,
          '',
        ].join('\n'),
      );

      // without Temporal: the ledger alone, so the failed intervals read as missing (still exit 1)
      const ledgerOnly = await tide(home, ['intervals', name, ...range, '--json', '--pipelines', mod, '--address', '127.0.0.1:1']);
      expect(ledgerOnly.code).toBe(1);
      expect(ledgerOnly.stderr).toMatch(/^tide: Temporal not reachable .*: statuses from the ledger only/m);
      expect(JSON.parse(ledgerOnly.stdout).counts).toEqual({ loaded: 3, failed: 0, running: 0, missing: 2 });

      // a dry run prints the plan and starts no workflow
      broken.clear();
      const before = await workflows(client, name);
      const dry = await cli(['backfill', name, ...range, '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout.replace(/load \d+\.\d+ at \S+/g, 'load L at T')).toBe(
        [
          `${name}: backfill plan, reprocess missing, oldest first, every day`,
          `  skip  ${day(1)} → ${day(2)}  loaded         4  load L at T`,
          `  run   ${day(2)} → ${day(3)}  failed            upstream broken for 2026-01-02T00:00:00Z (pipeline "${name}")`,
          `  skip  ${day(3)} → ${day(4)}  loaded         4  load L at T`,
          `  run   ${day(4)} → ${day(5)}  failed            upstream broken for 2026-01-04T00:00:00Z (pipeline "${name}")`,
          `  skip  ${day(5)} → ${day(6)}  loaded         4  load L at T`,
          'would run 2 of 5 intervals; dry run: nothing started',
          '',
        ].join('\n'),
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(await workflows(client, name)).toEqual(before);
      expect(before.filter((w) => w.type === 'pipelineRun')).toHaveLength(5);

      // --reprocess missing (the default): exactly the two failed intervals run
      const fix = await cli(['backfill', name, ...range, '--parallel', '2']);
      expect(fix.stderr).not.toMatch(/^tide:/m);
      expect(fix.code).toBe(0);
      expect(fix.stdout).toBe('backfill done: 2/2 intervals, 8 rows\n');
      expect(fix.stderr).toContain('backfill: 2 of 5 intervals (reprocess missing)\n');
      const after = (await workflows(client, name)).filter((w) => w.type === 'pipelineRun' && !before.some((b) => b.id === w.id && b.start === w.start));
      expect(after.map((w) => [w.id, w.status]).sort()).toEqual([
        [`tide/${name}/${day(2)}/${day(3)}`, 'COMPLETED'],
        [`tide/${name}/${day(4)}/${day(5)}`, 'COMPLETED'],
      ]);

      const ok = await cli(['intervals', name, ...range, '--json']);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout).intervals.map((x: { status: string; rows: number }) => [x.status, x.rows])).toEqual(Array(5).fill(['loaded', 4]));
      // nothing left to run: nothing started
      const none = await cli(['backfill', name, ...range]);
      expect(none.code).toBe(0);
      expect(none.stdout).toBe('backfill: nothing to run (reprocess missing: 5 intervals, none to run); started nothing\n');

      // --reprocess all --backwards: every interval, newest first; interval replace keeps one copy of each row
      const t0 = Date.now();
      const back = await cli(['backfill', name, ...range, '--reprocess', 'all', '--backwards']);
      expect(back.code).toBe(0);
      expect(back.stdout).toBe('backfill done: 5/5 intervals, 20 rows\n');
      const order = (await workflows(client, name)).filter((w) => w.type === 'pipelineRun' && w.start >= t0 - 1000).map((w) => w.id.split('/')[2]);
      expect(order).toEqual([day(5), day(4), day(3), day(2), day(1)]);
      await recordHistory(client, `tide/${name}/backfill/${FROM}/${TO}`, 'backfill-planned');
      const rows = await withDatasetRows(ds);
      expect(rows).toEqual({ n: 20, distinct: 20 });
    });
  });
});

async function withDatasetRows(ds: string): Promise<{ n: number; distinct: number }> {
  const { postgres } = await import('tide');
  const d = postgres(pgUrl());
  try {
    const c = await d.open(ds);
    try {
      const [r] = await c.query<{ n: number; distinct: number }>(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct FROM "${ds}"."events"`);
      return r;
    } finally {
      await c.close();
    }
  } finally {
    await d.close();
  }
}
