/**
 * The two loading processes of `npm run bench:orchestrated` (bench/orchestrated.ts), each in a
 * process of its own so its peak RSS is its own. One JSON argument (`ChildSpec`):
 *
 * - `mode: 'in-process'`: `pipeline().run(resource(…))` of the file, prints one JSON line
 *   `{ seconds, peakRssMb }` (maxRSS of the whole process).
 * - `mode: 'worker'`: a tide worker (`createWorker`) with one pipeline definition for the file,
 *   on the given dev server and task queue; prints `READY` once it polls, shuts down on a line on
 *   stdin, then prints `{ peakRssMb, startupPeakMb, rssReadyMb }`: the peak RSS from READY on
 *   (Linux: VmHWM after `echo 5 > /proc/self/clear_refs`, which resets the mark; elsewhere maxRSS
 *   of the whole life), the peak before READY (start-up: modules, workflow bundle, workflow thread),
 *   and the RSS at READY (the idle worker's baseline).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePipeline, pipeline, postgres, resource } from '../index.ts';
import { createWorker } from '../worker/index.ts';
import { jsonlPages } from './tide-load.ts';

export interface ChildSpec {
  mode: 'in-process' | 'worker';
  url: string;
  pipelineName: string;
  dataset: string;
  file: string;
  merge: boolean;
  /** worker mode */
  address?: string;
  taskQueue?: string;
  /** worker mode: 'none' (one extract-and-load activity) or 'serialize' (extract activity → unlogged staging → load activity) */
  decompose?: 'none' | 'serialize';
}

const maxRssMb = () => process.resourceUsage().maxRSS / 1024; // KiB → MiB

function items(spec: ChildSpec) {
  return resource(
    async function* () {
      yield* jsonlPages(spec.file);
    },
    spec.merge ? { name: 'items', writeDisposition: 'merge', primaryKey: 'id' } : { name: 'items', writeDisposition: 'append' },
  );
}

async function inProcess(spec: ChildSpec): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tide-bench-orch-'));
  const t0 = process.hrtime.bigint();
  const destination = postgres({ connectionString: spec.url });
  const p = pipeline({ pipelineName: spec.pipelineName, destination, datasetName: spec.dataset, pipelinesDir: dir });
  try {
    await p.run(items(spec));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(`${JSON.stringify({ seconds, peakRssMb: maxRssMb() })}\n`);
  } finally {
    await p.close();
    await destination.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resets the kernel's peak-RSS mark of this process (Linux); false where that is not possible. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function procStatusMb(field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

const stdinLine = () => new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));

async function worker(spec: ChildSpec): Promise<void> {
  const def = definePipeline({ name: spec.pipelineName, datasetName: spec.dataset, source: () => items(spec), decompose: spec.decompose ?? 'none' });
  const destination = postgres({ connectionString: spec.url });
  const { worker: w, close } = await createWorker({ pipelines: [def], address: spec.address, taskQueue: spec.taskQueue, destination });
  const running = w.run();
  const startupPeakMb = maxRssMb();
  const reset = resetPeakRss();
  const rssReadyMb = procStatusMb('VmRSS');
  process.stdout.write('READY\n');
  await stdinLine();
  const peakRssMb = (reset ? procStatusMb('VmHWM') : null) ?? maxRssMb();
  w.shutdown();
  await running;
  await close();
  await destination.close();
  process.stdout.write(`${JSON.stringify({ peakRssMb, startupPeakMb, rssReadyMb })}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
  if (spec.mode === 'in-process') await inProcess(spec);
  else if (spec.mode === 'worker') await worker(spec);
  else throw new Error('usage: orchestrated-child.ts <ChildSpec JSON>');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
