/**
 * The `tide` command as a user runs it (`node bin/tide.js …`): `run` prints row counts, schema changes, sample rows and
 * `pipeline <name> info` the loads and tables, both read through the destination client; a
 * pipeline name the pipelines module does not define is a usage error (exit code 2) naming the
 * ones it does, and touches no dataset.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { runTide } from '../helpers/cli.ts';

const tide = (home: string, args: string[]) => runTide(home, args, { timeoutMs: 60_000 });

/** A pipelines module defining `demo` (rows into table `items`) and `other`. */
function pipelinesModule(ds: string): { home: string; mod: string } {
  const home = tempDir('tide-cli-');
  const mod = join(home, 'pipelines.mjs');
  writeFileSync(
    mod,
    `export default [
      { name: 'demo', datasetName: ${JSON.stringify(ds)}, source: () => [{ id: 1, tags: ['a'] }, { id: 2, tags: [] }], runOptions: { tableName: 'items' } },
      { name: 'other', source: () => [] },
    ];\n`,
  );
  return { home, mod };
}

describe('tide CLI', () => {
  it('run prints sample rows; pipeline info prints loads and row counts', async () => {
    const { home, mod } = pipelinesModule(datasetName('cli'));
    const run = await tide(home, ['run', 'demo', '--pipelines', mod]);
    expect(run.stderr).not.toMatch(/^tide:/m);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\nitems \(first 2 of 2 loaded rows\):\n {2}\{"id":1,/);
    expect(run.stdout).toMatch(/\nitems__tags \(first 1 of 1 loaded rows\):\n {2}\{"value":"a",/);
    // what the run added to the schema, after the row counts
    expect(run.stdout).toMatch(/\n {2}items__tags +1\n {2}new tables: items, items__tags\n/);

    const info = await tide(home, ['pipeline', 'demo', 'info', '--pipelines', mod]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/last loads:\n {2}\d+\.\d{6} {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}3 rows\ntables:\n {2}items: 2 rows\n {2}items__tags: 1 rows\n$/);
  });

  it('an unknown pipeline name is a usage error listing the known ones, for info, state and drop', async () => {
    const { home, mod } = pipelinesModule(datasetName('cli'));
    const results = await Promise.all(['info', 'state', 'drop'].map((action) => tide(home, ['pipeline', 'nope', action, '--pipelines', mod])));
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('tide: No pipeline "nope" in the pipelines module (it has: demo, other)\n');
      expect(r.stdout).toBe('');
    }
  });

  it('an unknown action is a usage error too', async () => {
    const { home, mod } = pipelinesModule(datasetName('cli'));
    const r = await tide(home, ['pipeline', 'demo', 'bogus', '--pipelines', mod]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('tide: Unknown action "bogus": use info, state or drop\n');
  });
});
