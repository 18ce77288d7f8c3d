/**
 * `npm run bench:orchestrated` (issue 13, item 1): the bench's REST-like items
 * (`bench/.data/items-<N>.jsonl`) loaded in-process (`pipeline().run(…)`) and through a real tide
 * worker on a real Temporal dev server (the default path, decompose 'none'; and the staged path,
 * decompose 'serialize'), one run each, one Postgres, three cases:
 *
 * 1. append of the N items;
 * 2. merge on `id` of the N items (with the nested list `labels`), first load;
 * 3. merge of N/10 changed items into the dataset of case 2.
 *
 * Each load runs in a child process of its own (bench/orchestrated-child.ts) so its peak RSS is its
 * own. Printed per load: wall seconds, rows/s (root rows), peak RSS, the peak size of the
 * `<dataset>_staging` tables and the WAL written; then the issue's targets, PASS / MISS.
 *
 *   node --import tsx bench/orchestrated.ts [--items N] [--changed M] [--dlt] [--keep]
 *
 * Env: TIDE_BENCH_POSTGRES_URL, TEMPORAL_ADDRESS (else an embedded Postgres / a dev server of its own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, renameSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startDevServer } from '../client/dev-server.ts';
import { TideClient } from '../client/temporal.ts';
import { startEphemeralPostgres } from '../destinations/postgres/embedded.ts';
import { BENCH_DIR, DATA_DIR, VENV_PY, ensureDataFile, ensureDltVenv, parseBenchArgs, parsePositiveInt } from './data.ts';
import type { ChildSpec } from './orchestrated-child.ts';
import { jsonlPages } from './tide-load.ts';

// ------------------------------------------------------------------ options
interface Options {
  items: number;
  changed: number;
  dlt: boolean;
  keep: boolean;
}

const USAGE = `usage: npm run bench:orchestrated -- [options]
  --items N     items in the data file (default: $TIDE_BENCH_ITEMS or 1000000)
  --changed M   changed items merged into the first merge load (default: items / 10)
  --dlt         also time dlt (defaults) merging the same changed items (untimed initial fill with csv)
  --keep        keep the bench schemas
env: TIDE_BENCH_POSTGRES_URL, TEMPORAL_ADDRESS use those servers instead of starting them`;

function parseArgs(argv: string[]): Options {
  const a = parseBenchArgs(argv, { items: 'string', changed: 'string', dlt: 'boolean', keep: 'boolean' }, USAGE);
  const envItems = process.env.TIDE_BENCH_ITEMS;
  const items = a.items !== undefined ? parsePositiveInt(a.items, '--items', USAGE) : envItems ? parsePositiveInt(envItems, 'TIDE_BENCH_ITEMS', USAGE) : 1_000_000;
  const changed = a.changed !== undefined ? parsePositiveInt(a.changed, '--changed', USAGE) : Math.max(1, Math.round(items / 10));
  if (changed > items) throw new Error(`--changed ${changed} is more than --items ${items}\n${USAGE}`);
  return { items, changed, dlt: a.dlt ?? false, keep: a.keep ?? false };
}

const log = (m: string) => process.stderr.write(`[orchestrated] ${m}\n`);
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const CHANGED_SUFFIX = ' (changed)';

// ------------------------------------------------------------------ data: the changed items
/**
 * `bench/.data/items-<N>-changed-<M>.jsonl`, written once: every (N/M)-th item of the items file,
 * changed deterministically (title, comments, updated_at, and its `labels` list: the first label
 * dropped, or one added to an empty list), so the merge replaces root rows and nested rows.
 */
async function ensureChangedFile(itemsFile: string, n: number, m: number): Promise<string> {
  const file = join(DATA_DIR, `items-${n}-changed-${m}.jsonl`);
  if (existsSync(file)) return file;
  log(`writing ${m} changed items → ${file}`);
  const stride = Math.floor(n / m);
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  let i = 0;
  let written = 0;
  for await (const page of jsonlPages(itemsFile)) {
    let chunk = '';
    for (const item of page as Record<string, unknown>[]) {
      if (i++ % stride === 0 && written < m) {
        chunk += `${JSON.stringify(changeItem(item))}\n`;
        written++;
      }
    }
    if (chunk && !out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(tmp, file);
  return file;
}

function changeItem(item: Record<string, unknown>): Record<string, unknown> {
  const labels = item.labels as { name: string; color: string }[];
  const updated = new Date(Date.parse(item.updated_at as string) + 86_400_000).toISOString();
  return {
    ...item,
    title: `${item.title as string}${CHANGED_SUFFIX}`,
    comments: (item.comments as number) + 1,
    updated_at: updated,
    labels: labels.length ? labels.slice(1) : [{ name: 'changed', color: '000000' }],
  };
}

// ------------------------------------------------------------------ servers
async function startPostgres(): Promise<{ url: string; stop: () => Promise<void>; embedded: boolean }> {
  const env = process.env.TIDE_BENCH_POSTGRES_URL;
  if (env) return { url: env, stop: async () => undefined, embedded: false };
  const flags = ['-c', 'shared_buffers=1GB', '-c', 'max_wal_size=4GB', '-c', 'max_connections=50'];
  const p = await startEphemeralPostgres({ prefix: 'tide-bench-orch-', flags });
  return { url: p.url, stop: p.stop, embedded: true };
}

async function startTemporal(): Promise<{ address: string; stop: () => Promise<void> }> {
  const env = process.env.TEMPORAL_ADDRESS;
  if (env) return { address: env, stop: async () => undefined };
  return startDevServer();
}

// ------------------------------------------------------------------ child processes
const CHILD = join(BENCH_DIR, 'orchestrated-child.ts');

function spawnChild(spec: ChildSpec): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(spec)], {
    cwd: join(BENCH_DIR, '..'),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Resolves with the child's stdout lines so far each time `until` matches one, rejects if it exits first. */
function waitLine(child: ChildProcess, until: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const line = buf.split('\n').find((l) => until(l.trim()));
      if (line === undefined) return;
      child.stdout!.off('data', onData);
      child.off('close', onExit);
      resolve(line.trim());
    };
    const onExit = (code: number | null) => reject(new Error(`child exited with ${code} before printing its result:\n${buf}`));
    child.stdout!.on('data', onData);
    child.once('close', onExit);
  });
}

const isJson = (l: string) => l.startsWith('{');

async function runInProcess(spec: ChildSpec): Promise<{ seconds: number; peakRssMb: number }> {
  const child = spawnChild(spec);
  child.stdin!.end();
  return JSON.parse(await waitLine(child, isJson));
}

async function runOrchestrated(spec: ChildSpec, address: string): Promise<{ seconds: number; peakRssMb: number; startupPeakMb: number | null; rssReadyMb: number | null }> {
  const child = spawnChild({ ...spec, address, taskQueue: `bench-orch-${spec.pipelineName}` });
  await waitLine(child, (l) => l === 'READY');
  const client = await TideClient.connect({ address, taskQueue: `bench-orch-${spec.pipelineName}` });
  try {
    const t0 = performance.now();
    await client.runNow(spec.pipelineName);
    const seconds = (performance.now() - t0) / 1000;
    const result = waitLine(child, isJson);
    child.stdin!.end('stop\n');
    return { seconds, ...JSON.parse(await result) };
  } finally {
    await client.close();
  }
}

// ------------------------------------------------------------------ measuring the server
/** Samples the total size of the tables in `schema` every 200 ms; `stop()` gives the peak in bytes. */
function sampleStaging(url: string, schema: string): { stop: () => Promise<number> } {
  let peak = 0;
  let stopped = false;
  const loop = (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      while (!stopped) {
        const r = await c
          .query<{ b: string }>(
            `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
            [schema],
          )
          .catch(() => ({ rows: [{ b: '0' }] }));
        peak = Math.max(peak, Number(r.rows[0].b));
        await sleep(200);
      }
    } finally {
      await c.end();
    }
  })();
  return { stop: async () => ((stopped = true), await loop, peak) };
}

async function walLsn(c: pg.Client): Promise<string> {
  return (await c.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
}

async function walBytesSince(c: pg.Client, lsn: string): Promise<number> {
  return Number((await c.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS b', [lsn])).rows[0].b);
}

interface EndState {
  root: number;
  nested: number;
  changed: number;
}

async function endState(c: pg.Client, ds: string): Promise<EndState> {
  const r = await c.query<{ root: string; changed: string; nested: string }>(
    `SELECT (SELECT count(*) FROM ${ident(ds)}.items) AS root,
            (SELECT count(*) FROM ${ident(ds)}.items WHERE right(title, ${CHANGED_SUFFIX.length}) = $1) AS changed,
            (SELECT count(*) FROM ${ident(ds)}.items__labels) AS nested`,
    [CHANGED_SUFFIX],
  );
  return { root: Number(r.rows[0].root), nested: Number(r.rows[0].nested), changed: Number(r.rows[0].changed) };
}

// ------------------------------------------------------------------ one measured load
interface Measured {
  seconds: number;
  rows: number;
  peakRssMb: number;
  /** the worker's peak before READY (start-up: modules, workflow bundle, workflow thread); null in-process */
  startupPeakMb: number | null;
  /** the idle worker's RSS before the run (null in-process) */
  rssReadyMb: number | null;
  stagingBytes: number;
  walBytes: number;
  state: EndState;
}

interface Ctx {
  url: string;
  address: string;
  client: pg.Client;
}

async function measure(ctx: Ctx, mode: 'in-process' | 'worker', spec: Omit<ChildSpec, 'mode' | 'url'>, rows: number): Promise<Measured> {
  await ctx.client.query('CHECKPOINT').catch(() => undefined);
  const lsn = await walLsn(ctx.client);
  const sampler = sampleStaging(ctx.url, `${spec.dataset}_staging`);
  const full: ChildSpec = { ...spec, mode, url: ctx.url };
  const r = mode === 'in-process' ? { startupPeakMb: null, rssReadyMb: null, ...(await runInProcess(full)) } : await runOrchestrated(full, ctx.address);
  const stagingBytes = await sampler.stop();
  const walBytes = await walBytesSince(ctx.client, lsn);
  const state = await endState(ctx.client, spec.dataset);
  return { ...r, rows, stagingBytes, walBytes, state };
}

// ------------------------------------------------------------------ dlt (optional)
/** dlt's defaults merging the changed items into the items (untimed initial fill with csv), via bench/dlt_merge.py. */
function runDlt(url: string, dataset: string, initial: string, timed: string): Promise<{ seconds: number; initialSeconds: number }> {
  const env = { ...process.env, RUNTIME__DLTHUB_TELEMETRY: 'false', PYTHONUNBUFFERED: '1' };
  const child = spawn(VENV_PY, [join(BENCH_DIR, 'dlt_merge.py'), 'delete-insert', initial, timed, url, dataset, 'csv'], {
    cwd: join(BENCH_DIR, '..'),
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return (async () => {
    await waitLine(child, (l) => l.startsWith('SETTLE '));
    child.stdin!.end('go\n');
    return JSON.parse(await waitLine(child, isJson));
  })();
}

// ------------------------------------------------------------------ report
const MB = 2 ** 20;
const check = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function printTable(results: { label: string; m: Measured }[]): void {
  const head = ['load', 'rows (root)', 'seconds', 'rows/s', 'peak RSS MB', 'worker start-up peak / idle MB', 'staging MB', 'WAL MB', 'end state (root / nested / changed)'];
  const lines = results.map(({ label, m }) => [
    label,
    fmtInt(m.rows),
    m.seconds.toFixed(2),
    fmtInt(m.rows / m.seconds),
    fmtInt(m.peakRssMb),
    m.rssReadyMb === null ? '-' : `${fmtInt(m.startupPeakMb ?? NaN)} / ${fmtInt(m.rssReadyMb)}`,
    (m.stagingBytes / MB).toFixed(1),
    (m.walBytes / MB).toFixed(1),
    `${fmtInt(m.state.root)} / ${fmtInt(m.state.nested)} / ${fmtInt(m.state.changed)}`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((x, i) => (i === 0 || i === 8 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  console.log(fmt(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

function printTargets(r: Record<string, Measured>, dlt: { seconds: number; initialSeconds: number } | undefined): void {
  const rate = (m: Measured) => m.rows / m.seconds;
  const line = (what: string, value: string, target: string, ok: boolean) => console.log(`${what.padEnd(58)} ${value.padStart(9)}   target ${target.padEnd(8)} ${check(ok)}`);
  for (const [k, name] of [['append', 'append'], ['merge', 'merge first load'], ['merge100k', 'merge of the changed items']] as const) {
    const x = rate(r[`wk.${k}`]) / rate(r[`ip.${k}`]);
    if (k === 'merge100k') console.log(`${`orchestrated / in-process, ${name} (rows/s)`.padEnd(58)} ${`${x.toFixed(2)}×`.padStart(9)}   (informative)`);
    else line(`orchestrated / in-process, ${name} (rows/s)`, `${x.toFixed(2)}×`, '≥ 0.9×', x >= 0.9);
  }
  for (const [p, name] of [['wk', 'orchestrated'], ['ip', 'in-process']] as const) {
    const x = r[`${p}.merge`].seconds / r[`${p}.append`].seconds;
    line(`merge first load / append (seconds), ${name}`, `${x.toFixed(2)}×`, '≤ 1.3×', x <= 1.3);
  }
  for (const [k, name] of [['append', 'append'], ['merge', 'merge first load'], ['merge100k', 'merge of the changed items']] as const) {
    const x = rate(r[`ws.${k}`]) / rate(r[`ip.${k}`]);
    console.log(`${`orchestrated staged / in-process, ${name} (rows/s)`.padEnd(58)} ${`${x.toFixed(2)}×`.padStart(9)}   (informative: decompose 'serialize')`);
  }
  const peak = Math.max(...['append', 'merge', 'merge100k'].map((k) => r[`wk.${k}`].peakRssMb));
  line('worker peak RSS during the runs (max of the 3 cases)', `${fmtInt(peak)} MB`, '≤ 250 MB', peak <= 250);
  if (!dlt) return console.log('dlt: not run (add --dlt)');
  console.log(`dlt (defaults: insert_values, delete-insert) merging the same changed items: ${dlt.seconds.toFixed(2)} s (its untimed initial fill, csv: ${dlt.initialSeconds.toFixed(1)} s)`);
  const x = dlt.seconds / r['wk.merge100k'].seconds;
  line('merge of the changed items: dlt seconds / orchestrated seconds', `${x.toFixed(1)}×`, '≥ 5×', x >= 5);
}

// ------------------------------------------------------------------ main
interface Case {
  key: 'append' | 'merge' | 'merge100k';
  file: string;
  merge: boolean;
  rows: number;
  /** dataset / pipeline shared with an earlier case */
  dsKey: string;
}

/**
 * In-process; the orchestrated default (decompose 'none': one activity extracts and loads in one
 * transaction); and the staged path (decompose 'serialize': an extract activity stages into unlogged
 * tables, a load activity applies them), the option a decomposed or resumable run takes.
 */
const CONTENDERS = [
  { p: 'ip', mode: 'in-process', decompose: undefined, label: 'in-process' },
  { p: 'wk', mode: 'worker', decompose: 'none', label: 'orchestrated' },
  { p: 'ws', mode: 'worker', decompose: 'serialize', label: 'orchestrated, staged' },
] as const;

async function runCases(ctx: Ctx, cases: Case[], tag: string): Promise<{ label: string; key: string; m: Measured }[]> {
  const out: { label: string; key: string; m: Measured }[] = [];
  for (const c of cases) {
    for (const { p, mode, decompose, label } of CONTENDERS) {
      const name = `bench_orch_${p}_${c.dsKey}_${tag}`;
      log(`${c.key}, ${label}: ${fmtInt(c.rows)} items into ${name}`);
      const m = await measure(ctx, mode, { pipelineName: name, dataset: name, file: c.file, merge: c.merge, decompose }, c.rows);
      log(`${c.key}, ${label}: ${m.seconds.toFixed(2)} s`);
      out.push({ label: `${c.key}, ${label}`, key: `${p}.${c.key}`, m });
    }
  }
  return out;
}

/** In-process and orchestrated must end alike, and as expected: N root rows, M changed after case 3. */
function verify(results: { key: string; m: Measured }[], opts: Options): void {
  const by = Object.fromEntries(results.map((r) => [r.key, r.m.state]));
  for (const k of ['append', 'merge', 'merge100k']) {
    const a = by[`ip.${k}`];
    for (const p of ['wk', 'ws']) {
      const b = by[`${p}.${k}`];
      if (a.root !== b.root || a.nested !== b.nested || a.changed !== b.changed) throw new Error(`${k}: in-process ${JSON.stringify(a)} ≠ ${p} ${JSON.stringify(b)}`);
    }
    const changed = k === 'merge100k' ? opts.changed : 0;
    if (a.root !== opts.items || a.changed !== changed) throw new Error(`${k}: end state ${JSON.stringify(a)}, expected ${opts.items} root rows, ${changed} changed`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const data = await ensureDataFile(opts.items, log);
  const changedFile = await ensureChangedFile(data.file, opts.items, opts.changed);
  const dltVersion = opts.dlt ? ensureDltVenv(log) : undefined;
  const server = await startPostgres();
  const temporal = await startTemporal();
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  const tag = Math.random().toString(36).slice(2, 8);
  const schemas: string[] = [];
  try {
    const v = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    const cases: Case[] = [
      { key: 'append', file: data.file, merge: false, rows: opts.items, dsKey: 'append' },
      { key: 'merge', file: data.file, merge: true, rows: opts.items, dsKey: 'merge' },
      { key: 'merge100k', file: changedFile, merge: true, rows: opts.changed, dsKey: 'merge' },
    ];
    for (const { p } of CONTENDERS) for (const k of ['append', 'merge']) schemas.push(`bench_orch_${p}_${k}_${tag}`);
    const results = await runCases({ url: server.url, address: temporal.address, client }, cases, tag);
    verify(results, opts);
    let dlt: { seconds: number; initialSeconds: number } | undefined;
    if (opts.dlt) {
      const ds = `bench_orch_dlt_${tag}`;
      schemas.push(ds);
      log(`dlt ${dltVersion}: untimed initial load (csv) of ${fmtInt(opts.items)} items, then timed merge of ${fmtInt(opts.changed)} (defaults)`);
      dlt = await runDlt(server.url, ds, data.file, changedFile);
      log(`dlt: initial ${dlt.initialSeconds.toFixed(1)} s, timed ${dlt.seconds.toFixed(2)} s`);
    }
    console.log('');
    console.log(`orchestrated bench: ${fmtInt(opts.items)} items (${data.file.replace(`${BENCH_DIR}/`, 'bench/')}), ${fmtInt(opts.changed)} changed; ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`);
    console.log(`postgres ${v} (${server.embedded ? 'embedded' : 'TIDE_BENCH_POSTGRES_URL'}), Temporal ${process.env.TEMPORAL_ADDRESS ? 'TEMPORAL_ADDRESS' : 'dev server'}; one run each; merge = merge on id (delete-insert), nested list labels → items__labels`);
    console.log('');
    printTable(results);
    console.log('');
    console.log('seconds: in-process = pipeline creation → run() resolved (in the child); orchestrated = client.runNow() → result (worker already polling)');
    console.log('peak RSS MB: in-process = maxRSS of its process; orchestrated = the worker process\'s peak from READY (polling) to the end of the run (VmHWM after echo 5 > /proc/self/clear_refs); start-up peak = its maxRSS before READY (the workflow bundle is built, when not cached, in a child process of its own), idle = its RSS at READY');
    console.log('staging MB: peak of sum(pg_total_relation_size) over the tables in <dataset>_staging, sampled every 200 ms (the tables are dropped by the load)');
    console.log('WAL MB: pg_wal_lsn_diff(pg_current_wal_lsn()) after − before the load (every write of the server, logged tables: final + staging)');
    console.log('');
    const byKey = Object.fromEntries(results.map((r) => [r.key, r.m]));
    printTargets(byKey, dlt);
  } finally {
    if (!opts.keep) for (const s of schemas) for (const x of [s, `${s}_staging`]) await client.query(`DROP SCHEMA IF EXISTS ${ident(x)} CASCADE`).catch(() => undefined);
    else log(`kept schemas ${schemas.join(', ')}`);
    await client.end().catch(() => undefined);
    await temporal.stop();
    await server.stop();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
