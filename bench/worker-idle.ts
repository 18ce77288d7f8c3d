/**
 * An idle tide worker's memory and start-up time (issue 13: worker peak RSS ≤ 250 MB). Starts the
 * bench's worker (bench/orchestrated-child.ts, mode `worker`, as bench:orchestrated does) `--runs`
 * times one after the other and prints, per start: seconds from spawn to READY (polling), the RSS
 * at READY and the peak RSS before it. No load runs, so no Postgres is needed (the destination
 * connects lazily).
 *
 *   node --import tsx bench/worker-idle.ts [--runs N] [--cold]
 *
 * `--cold` removes the cached workflow bundle (`$TIDE_HOME/cache/workflow-bundle`) before the first
 * start, so that start builds it. Env: TEMPORAL_ADDRESS (else a dev server of its own).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDevServer } from '../client/dev-server.ts';
import { tideHome } from '../common/home.ts';
import { BENCH_DIR, parseBenchArgs, parsePositiveInt } from './data.ts';
import type { ChildSpec } from './orchestrated-child.ts';

const USAGE = `usage: node --import tsx bench/worker-idle.ts [--runs N] [--cold]
  --runs N   worker starts, one after the other (default 3)
  --cold     remove the cached workflow bundle before the first start
env: TEMPORAL_ADDRESS uses that server instead of starting one`;

interface Start {
  seconds: number;
  rssReadyMb: number;
  startupPeakMb: number;
}

/** One worker process: spawn → READY (timed), then stop it and read what it measured. */
async function startOnce(address: string, i: number): Promise<Start> {
  const spec: ChildSpec = { mode: 'worker', url: 'postgres://unused@127.0.0.1:1/unused', pipelineName: `idle_${i}`, dataset: `idle_${i}`, file: '/dev/null', merge: false, address, taskQueue: `bench-idle-${process.pid}-${i}` };
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'orchestrated-child.ts'), JSON.stringify(spec)], { cwd: join(BENCH_DIR, '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let seconds = NaN;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    if (Number.isNaN(seconds) && out.includes('READY\n')) {
      seconds = (performance.now() - t0) / 1000;
      child.stdin!.end('stop\n');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`worker exited with ${code}:\n${out}`);
  const r = JSON.parse(line) as Start;
  return { seconds, rssReadyMb: r.rssReadyMb, startupPeakMb: r.startupPeakMb };
}

async function main(): Promise<void> {
  const a = parseBenchArgs(process.argv.slice(2), { runs: 'string', cold: 'boolean' }, USAGE);
  const runs = a.runs === undefined ? 3 : parsePositiveInt(a.runs, '--runs', USAGE);
  const own = process.env.TEMPORAL_ADDRESS ? undefined : await startDevServer();
  const address = process.env.TEMPORAL_ADDRESS ?? own!.address;
  try {
    if (a.cold) rmSync(join(tideHome(), 'cache', 'workflow-bundle'), { recursive: true, force: true });
    console.log('start  seconds to READY  RSS at READY MB  peak before READY MB');
    for (let i = 1; i <= runs; i++) {
      const s = await startOnce(address, i);
      console.log(`${String(i).padStart(5)}  ${s.seconds.toFixed(2).padStart(16)}  ${s.rssReadyMb.toFixed(0).padStart(15)}  ${s.startupPeakMb.toFixed(0).padStart(20)}`);
    }
  } finally {
    await own?.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
