/**
 * Merge end-to-end, tide next to dlt (issue 5 #9): on one Postgres, in one run, for each strategy
 *
 * - delete-insert and upsert (primaryKey 'id'): a 1M-row table, then 100k staged rows (half updates
 *   of existing ids spread through the table, half new ids);
 * - scd2 (no keys): a 1M-row table, then a full 1M snapshot with 5% of the rows changed;
 *
 * tide (`pipeline().run(resource(…))`) and dlt 1.26 (bench/dlt_merge.py) each do an untimed initial
 * load and a timed merge load of the same JSONL files (`bench/.data/merge-*.jsonl`), both reading and
 * parsing the file inside the timed window. The end states are compared (row counts; scd2: active
 * and retired rows). Then `runMergeBench` (bench/merge.ts) times tide's merge SQL against the
 * hand-written statements at the same sizes.
 *
 *   node --import tsx bench/merge-e2e.ts [--rows 1000000] [--staged 100000] [--dlt-initial csv|default] [--skip-dlt] [--skip-sql] [--keep]
 *
 * Env: TIDE_BENCH_POSTGRES_URL (else an embedded Postgres from bench/merge.ts' `startEmbedded()`).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pg from 'pg';
import { pipeline, postgres, resource } from '../index.ts';
import type { MergeStrategy } from '../index.ts';
import { BENCH_DIR, VENV_PY, ensureDltVenv, DATA_DIR, parseBenchArgs, parsePositiveInt, prng } from './data.ts';
import { runMergeBench, startEmbedded } from './merge.ts';
import { jsonlPages } from './tide-load.ts';

type Strategy = Extract<MergeStrategy, 'delete-insert' | 'upsert' | 'scd2'>;
const STRATEGIES: Strategy[] = ['delete-insert', 'upsert', 'scd2'];

// ------------------------------------------------------------------ options
interface Options {
  rows: number;
  staged: number;
  dltInitial: 'csv' | 'default';
  skipDlt: boolean;
  skipSql: boolean;
  keep: boolean;
  /** seconds before dlt's timed run is given up (its process killed, its statements terminated) */
  dltTimeout: number;
}

const USAGE = `usage: node --import tsx bench/merge-e2e.ts [options]
  --rows N              rows in the initial table and in the scd2 snapshot (default 1000000)
  --staged M            staged rows for delete-insert / upsert (default rows / 10; half updates, half new)
  --dlt-initial FORMAT  loader_file_format of dlt's UNTIMED initial fill: csv (default) or default (insert_values)
  --skip-dlt            tide only
  --dlt-timeout S       give up dlt's timed run after S seconds (default 300); reported as "> S"
  --skip-sql            do not run the merge-SQL vs hand-written part (bench/merge.ts)
  --keep                keep the bench schemas
env: TIDE_BENCH_POSTGRES_URL=postgres://… uses that server instead of an embedded one`;

const parseCount = (v: string | undefined, flag: string): number => parsePositiveInt(v, flag, USAGE);

function parseArgs(argv: string[]): Options {
  const a = parseBenchArgs(
    argv,
    { rows: 'string', staged: 'string', 'dlt-initial': 'string', 'dlt-timeout': 'string', 'skip-dlt': 'boolean', 'skip-sql': 'boolean', keep: 'boolean' },
    USAGE,
  );
  const rows = a.rows !== undefined ? parseCount(a.rows, '--rows') : 1_000_000;
  let staged = a.staged !== undefined ? parseCount(a.staged, '--staged') : Math.max(2, Math.round(rows / 10));
  const dltInitial = a['dlt-initial'] ?? 'csv';
  if (dltInitial !== 'csv' && dltInitial !== 'default') throw new Error(`--dlt-initial is csv or default, got "${dltInitial}"`);
  const dltTimeout = a['dlt-timeout'] !== undefined ? parseCount(a['dlt-timeout'], '--dlt-timeout') : 300;
  if (staged % 2) staged += 1;
  if (staged / 2 > rows) throw new Error(`--staged ${staged}: half of it (the updates) must fit in --rows ${rows}`);
  return { rows, staged, dltInitial, skipDlt: a['skip-dlt'] ?? false, skipSql: a['skip-sql'] ?? false, keep: a.keep ?? false, dltTimeout };
}

const log = (m: string) => process.stderr.write(`[merge-e2e] ${m}\n`);
const fmtRel = (p: string) => relative(process.cwd(), p) || p;

// ------------------------------------------------------------------ data
const STATUSES = ['open', 'closed', 'pending', 'archived', 'on hold'];
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett', 'kilo', 'über', 'naïve'];
const T0 = Date.UTC(2024, 0, 1);

/**
 * One record, a pure function of (id, version): version 0 is the initial row, higher versions are
 * changed rows (every field but id / email rerolled, `updated_at` moved forward). An unchanged row of
 * the scd2 snapshot is byte-identical to its initial row, so its content hash is too.
 */
function record(id: number, version: number): Record<string, unknown> {
  const r = prng((Math.imul(id, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca6b)) >>> 0);
  const w = () => WORDS[Math.floor(r() * WORDS.length)];
  return {
    id,
    name: `${w()} ${w()} ${id}`,
    email: `user${id}@example.com`,
    status: STATUSES[Math.floor(r() * STATUSES.length)],
    amount: Math.round(r() * 1_000_000) / 100,
    active: r() < 0.5,
    updated_at: new Date(T0 + id * 1000 + version * 86_400_000 + Math.floor(r() * 1000)).toISOString(),
  };
}

/** Writes `bench/.data/<name>` once (temp file + rename), lines from `gen`. */
function ensureFile(name: string, gen: () => Iterable<Record<string, unknown>>): string {
  const file = join(DATA_DIR, name);
  if (existsSync(file)) return file;
  mkdirSync(DATA_DIR, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let buf: string[] = [];
  try {
    for (const rec of gen()) {
      buf.push(JSON.stringify(rec));
      if (buf.length >= 10_000) {
        writeSync(fd, `${buf.join('\n')}\n`);
        buf = [];
      }
    }
    if (buf.length) writeSync(fd, `${buf.join('\n')}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  log(`wrote ${fmtRel(file)}`);
  return file;
}

interface DataFiles {
  initial: string;
  staged: string;
  snapshot: string;
  /** ids updated by the staged file (the other half are new) and rows changed in the snapshot */
  stagedUpdates: number;
  snapshotChanged: number;
}

const SNAPSHOT_EVERY = 20; // 5% of the rows change in the scd2 snapshot

function dataFiles(rows: number, staged: number): DataFiles {
  const half = staged / 2;
  const stride = Math.floor(rows / half); // updates spread evenly through the table
  const initial = ensureFile(`merge-initial-${rows}.jsonl`, function* () {
    for (let id = 1; id <= rows; id++) yield record(id, 0);
  });
  const stagedFile = ensureFile(`merge-staged-${rows}-${staged}.jsonl`, function* () {
    // updates and new ids interleaved
    for (let i = 1; i <= half; i++) {
      yield record(i * stride, 1);
      yield record(rows + i, 1);
    }
  });
  const snapshot = ensureFile(`merge-snapshot-${rows}.jsonl`, function* () {
    for (let id = 1; id <= rows; id++) yield record(id, id % SNAPSHOT_EVERY === 0 ? 2 : 0);
  });
  return { initial, staged: stagedFile, snapshot, stagedUpdates: half, snapshotChanged: Math.floor(rows / SNAPSHOT_EVERY) };
}

// ------------------------------------------------------------------ contenders
interface Side {
  initialSeconds: number;
  seconds: number;
  /** the timed run did not finish within --dlt-timeout: `seconds` is a lower bound */
  timedOut?: boolean;
  note?: string;
}

async function tideSide(url: string, strategy: Strategy, dataset: string, initial: string, timed: string): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'tide-bench-merge-e2e-'));
  const items = (file: string) =>
    resource(
      async function* () {
        yield* jsonlPages(file);
      },
      {
        name: 'items',
        writeDisposition: { disposition: 'merge', strategy },
        ...(strategy === 'scd2' ? {} : { primaryKey: 'id' }),
      },
    );
  const once = async (file: string): Promise<number> => {
    const t0 = performance.now();
    const destination = postgres(url);
    const p = pipeline({ pipelineName: `bench_${dataset}`, destination, datasetName: dataset, pipelinesDir: dir });
    try {
      await p.run(items(file));
      return (performance.now() - t0) / 1000;
    } finally {
      await p.close();
      await destination.close(); // the pipeline does not close a destination it was given
    }
  };
  try {
    const initialSeconds = await once(initial);
    await settle(url, dataset);
    const seconds = await once(timed);
    return { initialSeconds, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ensureVenv = () => ensureDltVenv(log);

/**
 * dlt in one child process (bench/dlt_merge.py): the untimed initial load; the script then prints
 * "SETTLE" and waits for a line on stdin, while we give its table the same VACUUM ANALYZE +
 * CHECKPOINT as tide's (`settle`); then the timed load. Resolves to the script's JSON line.
 */
function dltSide(url: string, strategy: Strategy, dataset: string, initial: string, timed: string, initialFormat: string, timeoutS: number): Promise<Side> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, RUNTIME__DLTHUB_TELEMETRY: 'false', PYTHONUNBUFFERED: '1' };
    const child = spawn(VENV_PY, [join(BENCH_DIR, 'dlt_merge.py'), strategy, initial, timed, url, dataset, initialFormat], {
      cwd: join(BENCH_DIR, '..'),
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let initialSeconds = NaN;
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      // the script prints "SETTLE <initial seconds>" after the initial load and waits for a line on stdin
      const m = /^SETTLE (\S+)$/m.exec(out);
      if (m && !settled) {
        settled = true;
        initialSeconds = Number(m[1]);
        settle(url, dataset).then(
          () => {
            child.stdin.end('go\n');
            timer = setTimeout(() => {
              // dlt retries a failed job, so kill the process first, then its statements
              timedOut = true;
              child.kill('SIGKILL');
              terminateBackends(url, dataset).catch((e) => log(`could not terminate dlt's statements: ${e}`));
            }, timeoutS * 1000);
          },
          (e) => {
            child.kill();
            reject(e);
          },
        );
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) return resolve({ initialSeconds, seconds: timeoutS, timedOut: true, note: `timed out after ${timeoutS} s` });
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`dlt_merge.py ${strategy} exited with ${code}\n${out}`));
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`dlt_merge.py printed no JSON result:\n${out}`));
      }
    });
  });
}

/** Ends the server sessions still running statements on `dataset` (a timed-out dlt run). */
async function terminateBackends(url: string, dataset: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND position($1 in query) > 0`, [dataset]);
  } finally {
    await c.end();
  }
}

/** Between the untimed and the timed run, both sides alike: VACUUM ANALYZE the table, CHECKPOINT. */
async function settle(url: string, dataset: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`VACUUM ANALYZE "${dataset}"."items"`);
    await c.query('CHECKPOINT').catch(() => undefined); // needs superuser / pg_checkpoint
  } finally {
    await c.end();
  }
}

interface EndState {
  rows: number;
  /** sum(amount) of the current rows (scd2: active), rounded to cents: the updates landed alike */
  amount?: number;
  active: number | null;
  retired: number | null;
}

async function endState(c: pg.Client, dataset: string, scd2: boolean): Promise<EndState> {
  const t = `"${dataset}"."items"`;
  if (!scd2) {
    const r = await c.query<{ n: string; amount: string }>(`SELECT count(*) AS n, round(sum(amount)::numeric, 2) AS amount FROM ${t}`);
    return { rows: Number(r.rows[0].n), amount: Number(r.rows[0].amount), active: null, retired: null };
  }
  const r = await c.query<{ n: string; active: string; retired: string; amount: string }>(
    `SELECT count(*) AS n, count(*) FILTER (WHERE _dlt_valid_to IS NULL) AS active, count(*) FILTER (WHERE _dlt_valid_to IS NOT NULL) AS retired,
            round((sum(amount) FILTER (WHERE _dlt_valid_to IS NULL))::numeric, 2) AS amount FROM ${t}`,
  );
  return { rows: Number(r.rows[0].n), amount: Number(r.rows[0].amount), active: Number(r.rows[0].active), retired: Number(r.rows[0].retired) };
}

const fmtState = (s: EndState) => (s.active === null ? `${s.rows}` : `${s.rows} (${s.active} active, ${s.retired} retired)`);

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const dltVersion = opts.skipDlt ? undefined : ensureVenv();
  log(`data: ${opts.rows} rows, ${opts.staged} staged, scd2 snapshot of ${opts.rows} rows with 5% changed`);
  const files = dataFiles(opts.rows, opts.staged);

  const envUrl = process.env.TIDE_BENCH_POSTGRES_URL;
  const embedded = envUrl ? undefined : await startEmbedded();
  const url = envUrl ?? embedded!.url;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const tag = Math.random().toString(36).slice(2, 8);
  const schemas: string[] = [];
  const results: { strategy: Strategy; tide: Side; dlt?: Side; tideState: EndState; dltState?: EndState; expected: EndState }[] = [];
  let failed = false;
  try {
    const server = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
    log(`postgres ${server}${embedded ? ' (embedded)' : ''}${dltVersion ? `, dlt ${dltVersion}` : ''}`);
    for (const strategy of STRATEGIES) {
      const scd2 = strategy === 'scd2';
      const timed = scd2 ? files.snapshot : files.staged;
      const expected: EndState = scd2
        ? { rows: opts.rows + files.snapshotChanged, active: opts.rows, retired: files.snapshotChanged }
        : { rows: opts.rows + files.stagedUpdates, active: null, retired: null };
      const key = strategy.replace('-', '_');
      const tideDs = `bench_merge_tide_${key}_${tag}`;
      const dltDs = `bench_merge_dlt_${key}_${tag}`;
      schemas.push(tideDs);

      log(`${strategy}: tide initial load of ${fmtRel(files.initial)}, then timed ${fmtRel(timed)}`);
      const tide = await tideSide(url, strategy, tideDs, files.initial, timed);
      const tideState = await endState(c, tideDs, scd2);
      log(`${strategy}: tide initial ${tide.initialSeconds.toFixed(1)} s, timed ${tide.seconds.toFixed(2)} s → ${fmtState(tideState)}`);

      let dlt: Side | undefined;
      let dltState: EndState | undefined;
      if (!opts.skipDlt) {
        schemas.push(dltDs, `${dltDs}_staging`);
        log(`${strategy}: dlt initial load (loader_file_format=${opts.dltInitial === 'csv' ? 'csv' : "dlt's default"}), then timed (dlt's defaults)`);
        dlt = await dltSide(url, strategy, dltDs, files.initial, timed, opts.dltInitial, opts.dltTimeout);
        if (dlt.timedOut) log(`${strategy}: dlt initial ${dlt.initialSeconds.toFixed(1)} s, timed run NOT finished after ${opts.dltTimeout} s (killed)`);
        else {
          dltState = await endState(c, dltDs, scd2);
          log(`${strategy}: dlt initial ${dlt.initialSeconds.toFixed(1)} s, timed ${dlt.seconds.toFixed(2)} s → ${fmtState(dltState)}`);
        }
      }
      results.push({ strategy, tide, dlt, tideState, dltState, expected });
      if (!opts.keep) for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    }

    // ---- table
    console.log('');
    console.log(`merge end-to-end: ${opts.rows} rows in the table; delete-insert / upsert: ${opts.staged} staged rows (${files.stagedUpdates} updates, ${opts.staged - files.stagedUpdates} new); scd2: full ${opts.rows}-row snapshot, ${files.snapshotChanged} changed`);
    console.log(`postgres: ${embedded ? 'embedded' : 'TIDE_BENCH_POSTGRES_URL'}; dlt ${dltVersion ?? '(skipped)'}; timed run = pipeline creation → run() resolved, reading + parsing the JSONL file, dlt with its defaults (insert_values)`);
    if (!opts.skipDlt) console.log(`dlt's untimed initial fill used loader_file_format=${opts.dltInitial === 'csv' ? 'csv (insert_values is too slow for 1M rows × 3 strategies)' : "dlt's default (insert_values)"}`);
    console.log('');
    const head = ['strategy', 'tide s', 'dlt s', 'dlt/tide', 'target', 'end state (tide)', 'end state (dlt)', 'check'];
    const lines = results.map((r) => {
      const ratio = r.dlt ? r.dlt.seconds / r.tide.seconds : undefined;
      const same = (a: EndState, b: EndState) => a.rows === b.rows && a.active === b.active && a.retired === b.retired;
      const okState = same(r.tideState, r.expected) && (!r.dltState || (same(r.dltState, r.expected) && r.dltState.amount === r.tideState.amount));
      if (!okState) failed = true;
      return [
        r.strategy,
        r.tide.seconds.toFixed(2),
        r.dlt ? `${r.dlt.timedOut ? '> ' : ''}${r.dlt.seconds.toFixed(2)}` : '-',
        ratio === undefined ? '-' : `${r.dlt?.timedOut ? '> ' : ''}${ratio.toFixed(1)}×`,
        ratio === undefined ? '≥ 5×' : ratio >= 5 ? '≥ 5× ok' : r.dlt?.timedOut ? '≥ 5× (unknown)' : '≥ 5× MISSED',
        fmtState(r.tideState),
        r.dltState ? fmtState(r.dltState) : r.dlt?.timedOut ? 'timed out' : '-',
        okState ? (r.dltState ? 'agree (+ sum(amount))' : 'tide as expected') : `MISMATCH (expected ${fmtState(r.expected)})`,
      ];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const fmt = (l: string[]) => l.map((x, i) => (i === 0 || i >= 5 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
    console.log(fmt(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const l of lines) console.log(fmt(l));
    for (const r of results.filter((x) => x.dlt?.timedOut)) {
      console.log(`${r.strategy}: dlt's timed run did not finish within --dlt-timeout ${opts.dltTimeout} s and was killed: its time and ratio are lower bounds`);
    }
    console.log('');
    console.log(
      `initial loads (untimed): ${results.map((r) => `${r.strategy} tide ${r.tide.initialSeconds.toFixed(1)} s${r.dlt ? ` / dlt ${r.dlt.initialSeconds.toFixed(1)} s` : ''}`).join('; ')}`,
    );

    // ---- merge SQL vs hand-written (bench/merge.ts) at the same sizes
    if (!opts.skipSql) {
      console.log('');
      const sqlRows = opts.rows;
      const sqlStaged = Math.round(sqlRows / 10);
      console.log(
        `merge SQL: tide's statement vs the best hand-written one (bench/merge.ts; ${sqlRows}-row target, ${sqlStaged} staged${sqlStaged !== opts.staged ? ` — merge.ts always stages rows/10` : ''}; scd2 ${sqlRows}-row snapshot, 5% changed; best of ${process.env.TIDE_BENCH_MERGE_RUNS ?? 3}, target ≤ 1.3×)`,
      );
      const r = await runMergeBench(url, { rows: sqlRows, log });
      console.log('');
      const rows = STRATEGIES.map((s) => {
        const ratio = r[`${s}.ratio`];
        return [s, r[`${s}.tide`].toFixed(3), r[`${s}.hand`].toFixed(3), `${ratio.toFixed(2)}×`, ratio <= 1.3 ? '≤ 1.3× ok' : '≤ 1.3× MISSED'];
      });
      const h2 = ['strategy', 'tide SQL s', 'hand-written s', 'tide/hand', 'target'];
      const w2 = h2.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i].length)));
      const f2 = (l: string[]) => l.map((x, i) => (i === 0 ? x.padEnd(w2[i]) : x.padStart(w2[i]))).join('  ');
      console.log(f2(h2));
      console.log(w2.map((w) => '-'.repeat(w)).join('  '));
      for (const l of rows) console.log(f2(l));
    }
  } finally {
    if (!opts.keep) for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => undefined);
    await c.end();
    await embedded?.stop();
  }
  if (failed) {
    console.error('end states disagree: see the check column');
    process.exitCode = 1;
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
