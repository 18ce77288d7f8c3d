/**
 * Backfill benchmark: a 52-week backfill of the example pipeline (GitHub-like API over HTTP, merge
 * by id), sequential vs `parallel: 4`, and Temporal's overhead per interval (an empty source).
 *
 *   node --import tsx bench/backfill.ts [--weeks 52]
 *
 * Uses TIDE_BENCH_POSTGRES_URL / TEMPORAL_ADDRESS when set; otherwise starts an embedded Postgres
 * and a Temporal dev server of its own.
 */
import { definePipeline, postgres, resource, source } from '../index.ts';
import { repoIssues } from '../examples/github.ts';
import { startGithubApi } from '../examples/github-api.ts';
import { startDevServer } from '../client/dev-server.ts';
import { startEphemeralPostgres } from '../destinations/postgres/embedded.ts';
import { createWorker } from '../worker/index.ts';
import { TideClient } from '../client/temporal.ts';
import { parseBenchArgs, parsePositiveInt } from './data.ts';

const USAGE = 'usage: npm run bench:backfill -- [--weeks N]   (default 52)';
const args = parseBenchArgs(process.argv.slice(2), { weeks: 'string' }, USAGE);
const WEEKS = args.weeks !== undefined ? parsePositiveInt(args.weeks, '--weeks', USAGE) : 52;

async function startPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.TIDE_BENCH_POSTGRES_URL) return { url: process.env.TIDE_BENCH_POSTGRES_URL, stop: async () => undefined };
  return startEphemeralPostgres({ prefix: 'tide-bench-bf-', flags: ['-c', 'max_connections=100'] });
}

function mondayWeeksBack(weeks: number): { from: string; to: string } {
  const DAY = 86_400_000;
  const now = Date.now();
  // the Monday 00:00 UTC on or before today
  const today = Math.floor(now / DAY) * DAY;
  const dow = (new Date(today).getUTCDay() + 6) % 7;
  const to = today - dow * DAY;
  return { from: new Date(to - weeks * 7 * DAY).toISOString(), to: new Date(to).toISOString() };
}

async function main() {
  const pg = await startPostgres();
  const temporal = process.env.TEMPORAL_ADDRESS ? { address: process.env.TEMPORAL_ADDRESS, stop: async () => undefined } : await startDevServer();
  const api = await startGithubApi({ rateLimitEvery: 0 });
  const tag = Date.now().toString(36);
  const github = (name: string) =>
    definePipeline({ name, datasetName: `bench_${name}`, source: () => source('github', [repoIssues.bind(api.url, 'tide-dev/tide')]) });
  const empty = resource(function* () {}, { name: 'nothing' });
  const defs = [github(`seq_${tag}`), github(`par_${tag}`), definePipeline({ name: `empty_${tag}`, datasetName: `bench_empty_${tag}`, source: () => empty })];
  const destination = postgres({ connectionString: pg.url, max: 8 });
  const taskQueue = `bench-${tag}`;
  const { worker, close } = await createWorker({ pipelines: defs, address: temporal.address, taskQueue, destination, maxConcurrentActivities: 8 });
  const client = await TideClient.connect({ address: temporal.address, taskQueue });
  const { from, to } = mondayWeeksBack(WEEKS);
  const results: Record<string, { seconds: number; rows: number; intervals: number }> = {};
  await worker.runUntil(async () => {
    for (const [label, name, parallel] of [
      ['empty source, sequential', `empty_${tag}`, 1],
      ['example, sequential', `seq_${tag}`, 1],
      ['example, parallel 4', `par_${tag}`, 4],
    ] as const) {
      const t0 = performance.now();
      const h = await client.startBackfill({ pipeline: name, from, to, every: 'week', parallel });
      const r = await h.result();
      results[label] = { seconds: (performance.now() - t0) / 1000, rows: r.rows, intervals: r.total };
    }
  });
  await client.close();
  await close();
  await destination.close();
  await api.close();
  await temporal.stop();
  await pg.stop();

  console.log(`\nBackfill benchmark: ${WEEKS} weekly intervals [${from.slice(0, 10)} → ${to.slice(0, 10)}), one worker, 2-core box`);
  console.log(`${'run'.padEnd(28)} ${'intervals'.padStart(9)} ${'rows'.padStart(8)} ${'wall s'.padStart(8)} ${'s/interval'.padStart(10)}`);
  for (const [label, r] of Object.entries(results)) {
    console.log(`${label.padEnd(28)} ${String(r.intervals).padStart(9)} ${String(r.rows).padStart(8)} ${r.seconds.toFixed(2).padStart(8)} ${(r.seconds / r.intervals).toFixed(3).padStart(10)}`);
  }
  const seq = results['example, sequential'].seconds;
  const par = results['example, parallel 4'].seconds;
  console.log(`speed-up parallel 4 vs sequential: ${(seq / par).toFixed(2)}×`);
  console.log(`Temporal overhead per interval (empty source: schedule child + extract + load activities): ${((results['empty source, sequential'].seconds / results['empty source, sequential'].intervals) * 1000).toFixed(0)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
