/**
 * One tide end-to-end load of a JSONL file, in a process of its own so its peak RSS is its own:
 * `node --import tsx bench/tide-load.ts <file> <postgres-url> <dataset>`.
 * Streams the file (64 KB reads, split on newlines, pages of 1,000 parsed items), runs it through
 * `pipeline().run(resource(…))`, and prints one JSON line: `{seconds, rows, childRows, peakRssMb}`.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, postgres, resource } from '../index.ts';

const PAGE = 1000;

/**
 * Parsed items of a JSONL file, a page at a time; memory is bounded by one read chunk plus one page.
 * Lines are found in the bytes and decoded one at a time (what dlt's harness does with
 * `for line in f: json.loads(line)`): decoding whole chunks to strings and gluing them to the rest
 * of the previous chunk cost this reader a second and half its garbage.
 */
export async function* jsonlPages(file: string, pageSize = PAGE): AsyncGenerator<unknown[]> {
  let rest: Buffer | null = null;
  let page: unknown[] = [];
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 16 })) {
    const bytes: Buffer = rest ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    let nl: number;
    while ((nl = bytes.indexOf(10, start)) !== -1) {
      if (nl > start) page.push(JSON.parse(bytes.toString('utf8', start, nl)));
      start = nl + 1;
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    rest = start < bytes.length ? bytes.subarray(start) : null;
  }
  const last = rest?.toString('utf8').trim();
  if (last) page.push(JSON.parse(last));
  if (page.length) yield page;
}

async function main(): Promise<void> {
  const [file, url, dataset] = process.argv.slice(2);
  if (!file || !url || !dataset) throw new Error('usage: tide-load.ts <file.jsonl> <postgres-url> <dataset>');
  const dir = mkdtempSync(join(tmpdir(), 'tide-bench-pipelines-'));
  const t0 = process.hrtime.bigint();
  const destination = postgres({ connectionString: url, createIndexes: process.env.TIDE_BENCH_CREATE_INDEXES === '1' });
  const p = pipeline({ pipelineName: `bench_${dataset}`, destination, datasetName: dataset, pipelinesDir: dir });
  try {
    const items = resource(async function* () {
      yield* jsonlPages(file);
    }, { name: 'items' });
    const info = await p.run(items);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rows = info.tables.items?.rows ?? 0;
    const childRows = Object.entries(info.tables)
      .filter(([t]) => t !== 'items')
      .reduce((n, [, v]) => n + v.rows, 0);
    const peakRssMb = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
    process.stdout.write(`${JSON.stringify({ seconds, rows, childRows, peakRssMb, tables: info.tables })}\n`);
  } finally {
    await p.close();
    await destination.close(); // the pipeline does not close a destination it was given
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
}
