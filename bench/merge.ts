/**
 * Merge step at scale (landscape §A1.4): tide's merge SQL against the best hand-written statement on
 * the same data, each inside a transaction that is rolled back so every run starts from the same state.
 *
 * - delete-insert and upsert: a 1M-row target (7 columns, primary key on `id`), 100k staged rows
 *   (half updates spread through the table, half new keys);
 * - scd2: a 1M-row target, a full 1M snapshot staged with 5% of the rows changed.
 *
 *   node --import tsx bench/merge.ts            # embedded Postgres in /var/tmp (or TIDE_BENCH_POSTGRES_URL)
 *   TIDE_BENCH_MERGE_ROWS=200000 node --import tsx bench/merge.ts
 *
 * `runMergeBench(url)` resolves to seconds per case (`<strategy>.tide`, `<strategy>.hand`, best of
 * `TIDE_BENCH_MERGE_RUNS` = 3 after a warm-up) and their ratios (`<strategy>.ratio` = tide / hand).
 */
import { startEphemeralPostgres } from '../destinations/postgres/embedded.ts';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { applyMerge, type MergeContext } from '../destinations/postgres/merge.ts';
import type { ColumnSchema, TableSchema } from '../pipeline/schema.ts';

const SCHEMA = 'tide_bench_merge';
const q = (s: string) => `"${SCHEMA}".${s}`;

function tableSchema(name: string, strategy: TableSchema['mergeStrategy'], scd2 = false): TableSchema {
  const c = (name: string, dataType: ColumnSchema['dataType'], extra: Partial<ColumnSchema> = {}): ColumnSchema => ({ name, dataType, nullable: true, ...extra });
  const cols = [
    c('id', 'bigint', scd2 ? {} : { primaryKey: true, nullable: false }),
    c('name', 'text'),
    c('amount', 'double'),
    c('updated_at', 'timestamp'),
    c('flag', 'bool'),
    c('_dlt_load_id', 'text'),
    c('_dlt_id', 'text'),
  ];
  if (scd2) cols.push(c('_dlt_valid_from', 'timestamp', { x_valid_from: true }), c('_dlt_valid_to', 'timestamp', { x_valid_to: true }));
  return {
    name,
    writeDisposition: 'merge',
    mergeStrategy: strategy,
    columns: Object.fromEntries(cols.map((x) => [x.name, x])),
    ...(scd2 ? { scd2: { validFrom: '_dlt_valid_from', validTo: '_dlt_valid_to', boundaryTimestamp: '2026-01-01T00:00:00.000Z' } } : {}),
  };
}

const COLS = 'id, name, amount, updated_at, flag, _dlt_load_id, _dlt_id';
const row = (id: string, load: string) => `${id}, 'name ' || ${id}, ${id} * 1.5, timestamptz '2024-01-01' + ${id} * interval '1 second', ${id} % 2 = 0, '${load}', md5(${id}::text || '${load}')`;

async function timed(c: pg.ClientBase, f: () => Promise<void>): Promise<number> {
  await c.query('BEGIN');
  const t0 = performance.now();
  try {
    await f();
    return (performance.now() - t0) / 1000;
  } finally {
    await c.query('ROLLBACK');
  }
}

/** A warm-up of each, then the best of `RUNS` alternating timed runs (the box is shared: noise is high). */
async function best(c: pg.ClientBase, table: string, tide: () => Promise<void>, hand: () => Promise<void>): Promise<[number, number]> {
  const runs = Number(process.env.TIDE_BENCH_MERGE_RUNS ?? 3);
  // every timed run starts from a vacuumed table (the rolled-back rows of the previous run are gone)
  const run = async (f: () => Promise<void>) => {
    const s = await timed(c, f);
    await c.query(`VACUUM ${table}`);
    return s;
  };
  await run(tide);
  await run(hand);
  let t = Infinity;
  let h = Infinity;
  for (let i = 0; i < runs; i++) {
    // alternate which goes first
    if (i % 2 === 0) {
      t = Math.min(t, await run(tide));
      h = Math.min(h, await run(hand));
    } else {
      h = Math.min(h, await run(hand));
      t = Math.min(t, await run(tide));
    }
  }
  return [t, h];
}

function ctxFor(c: pg.ClientBase, root: TableSchema, staging: string): MergeContext {
  return {
    q: (text, params) => c.query(text, params as unknown[]),
    ds: SCHEMA,
    schema: { name: 'bench', tables: { [root.name]: root } },
    root,
    family: [root],
    staging: (t) => (t === root.name ? staging : undefined),
    finalExists: () => true,
    finalColumns: () => Object.keys(root.columns),
    loadId: '1767225600.000000',
    warn: () => undefined,
  };
}

/** Runs the merge benchmark against `url`; resolves to seconds per case and tide/hand ratios. */
export async function runMergeBench(url: string, opts: { rows?: number; log?: (m: string) => void } = {}): Promise<Record<string, number>> {
  const N = opts.rows ?? Number(process.env.TIDE_BENCH_MERGE_ROWS ?? 1_000_000);
  const STAGED = Math.round(N / 10);
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const out: Record<string, number> = {};
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await c.query(`CREATE SCHEMA ${SCHEMA}`);

    // ---- delete-insert and upsert: 1M target, 100k staged (half updates spread out, half new)
    log(`setup: ${N} target rows, ${STAGED} staged`);
    await c.query(`CREATE TABLE ${q('target')} (id bigint NOT NULL, name varchar, amount double precision, updated_at timestamptz, flag boolean, _dlt_load_id varchar, _dlt_id varchar)`);
    await c.query(`INSERT INTO ${q('target')} (${COLS}) SELECT ${row('g', 'l1')} FROM generate_series(1, ${N}) g`);
    await c.query(`ALTER TABLE ${q('target')} ADD PRIMARY KEY (id)`);
    await c.query(`VACUUM ANALYZE ${q('target')}`);
    // staging is a TEMP table as in a real load (COPYed, never analyzed)
    await c.query(`CREATE TEMP TABLE stg (LIKE ${q('target')})`);
    await c.query(
      `INSERT INTO stg (${COLS}) SELECT ${row('g', 'l2')} FROM (SELECT (g * 20)::bigint AS g FROM generate_series(1, ${STAGED / 2}) g UNION ALL SELECT ${N} + g FROM generate_series(1, ${STAGED / 2}) g) x`,
    );

    const hand = {
      'delete-insert': async () => {
        await c.query(`DELETE FROM ${q('target')} d USING stg s WHERE d.id = s.id`);
        await c.query(`INSERT INTO ${q('target')} (${COLS}) SELECT ${COLS} FROM stg`);
      },
      upsert: async () => {
        await c.query(
          `INSERT INTO ${q('target')} (${COLS}) SELECT ${COLS} FROM stg ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at, flag = EXCLUDED.flag, _dlt_load_id = EXCLUDED._dlt_load_id, _dlt_id = EXCLUDED._dlt_id`,
        );
      },
    };
    for (const strategy of ['delete-insert', 'upsert'] as const) {
      const root = tableSchema('target', strategy);
      // warm-up (caches, index checks) on both sides, then the timed runs
      const [t, h] = await best(c, q('target'), () => applyMerge(ctxFor(c, root, 'stg')), hand[strategy]);
      out[`${strategy}.tide`] = t;
      out[`${strategy}.hand`] = h;
      out[`${strategy}.ratio`] = t / h;
      log(`${strategy.padEnd(14)} tide ${t.toFixed(3)} s   hand-written ${h.toFixed(3)} s   ratio ${(t / h).toFixed(2)}`);
    }

    // ---- scd2: 1M active rows, full 1M snapshot with 5% changed
    await c.query(
      `CREATE TABLE ${q('dim')} (id bigint, name varchar, amount double precision, updated_at timestamptz, flag boolean, _dlt_load_id varchar, _dlt_id varchar, _dlt_valid_from timestamptz, _dlt_valid_to timestamptz)`,
    );
    await c.query(`INSERT INTO ${q('dim')} (${COLS}, _dlt_valid_from) SELECT ${row('g', 'l1')}, timestamptz '2025-01-01' FROM generate_series(1, ${N}) g`);
    await c.query(`UPDATE ${q('dim')} SET _dlt_id = md5(id::text)`);
    await c.query(`CREATE INDEX dim__tide_version ON ${q('dim')} (_dlt_id)`);
    await c.query(`VACUUM ANALYZE ${q('dim')}`);
    await c.query(`CREATE TEMP TABLE snap (LIKE ${q('dim')})`);
    await c.query(`INSERT INTO snap (${COLS}) SELECT ${row('g', 'l2')} FROM generate_series(1, ${N}) g`);
    await c.query(`UPDATE snap SET _dlt_id = CASE WHEN id % 20 = 0 THEN md5(id::text || 'changed') ELSE md5(id::text) END`);
    const B = `timestamptz '2026-01-01'`;
    const handScd2 = async () => {
      await c.query(`UPDATE ${q('dim')} d SET _dlt_valid_to = ${B} WHERE d._dlt_valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM snap s WHERE s._dlt_id = d._dlt_id)`);
      await c.query(
        `INSERT INTO ${q('dim')} (${COLS}, _dlt_valid_from, _dlt_valid_to) SELECT ${COLS}, ${B}, NULL FROM snap s WHERE NOT EXISTS (SELECT 1 FROM ${q('dim')} d WHERE d._dlt_valid_to IS NULL AND d._dlt_id = s._dlt_id)`,
      );
    };
    const dim = tableSchema('dim', 'scd2', true);
    const [t, h] = await best(c, q('dim'), () => applyMerge(ctxFor(c, dim, 'snap')), handScd2);
    out['scd2.tide'] = t;
    out['scd2.hand'] = h;
    out['scd2.ratio'] = t / h;
    log(`${'scd2'.padEnd(14)} tide ${t.toFixed(3)} s   hand-written ${h.toFixed(3)} s   ratio ${(t / h).toFixed(2)}`);
  } finally {
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
    await c.end();
  }
  return out;
}

/** An embedded Postgres with the landscape §A1.4 settings. */
export async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  return startEphemeralPostgres({ prefix: 'tide-bench-merge-', flags: ['-c', 'shared_buffers=1GB', '-c', 'max_wal_size=4GB'] });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const envUrl = process.env.TIDE_BENCH_POSTGRES_URL;
  const embedded = envUrl ? undefined : await startEmbedded();
  try {
    const r = await runMergeBench(envUrl ?? embedded!.url, { log: (m) => console.log(m) });
    console.log(JSON.stringify(r, null, 2));
  } finally {
    await embedded?.stop();
  }
}
