/**
 * The `tide` command line.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { pipeline, type Pipeline, type RunInfo } from '../index.ts';
import type { PipelineDefinition } from '../pipeline/define.ts';
import { TideError } from '../pipeline/errors.ts';

/** The pipelines module used when `--pipelines` is not given. */
export const DEFAULT_PIPELINES_FILES = ['tide.pipelines.ts', 'tide.pipelines.js'];

export async function loadPipelines(file?: string): Promise<PipelineDefinition[]> {
  const candidates = file ? [file] : DEFAULT_PIPELINES_FILES;
  const found = candidates.map((f) => resolve(f)).find((f) => existsSync(f));
  if (!found) {
    throw new TideError(
      file ? `Pipelines module not found: ${file}` : `No pipelines module: pass --pipelines FILE or create ${DEFAULT_PIPELINES_FILES[0]} (default export: [definePipeline(…)])`,
    );
  }
  const mod = await import(pathToFileURL(found).href);
  const defs = (mod.default ?? mod.pipelines) as PipelineDefinition[] | undefined;
  if (!Array.isArray(defs)) throw new TideError(`${found} must default-export an array of definePipeline(…)`);
  return defs;
}

export async function findPipeline(name: string, file?: string): Promise<PipelineDefinition> {
  const defs = await loadPipelines(file);
  const def = defs.find((d) => d.name === name);
  if (!def) throw new TideError(`No pipeline "${name}" in the pipelines module (it has: ${defs.map((d) => d.name).join(', ') || 'none'})`);
  return def;
}

export function pipelineOf(def: PipelineDefinition): Pipeline {
  return pipeline({ pipelineName: def.name, datasetName: def.datasetName, destination: def.destination });
}

function printInfo(info: RunInfo): void {
  const out = process.stdout;
  if (!info.loadId) {
    out.write(`Pipeline ${info.pipelineName}: nothing new to load (dataset ${info.datasetName}).\n`);
    return;
  }
  const secs = (info.finishedAt.getTime() - info.startedAt.getTime()) / 1000;
  out.write(`Pipeline ${info.pipelineName} load ${info.loadId} committed to dataset ${info.datasetName} in ${secs.toFixed(2)} s\n`);
  const names = Object.keys(info.tables).sort();
  const w = Math.max(5, ...names.map((n) => n.length));
  out.write(`  ${'table'.padEnd(w)}  rows\n`);
  for (const t of names) out.write(`  ${t.padEnd(w)}  ${info.tables[t].rows}\n`);
}

async function runCommand(name: string, o: { pipelines?: string; from?: string; to?: string; show?: boolean }): Promise<void> {
  const def = await findPipeline(name, o.pipelines);
  if ((o.from && !o.to) || (!o.from && o.to)) throw new TideError('Give both --from and --to, or neither');
  const p = pipelineOf(def);
  try {
    const t0 = Date.now();
    const tty = process.stderr.isTTY;
    const info = await p.run(await def.source(), {
      ...def.runOptions,
      interval: o.from && o.to ? { start: o.from, end: o.to } : undefined,
      onProgress: (pr) => {
        const rate = pr.items / Math.max(0.001, pr.elapsedMs / 1000);
        const rows = Object.entries(pr.rows).map(([t, n]) => `${t}=${n}`).join(' ');
        const line = `  ${pr.items} items (${Math.round(rate)}/s) ${rows}`;
        process.stderr.write(tty ? `\r${line.slice(0, 160)}` : `${line}\n`);
      },
    });
    if (tty && Date.now() - t0 > 1000) process.stderr.write('\n');
    printInfo(info);
    if (o.show !== false && info.loadId) {
      for (const t of Object.keys(info.tables).sort()) {
        const rows = await p.query(`SELECT * FROM "${p.datasetName}"."${t}" LIMIT 3`);
        if (!rows.length) continue;
        process.stdout.write(`\n${t} (first ${rows.length} of ${info.tables[t].rows} loaded rows):\n`);
        for (const r of rows) process.stdout.write(`  ${JSON.stringify(r)}\n`);
      }
    }
  } finally {
    await p.close();
  }
}

async function pipelineCommand(name: string, action: string, o: { pipelines?: string; verbose?: boolean }): Promise<void> {
  let def: PipelineDefinition | undefined;
  try {
    def = await findPipeline(name, o.pipelines);
  } catch {
    def = undefined; // info/state work for any pipeline name that has state in the default dataset
  }
  const p = def ? pipelineOf(def) : pipeline({ pipelineName: name });
  try {
    const state = await p.syncFromDestination();
    if (action === 'state') {
      process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      return;
    }
    if (action === 'drop') {
      const client = await p.query(`DROP SCHEMA IF EXISTS "${p.datasetName}" CASCADE`);
      void client;
      process.stdout.write(`Dropped dataset ${p.datasetName} (tables, loads and state of pipeline ${name}).\n`);
      return;
    }
    if (action !== 'info') throw new TideError(`Unknown action "${action}": use info, state or drop`);
    process.stdout.write(`Attaching to pipeline ${name}\n`);
    process.stdout.write(`dataset: ${p.datasetName}\nstate version: ${state._state_version}\n`);
    const loads = await p.query<{ load_id: string; inserted_at: Date; tide_rows: number }>(
      `SELECT load_id, inserted_at, tide_rows FROM "${p.datasetName}"."_dlt_loads" WHERE tide_pipeline_name = $1 ORDER BY load_id DESC LIMIT 5`,
      [name],
    ).catch(() => []);
    process.stdout.write(`last loads:\n`);
    for (const l of loads) process.stdout.write(`  ${l.load_id}  ${new Date(l.inserted_at).toISOString()}  ${l.tide_rows ?? ''} rows\n`);
    const tables = await p.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt\\_%' ORDER BY 1`,
      [p.datasetName],
    );
    process.stdout.write(`tables:\n`);
    for (const t of tables) {
      const [{ n }] = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${p.datasetName}"."${t.table_name}"`);
      process.stdout.write(`  ${t.table_name}: ${n} rows\n`);
    }
    if (o.verbose) process.stdout.write(`\nsources:\n${JSON.stringify(state.sources ?? {}, null, 2)}\n`);
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
    .action(runCommand);

  program
    .command('pipeline <pipeline> <action>')
    .description('info [-v] | state | drop — like `dlt pipeline … info`')
    .addOption(pipelinesOpt())
    .option('-v, --verbose', 'print the sources → resources → incremental state')
    .action(pipelineCommand);

  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.stderr.write(`tide: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
