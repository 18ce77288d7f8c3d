/**
 * tide's load stage alone, for the root table: the items are parsed and normalized first
 * (untimed), then the root rows go through tide's real load path — `PostgresLoadSession.add`
 * buffering, the COPY text encoder, `COPY … FROM STDIN` batches and the commit with its
 * `_dlt_loads` row — timed, inside one transaction. Compared with the server-side `COPY FROM file`
 * ceiling it shows how much of Postgres' own speed tide's loader keeps.
 *
 *   node --import tsx bench/tide-copy.ts <file.jsonl> <postgres-url> <dataset>
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { Normalizer } from '../pipeline/normalize/normalizer.ts';
import type { Schema } from '../pipeline/schema.ts';
import { PostgresLoadSession } from '../destinations/postgres/session.ts';
import { createDatasetSql } from '../destinations/postgres/sql.ts';
import { newLoadId } from '../pipeline/load-id.ts';

async function main(): Promise<void> {
  const [file, url, dataset] = process.argv.slice(2);
  const loadId = newLoadId();
  const schema: Schema = { name: 'bench', tables: { items: { name: 'items', columns: {}, writeDisposition: 'append' } } };
  const normalizer = new Normalizer(schema, { loadId });
  const rows: Record<string, unknown>[] = [];
  const items: unknown[] = [];
  for await (const line of createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    if (!line) continue;
    const item = JSON.parse(line);
    normalizer.normalize(item, 'items', (t, r) => {
      if (t === 'items') {
        rows.push(r);
        items.push(item);
      }
    });
  }
  // only the root table is loaded here: drop nested tables from the schema
  for (const t of Object.keys(schema.tables)) if (t !== 'items') delete schema.tables[t];

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  for (const statement of createDatasetSql(dataset)) await pool.query(statement);
  const t0 = process.hrtime.bigint();
  const session = await PostgresLoadSession.begin(pool, dataset, { loadId, pipelineName: 'bench', schema }, process.env.TIDE_BENCH_CREATE_INDEXES === '1');
  for (let i = 0; i < rows.length; i++) if (session.add('items', rows[i], items[i], 'items')) await session.flush();
  await session.commit({ schema, tables: [{ table: 'items', disposition: 'append', rows: rows.length }], truncate: [], schemaChanged: false, schemaVersionHash: 'bench' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await pool.end();
  process.stdout.write(`${JSON.stringify({ seconds, rows: rows.length, childRows: 0, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
