/**
 * The benchmark's data: REST-like JSON items (an issue tracker's API page), generated
 * deterministically from a seeded PRNG and written once to `bench/.data/items-<n>.jsonl`, so tide
 * and dlt load byte-identical input. Thirteen top-level fields: ints, strings, ISO timestamp
 * strings (one nullable), a float, bools, a nested object (flattened into `user__*` columns) and a
 * list of 0–3 small objects (the nested table `items__labels`).
 */
import { parseArgs } from 'node:util';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEphemeralPostgres } from '../destinations/postgres/embedded.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const DATA_DIR = join(BENCH_DIR, '.data');

const SEED = 0x7_1de;

/** mulberry32: a tiny, fast, seedable PRNG (32-bit state), good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'fix', 'crash', 'when', 'loading', 'schema', 'merge', 'cursor', 'state', 'postgres', 'copy', 'timeout',
  'retry', 'backfill', 'nested', 'table', 'column', 'type', 'error', 'slow', 'memory', 'leak', 'docs',
  'add', 'support', 'for', 'incremental', 'primary', 'key', 'deploy', 'worker', 'über', 'naïve', 'テスト',
];
const LABELS = [
  { name: 'bug', color: 'd73a4a' },
  { name: 'enhancement', color: 'a2eeef' },
  { name: 'documentation', color: '0075ca' },
  { name: 'good first issue', color: '7057ff' },
  { name: 'performance', color: 'fbca04' },
  { name: 'wontfix', color: 'ffffff' },
];
const STATES = ['open', 'closed'] as const;
const BASE_MS = Date.UTC(2022, 0, 1);
const SPAN_MS = 3 * 365 * 24 * 3600 * 1000;

export interface BenchItem {
  id: number;
  node_id: string;
  number: number;
  title: string;
  state: (typeof STATES)[number];
  locked: boolean;
  comments: number;
  score: number;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  body: string | null;
  user: { login: string; id: number; site_admin: boolean };
  labels: { name: string; color: string }[];
}

/** Item `i` of the stream driven by `rnd` (call in order: items depend on the PRNG's position). */
export function makeItem(i: number, rnd: () => number): BenchItem {
  const words = (n: number) => {
    let s = WORDS[(rnd() * WORDS.length) | 0];
    for (let k = 1; k < n; k++) s += ` ${WORDS[(rnd() * WORDS.length) | 0]}`;
    return s;
  };
  const created = BASE_MS + Math.floor(rnd() * SPAN_MS);
  const updated = created + Math.floor(rnd() * 30 * 24 * 3600 * 1000);
  const state = STATES[rnd() < 0.6 ? 0 : 1];
  const nLabels = (rnd() * 4) | 0;
  const labels: BenchItem['labels'] = [];
  for (let k = 0; k < nLabels; k++) labels.push(LABELS[(rnd() * LABELS.length) | 0]);
  const userId = 1000 + ((rnd() * 50_000) | 0);
  const r = rnd();
  // bodies: mostly short text, some multi-line (exercises COPY escaping), some absent
  const body = r < 0.15 ? null : r < 0.3 ? `${words(8)}\n\nSteps:\n1. ${words(5)}\n2. ${words(4)}\t(see \\logs)` : words(12 + ((rnd() * 12) | 0));
  return {
    id: 100_000_000 + i,
    node_id: `I_kwDO${(i * 2654435761 >>> 0).toString(36).padStart(7, '0')}`,
    number: i + 1,
    title: words(3 + ((rnd() * 6) | 0)),
    state,
    locked: rnd() < 0.05,
    comments: (rnd() * 40) | 0,
    score: Math.round(rnd() * 1e6) / 1e3,
    created_at: new Date(created).toISOString(),
    updated_at: new Date(updated).toISOString(),
    closed_at: state === 'closed' ? new Date(updated).toISOString() : null,
    body,
    user: { login: `user_${userId}`, id: userId, site_admin: rnd() < 0.01 },
    labels,
  };
}

/** The JSONL file of `n` items (delete `bench/.data/` after changing `makeItem`: files are reused). */
export function dataFile(n: number): string {
  return join(DATA_DIR, `items-${n}.jsonl`);
}

/** Makes sure `bench/.data/items-<n>.jsonl` exists; returns its path and whether it was generated now. */
export async function ensureDataFile(n: number, log: (m: string) => void = () => undefined): Promise<{ file: string; generated: boolean; bytes: number }> {
  const file = dataFile(n);
  if (existsSync(file)) return { file, generated: false, bytes: statSync(file).size };
  mkdirSync(DATA_DIR, { recursive: true });
  log(`generating ${n.toLocaleString('en-US')} items → ${file}`);
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  const rnd = prng(SEED);
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += `${JSON.stringify(makeItem(i, rnd))}\n`;
    if (chunk.length >= 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  renameSync(tmp, file);
  return { file, generated: true, bytes: statSync(file).size };
}

/** Server flags every bench's embedded Postgres runs under (the landscape Appendix's settings). */
export const SERVER_FLAGS = ['-c', 'shared_buffers=1GB', '-c', 'max_wal_size=4GB', '-c', 'max_connections=50'];

/** `TIDE_BENCH_POSTGRES_URL`, else an embedded server with SERVER_FLAGS (stopped and removed by `stop`). */
export async function startBenchPostgres(log: (m: string) => void): Promise<{ url: string; stop: () => Promise<void>; embedded: boolean }> {
  const env = process.env.TIDE_BENCH_POSTGRES_URL;
  if (env) return { url: env, stop: async () => undefined, embedded: false };
  const pg = await startEphemeralPostgres({ prefix: 'tide-bench-pg-', flags: SERVER_FLAGS });
  log(`started embedded Postgres at ${pg.url.replace(/:[^:@]*@/, ':***@')} (data under ${pg.dir})`);
  return { url: pg.url, embedded: true, stop: pg.stop };
}

export const VENV = join(BENCH_DIR, '.venv');
export const VENV_PY = join(VENV, 'bin', 'python');

/** bench/.venv with dlt[postgres]==1.26.0 (the peer tide is measured against), created when missing. Returns dlt's version. */
export function ensureDltVenv(log: (m: string) => void): string {
  const probe = () => spawnSync(VENV_PY, ['-c', 'import dlt, psycopg2; print(dlt.__version__)'], { encoding: 'utf8' });
  let r = existsSync(VENV_PY) ? probe() : undefined;
  if (r?.status === 0) return r.stdout.trim();
  log(`creating ${relative(process.cwd(), VENV) || VENV} and installing "dlt[postgres]==1.26.0" (one time, takes a minute)`);
  const run = (cmd: string, args: string[]) => {
    const x = spawnSync(cmd, args, { stdio: 'inherit' });
    if (x.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${x.status})`);
  };
  if (!existsSync(VENV_PY)) run('python3', ['-m', 'venv', VENV]);
  run(join(VENV, 'bin', 'pip'), ['install', '--quiet', 'dlt[postgres]==1.26.0']);
  r = probe();
  if (r.status !== 0) throw new Error(`dlt is not importable from ${VENV}:\n${r.stderr}`);
  return r.stdout.trim();
}

/** A positive integer command-line value (`1_000_000` and `1,000,000` accepted). */
/**
 * The bench scripts' flags, through node:util's parseArgs: `--flag value` and `--flag=value`,
 * unknown flags refused with the usage, `-h` / `--help` print it and exit.
 */
export function parseBenchArgs<T extends Record<string, 'string' | 'boolean'>>(
  argv: string[],
  options: T,
  usage: string,
): { [K in keyof T]?: T[K] extends 'string' ? string : boolean } {
  let values: Record<string, string | boolean | undefined>;
  try {
    const spec = Object.fromEntries(Object.entries(options).map(([name, type]) => [name, { type }]));
    ({ values } = parseArgs({ args: argv, options: { ...spec, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${usage}`);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values as { [K in keyof T]?: T[K] extends 'string' ? string : boolean };
}

export function parsePositiveInt(v: string | undefined, flag: string, usage: string): number {
  const n = Number(String(v ?? '').replace(/[_,]/g, ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer, got "${v}"\n${usage}`);
  return n;
}

/** The venv of `npm run bench:sources`: dlt's sql_table needs SQLAlchemy, and its pyarrow backend pyarrow and numpy. */
export const SQL_VENV = process.env.TIDE_BENCH_SQL_VENV || join(BENCH_DIR, '.venv-sql');
export const SQL_VENV_PY = join(SQL_VENV, 'bin', 'python');

/** SQL_VENV with dlt 1.26.0, SQLAlchemy, psycopg2, pyarrow and numpy, created when missing. Returns dlt's version. */
export function ensureSqlVenv(log: (m: string) => void): string {
  const probe = () => spawnSync(SQL_VENV_PY, ['-c', 'import dlt, sqlalchemy, psycopg2, pyarrow, numpy; print(dlt.__version__)'], { encoding: 'utf8' });
  let r = existsSync(SQL_VENV_PY) ? probe() : undefined;
  if (r?.status === 0) return r.stdout.trim();
  log(`creating ${SQL_VENV} with dlt[postgres]==1.26.0, sqlalchemy, psycopg2-binary, pyarrow, numpy (one time, takes a few minutes)`);
  const run = (cmd: string, args: string[]) => {
    const x = spawnSync(cmd, args, { stdio: 'inherit' });
    if (x.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${x.status})`);
  };
  if (!existsSync(SQL_VENV_PY)) run('python3', ['-m', 'venv', SQL_VENV]);
  run(join(SQL_VENV, 'bin', 'pip'), ['install', '--quiet', 'dlt[postgres]==1.26.0', 'sqlalchemy', 'psycopg2-binary', 'pyarrow', 'numpy']);
  r = probe();
  if (r.status !== 0) throw new Error(`dlt's sql_table is not importable from ${SQL_VENV}:\n${r.stderr}`);
  return r.stdout.trim();
}

/** Runs a bench contender in a child process (cwd: the repository); its stdout's last line is its JSON result, stderr passes through. */
export function runJsonChild<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: join(BENCH_DIR, '..'), env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${out}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${cmd} printed no JSON result:\n${out}`));
      }
    });
  });
}
