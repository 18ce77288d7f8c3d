/**
 * One tide copy of a Postgres table into another schema of the same server with `sqlTable`, in a
 * process of its own so its peak RSS is its own:
 * `node --import tsx bench/tide-sql-table.ts <postgres-url> <source-schema> <table> <dataset> [chunkSize]`.
 * Prints one JSON line: `{seconds, rows, peakRssMb, cpuSeconds}` (the process's user + system CPU); the wall time runs from reflecting the table
 * to `run()` resolving (read, normalize, COPY, commit of data + state + `_dlt_loads`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, postgres, sqlTable } from '../index.ts';

async function main(): Promise<void> {
  const [url, schema, table, dataset, chunk] = process.argv.slice(2);
  if (!url || !schema || !table || !dataset) throw new Error('usage: tide-sql-table.ts <postgres-url> <source-schema> <table> <dataset> [chunkSize]');
  const dir = mkdtempSync(join(tmpdir(), 'tide-bench-pipelines-'));
  const t0 = process.hrtime.bigint();
  const destination = postgres({ connectionString: url });
  const p = pipeline({ pipelineName: `bench_${dataset}`, destination, datasetName: dataset, pipelinesDir: dir });
  try {
    const r = await sqlTable({ credentials: url, schema, table, chunkSize: chunk ? Number(chunk) : undefined });
    const info = await p.run(r);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const usage = process.resourceUsage();
    const peakRssMb = usage.maxRSS / 1024; // maxRSS is in KiB
    const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
    process.stdout.write(`${JSON.stringify({ seconds, rows: info.tables[table]?.rows ?? 0, peakRssMb, cpuSeconds })}\n`);
  } finally {
    await p.close();
    await destination.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
