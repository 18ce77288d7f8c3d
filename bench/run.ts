/**
 * `npm run bench`: tide end-to-end vs dlt end-to-end (its defaults, and its fastest JSON setting:
 * csv + parallel normalize) vs Postgres' own COPY ceiling, on the same generated JSONL file and the
 * same Postgres server, each contender into a fresh schema. Prints a table (rows, seconds, rows/s,
 * peak RSS) and the ratios of issue 3 #11 and issue 13 #6. See bench/README.md.
 *
 *   node --import tsx bench/run.ts [--items N] [--dlt-items N] [--dlt-workers N] [--skip-dlt] [--mem-check [--mem-items N]] [--keep]
 *
 * Env: TIDE_BENCH_ITEMS (default item count), TIDE_BENCH_POSTGRES_URL (use this server instead of
 * starting an embedded one).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem, userInfo } from 'node:os';
import { join, relative } from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { BENCH_DIR, VENV_PY, ensureDltVenv, ensureDataFile, parseBenchArgs, parsePositiveInt, runJsonChild, startBenchPostgres } from './data.ts';

// ------------------------------------------------------------------ options
interface Options {
  items: number;
  dltItems: number;
  dltWorkers: number;
  skipDlt: boolean;
  memCheck: boolean;
  memItems: number;
  keep: boolean;
  createIndexes: boolean;
}

const USAGE = `usage: npm run bench -- [options]
  --items N        items in the data file (default: $TIDE_BENCH_ITEMS or 1000000)
  --dlt-items N    load only the first N items with dlt (default: --items); ratios are rows/s based
  --dlt-workers N  normalize workers of dlt's csv setting (default 2; its extract files are split for them)
  --skip-dlt       do not run dlt (neither setting)
  --mem-check      also run tide on --mem-items items and compare peak RSS (slow)
  --mem-items N    items for the memory check (default: 5 × --items)
  --keep           keep the benchmark schemas (default: dropped at the end)
  --create-indexes tide creates UNIQUE on _dlt_id like dlt (postgres({ createIndexes: true })); the ceiling copies the constraint
env: TIDE_BENCH_POSTGRES_URL=postgres://… uses that server instead of an embedded one`;

const parseCount = (v: string | undefined, flag: string): number => parsePositiveInt(v, flag, USAGE);

function parseArgs(argv: string[]): Options {
  const a = parseBenchArgs(argv, { items: 'string', 'dlt-items': 'string', 'dlt-workers': 'string', 'mem-items': 'string', 'skip-dlt': 'boolean', 'mem-check': 'boolean', keep: 'boolean', 'create-indexes': 'boolean' }, USAGE);
  const items =
    a.items !== undefined ? parseCount(a.items, '--items') : process.env.TIDE_BENCH_ITEMS ? parseCount(process.env.TIDE_BENCH_ITEMS, 'TIDE_BENCH_ITEMS') : 1_000_000;
  const dltItems = a['dlt-items'] !== undefined ? parseCount(a['dlt-items'], '--dlt-items') : items;
  const memItems = a['mem-items'] !== undefined ? parseCount(a['mem-items'], '--mem-items') : undefined;
  return {
    items,
    dltItems: Math.min(dltItems, items),
    dltWorkers: a['dlt-workers'] !== undefined ? parseCount(a['dlt-workers'], '--dlt-workers') : 2,
    skipDlt: a['skip-dlt'] ?? false,
    memCheck: (a['mem-check'] ?? false) || memItems !== undefined,
    memItems: memItems ?? items * 5,
    keep: a.keep ?? false,
    createIndexes: a['create-indexes'] ?? false,
  };
}

// ------------------------------------------------------------------ helpers
const log = (m: string) => process.stdout.write(`· ${m}\n`);
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtRel = (p: string) => relative(process.cwd(), p) || p;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

interface LoadResult {
  seconds: number;
  rows: number;
  childRows: number;
  peakRssMb: number | null;
  note?: string;
  /** dlt_load.py: what dlt really did (file formats of the load jobs, extract files, normalize tasks) */
  check?: DltCheck;
}

interface DltCheck {
  loader_file_format: string;
  normalize: { workers: number; extract_file_max_items: string | null; calls?: { pid: number; item_files: number; cpu_s: number }[] };
  extract_files: Record<string, number>;
  load_files: Record<string, Record<string, number>>;
}

/**
 * Fails unless dlt ran the setting asked for: every load job of the data tables in `format`, and with
 * `workers` > 1, at least that many normalize processes that each normalized some of the items' files.
 * Returns a one-line description for the output.
 */
function verifyDlt(c: DltCheck | undefined, format: string, workers: number): string {
  if (!c) throw new Error('dlt_load.py printed no check');
  const data = Object.entries(c.load_files).filter(([t]) => !t.startsWith('_dlt'));
  const formats = new Set(data.flatMap(([, f]) => Object.keys(f)));
  if (!data.length || formats.size !== 1 || !formats.has(format)) {
    throw new Error(`dlt was to load ${format} files, its load jobs were ${JSON.stringify(c.load_files)}`);
  }
  const jobs = data.map(([t, f]) => `${t} ${Object.values(f).reduce((a, b) => a + b, 0)}`).join(', ');
  let line = `load jobs ${format} (${jobs})`;
  if (workers > 1) {
    const byPid = new Map<number, { files: number; cpu: number }>();
    for (const x of c.normalize.calls ?? []) {
      const e = byPid.get(x.pid) ?? { files: 0, cpu: 0 };
      byPid.set(x.pid, { files: e.files + x.item_files, cpu: e.cpu + x.cpu_s });
    }
    const busy = [...byPid.values()].filter((e) => e.files > 0);
    if (c.normalize.workers !== workers || busy.length < workers) {
      throw new Error(`dlt was to normalize in ${workers} processes, each with some of the items: ${JSON.stringify(c.normalize)}`);
    }
    line += `; NORMALIZE__WORKERS=${c.normalize.workers}, ${c.extract_files.items ?? 0} extract files of items (SOURCES__DATA_WRITER__FILE_MAX_ITEMS=${c.normalize.extract_file_max_items}); normalize processes: ${[...byPid.entries()].map(([pid, e]) => `pid ${pid} ${e.files} files ${e.cpu.toFixed(1)} s CPU`).join(', ')}`;
  } else {
    const n = c.extract_files.items ?? 0;
    line += `; normalize in the main process, ${n} extract file${n === 1 ? '' : 's'} of items`;
  }
  return line;
}

const runChild = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => runJsonChild<LoadResult>(cmd, args, env);

const ensureVenv = () => ensureDltVenv(log);

async function countRows(client: pg.Client, schema: string): Promise<{ root: number; child: number }> {
  const t = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'items%'`,
    [schema],
  );
  let root = 0;
  let child = 0;
  for (const { table_name } of t.rows) {
    const c = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident(schema)}.${ident(table_name)}`);
    if (table_name === 'items') root = Number(c.rows[0].n);
    else child += Number(c.rows[0].n);
  }
  return { root, child };
}

/**
 * Postgres' single-backend ceiling: rows tide loaded, pre-rendered as COPY text (untimed), loaded
 * with a server-side `COPY … FROM '<file>'` into fresh tables of the same definition, inside one
 * BEGIN … COMMIT. `tables` = ['items'] is the ceiling proper (root table only); with the nested
 * tables too it shows what the same bytes cost the server when tide's child rows are included.
 * Falls back to `FROM PROGRAM 'cat …'`, then to a client-side stream (what psql `\copy` does).
 */
async function copyCeiling(
  client: pg.Client,
  fromSchema: string,
  toSchema: string,
  tables: string[],
  runs: number,
): Promise<LoadResult & { method: string; bytes: number }> {
  const dir = mkdtempSync(join(userInfo().uid === 0 ? '/var/tmp' : tmpdir(), 'tide-bench-copy-'));
  chmodSync(dir, 0o755);
  try {
    let bytes = 0;
    const files: string[] = [];
    for (const t of tables) {
      const file = join(dir, `${t}.copy`);
      const out = client.query(copyStreams.to(`COPY ${ident(fromSchema)}.${ident(t)} TO STDOUT`));
      await streamPipeline(out, createWriteStream(file));
      chmodSync(file, 0o644);
      bytes += statSync(file).size;
      files.push(file);
    }
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(toSchema)}`);
    const target = (t: string) => `${ident(toSchema)}.${ident(t)}`;
    const methods: { name: string; run: (t: string, file: string) => Promise<unknown> }[] = [
      { name: `server-side COPY FROM '<file>'`, run: (t, file) => client.query(`COPY ${target(t)} FROM ${literal(file)}`) },
      { name: `server-side COPY FROM PROGRAM 'cat <file>'`, run: (t, file) => client.query(`COPY ${target(t)} FROM PROGRAM ${literal(`cat ${file}`)}`) },
      {
        name: 'client-side COPY FROM STDIN (as psql \\copy)',
        run: (t, file) => streamPipeline(createReadStream(file, { highWaterMark: 1 << 16 }), client.query(copyStreams.from(`COPY ${target(t)} FROM STDIN`))),
      },
    ];
    let best: number | undefined;
    let method: string | undefined;
    const counts: number[] = [];
    for (let run = 0; run < runs; run++) {
      for (const t of tables) {
        await client.query(`DROP TABLE IF EXISTS ${target(t)}`);
        await client.query(`CREATE TABLE ${target(t)} (LIKE ${ident(fromSchema)}.${ident(t)} INCLUDING ALL)`);
      }
      for (const m of methods) {
        if (method && m.name !== method) continue;
        const t0 = process.hrtime.bigint();
        try {
          await client.query('BEGIN');
          for (let i = 0; i < tables.length; i++) await m.run(tables[i], files[i]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          if (method) throw e;
          log(`ceiling: ${m.name} failed (${(e as Error).message}); trying the next method`);
          continue;
        }
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        method = m.name;
        best = best === undefined ? s : Math.min(best, s);
        break;
      }
      if (!method) throw new Error('no COPY method worked for the ceiling');
    }
    for (const t of tables) counts.push(Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${target(t)}`)).rows[0].n));
    return { seconds: best!, rows: counts[0], childRows: counts.slice(1).reduce((a, b) => a + b, 0), peakRssMb: null, method: method!, bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(headers: string[], rows: string[][], rightAlign: boolean[]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAlign[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  // the tide children read it: both the end-to-end load and the load stage create their tables with it
  if (opts.createIndexes) process.env.TIDE_BENCH_CREATE_INDEXES = '1';
  const tag = randomBytes(3).toString('hex');
  const schemas = { tide: `bench_tide_${tag}`, tideLoad: `bench_tide_load_${tag}`, dlt: `bench_dlt_${tag}`, dltCsv: `bench_dlt_csv_${tag}`, ceiling: `bench_copy_${tag}`, ceilingAll: `bench_copy_all_${tag}`, mem: `bench_tide_mem_${tag}` };
  console.log(`tide bench: ${fmtInt(opts.items)} items${opts.skipDlt ? '' : `, dlt (default; csv + ${opts.dltWorkers} normalize workers) on ${fmtInt(opts.dltItems)}`}${opts.memCheck ? `, memory check at ${fmtInt(opts.memItems)}` : ''}`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`);

  const data = await ensureDataFile(opts.items, log);
  log(`data: ${fmtRel(data.file)} (${(data.bytes / 2 ** 20).toFixed(1)} MiB${data.generated ? ', generated now' : ', reused'})`);
  const dltVersion = opts.skipDlt ? undefined : ensureVenv();

  const server = await startBenchPostgres(log);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  const results: { name: string; r: LoadResult }[] = [];
  let exitCode = 0;
  try {
    const v = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    const settings = (await client.query<{ name: string; value: string }>(
      `SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN ('shared_buffers','max_wal_size','synchronous_commit','fsync','wal_level','work_mem') ORDER BY name`,
    )).rows.map((s) => `${s.name}=${s.value}`);
    console.log(`postgres: ${v} (${server.embedded ? 'embedded' : 'TIDE_BENCH_POSTGRES_URL'}), ${settings.join(' ')}`);

    // 1. tide end-to-end
    log(`tide: loading ${fmtInt(opts.items)} items into ${schemas.tide}`);
    const tide = await runChild(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'tide-load.ts'), data.file, server.url, schemas.tide]);
    const tideCount = await countRows(client, schemas.tide);
    if (tideCount.root !== opts.items) throw new Error(`tide loaded ${tideCount.root} root rows, expected ${opts.items}`);
    results.push({ name: 'tide (end-to-end)', r: { ...tide, rows: tideCount.root, childRows: tideCount.child } });

    // 2. Postgres' COPY ceiling on tide's root rows
    log(`ceiling: COPY of the same ${fmtInt(tideCount.root)} root rows into ${schemas.ceiling}`);
    const ceiling = await copyCeiling(client, schemas.tide, schemas.ceiling, ['items'], 2);
    results.push({ name: 'COPY ceiling (root table)', r: ceiling });
    // the end-to-end ceiling: the same server-side COPY of every table tide wrote (root + nested rows)
    const nested = (await client.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'items\\_\\_%' ORDER BY 1`,
      [schemas.tide],
    )).rows.map((r) => r.t);
    const ceilingAll = nested.length ? await copyCeiling(client, schemas.tide, schemas.ceilingAll, ['items', ...nested], 2) : undefined;
    if (ceilingAll) results.push({ name: 'COPY ceiling (root + nested)', r: ceilingAll });

    // 2b. tide's load stage alone for the root table (normalized first, untimed), best of 2
    log(`tide load stage: the same ${fmtInt(tideCount.root)} root rows through tide's COPY loader into ${schemas.tideLoad}`);
    let tideLoad: LoadResult | undefined;
    for (let run = 0; run < 2; run++) {
      const r = await runChild(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'tide-copy.ts'), data.file, server.url, `${schemas.tideLoad}_${run}`]);
      await client.query(`DROP SCHEMA IF EXISTS ${ident(`${schemas.tideLoad}_${run}`)} CASCADE`);
      if (!tideLoad || r.seconds < tideLoad.seconds) tideLoad = r;
    }
    results.push({ name: 'tide load stage (root table)', r: tideLoad! });

    // 3. dlt end-to-end: its defaults (insert_values, normalize in the main process), then its
    // fastest JSON setting (loader_file_format="csv", normalize in --dlt-workers processes, the
    // extract files split for them). Rows are counted in the database: dlt's own normalize counts
    // are wrong with split files.
    const dltChecks: string[] = [];
    if (!opts.skipDlt) {
      const settings = [
        { key: 'dlt', label: 'default', schema: schemas.dlt, format: 'insert_values', workers: 1, extra: [] as string[], what: 'insert_values, normalize in the main process: its defaults' },
        {
          key: 'dltCsv',
          label: `csv, ${opts.dltWorkers} workers`,
          schema: schemas.dltCsv,
          format: 'csv',
          workers: opts.dltWorkers,
          extra: ['--loader-file-format', 'csv', '--normalize-workers', String(opts.dltWorkers)],
          what: `loader_file_format="csv", NORMALIZE__WORKERS=${opts.dltWorkers}, extract files split`,
        },
      ];
      for (const st of settings) {
        log(`dlt ${dltVersion} ${st.label}: loading ${fmtInt(opts.dltItems)} items into ${st.schema} (${st.what})`);
        const args = [join(BENCH_DIR, 'dlt_load.py'), data.file, server.url, st.schema];
        if (opts.dltItems < opts.items) args.push(String(opts.dltItems));
        args.push(...st.extra);
        const env: NodeJS.ProcessEnv = { ...process.env, RUNTIME__DLTHUB_TELEMETRY: 'false' };
        // the setting is the script's to make: none of it may come from the caller's environment
        for (const k of Object.keys(env)) if (/^(NORMALIZE__|SOURCES__DATA_WRITER__|DATA_WRITER__|EXTRACT__|LOAD__)/.test(k)) delete env[k];
        const dlt = await runChild(VENV_PY, args, env);
        const dltCount = await countRows(client, st.schema);
        if (dltCount.root !== opts.dltItems) throw new Error(`dlt ${st.label} loaded ${dltCount.root} root rows, expected ${opts.dltItems}`);
        if (opts.dltItems === opts.items && dltCount.child !== tideCount.child) {
          throw new Error(`dlt ${st.label} loaded ${dltCount.child} nested rows, tide ${tideCount.child}`);
        }
        dltChecks.push(`dlt ${st.label}: ${verifyDlt(dlt.check, st.format, st.workers)}`);
        results.push({ name: `dlt ${dltVersion} ${st.label} (end-to-end)`, r: { ...dlt, rows: dltCount.root, childRows: dltCount.child } });
      }
    }

    // 4. memory check: tide on more items, peak RSS should not grow
    let mem: LoadResult | undefined;
    if (opts.memCheck) {
      const big = await ensureDataFile(opts.memItems, log);
      log(`memory check: tide on ${fmtInt(opts.memItems)} items into ${schemas.mem}`);
      mem = await runChild(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'tide-load.ts'), big.file, server.url, schemas.mem]);
      results.push({ name: `tide (memory check)`, r: mem });
    }

    // ---------------------------------------------------------------- report
    const rate = (r: LoadResult) => r.rows / r.seconds;
    console.log('');
    console.log(
      table(
        ['contender', 'rows (root)', 'child rows', 'seconds', 'rows/s (root)', 'peak RSS MB'],
        results.map(({ name, r }) => [
          name,
          fmtInt(r.rows),
          r.childRows ? fmtInt(r.childRows) : '-',
          r.seconds.toFixed(2),
          fmtInt(rate(r)),
          r.peakRssMb === null ? '- (server)' : fmtInt(r.peakRssMb),
        ]),
        [false, true, true, true, true, true],
      ),
    );
    console.log(`ceiling method: ${ceiling.method}, inside BEGIN … COMMIT; root: ${(ceiling.bytes / 2 ** 20).toFixed(1)} MiB of COPY text, best of 2${ceilingAll ? `; root + nested: ${(ceilingAll.bytes / 2 ** 20).toFixed(1)} MiB, best of 2` : ''}`);
    for (const l of dltChecks) console.log(l);
    console.log('');
    const check = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    const tideRate = rate(results[0].r);
    const ratio = (label: string, value: string, target: string) => console.log(`${label.padEnd(58)}${value.padStart(7)}   ${target}`);
    for (const [label, suffix, target] of [
      ['tide / dlt default (rows/s, end-to-end)', ' default (', 20],
      [`tide / dlt csv, ${opts.dltWorkers} workers (rows/s, end-to-end)`, ' workers (', 15],
    ] as const) {
      const d = results.find((x) => x.name.startsWith('dlt') && x.name.includes(suffix));
      if (!d) continue;
      const x = tideRate / rate(d.r);
      ratio(label, `${x.toFixed(1)}×`, `target ≥ ${target}×    ${check(x >= target)}`);
    }
    const loadStage = results.find((x) => x.name.startsWith('tide load stage'))!.r;
    const l = rate(loadStage) / rate(ceiling);
    ratio('tide root-table load / COPY ceiling (root table, rows/s)', `${(l * 100).toFixed(0)}%`, `target ≥ 70%    ${check(l >= 0.7)}`);
    // the end-to-end ceiling: the server's own COPY of the same root + nested rows tide wrote
    const top = ceilingAll ?? ceiling;
    const c = top.seconds / results[0].r.seconds;
    ratio(
      `tide end-to-end / COPY ceiling (${ceilingAll ? 'root + nested' : 'root table'}, same rows)`,
      `${(c * 100).toFixed(0)}%`,
      `no target (informative): the server alone takes ${top.seconds.toFixed(2)} s of tide's ${results[0].r.seconds.toFixed(2)} s`,
    );
    if (mem) {
      const m = mem.peakRssMb! / results[0].r.peakRssMb!;
      console.log(
        `peak RSS ${fmtInt(opts.memItems)} / ${fmtInt(opts.items)} items: ${m.toFixed(2)}×   target ≤ 1.20×  ${check(m <= 1.2)}  (${fmtInt(mem.peakRssMb!)} vs ${fmtInt(results[0].r.peakRssMb!)} MB)`,
      );
    } else console.log('peak RSS growth: not measured (add --mem-check)');
  } catch (e) {
    exitCode = 1;
    console.error(`bench failed: ${(e as Error)?.stack ?? String(e)}`);
  } finally {
    if (!opts.keep) {
      for (const s of Object.values(schemas)) {
        await client.query(`DROP SCHEMA IF EXISTS ${ident(s)} CASCADE`).catch(() => undefined);
        await client.query(`DROP SCHEMA IF EXISTS ${ident(`${s}_staging`)} CASCADE`).catch(() => undefined);
      }
    } else log(`kept schemas ${Object.values(schemas).join(', ')}`);
    await client.end().catch(() => undefined);
    await server.stop();
  }
  process.exitCode = exitCode;
}

await main();
