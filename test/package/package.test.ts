/**
 * tide as a user installs it: `npm pack`, the tarball installed into fresh projects outside the
 * repository, then used there only through the package (dist/, the `tide` bin, the shipped types
 * and templates). Project B has no `"type": "module"` and a normal npm install; project A is made
 * by `tide init` and installed with `--ignore-scripts` (npm 11 skips the install scripts of
 * dependencies nobody approved; --ignore-scripts skips them all), and uses the embedded Postgres.
 *
 *   npm run test:package
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../common/net.ts';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`). */
function sh(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}, timeoutMs = 240_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `sh` that must exit 0 (else the error shows its output). */
async function ok(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<Exit> {
  const r = await sh(cmd, args, cwd, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * A long-running command in a process group of its own, until `ready` matches its stdout; then it
 * is stopped with SIGINT (SIGKILL to the group after 30 s). Resolves with its output.
 */
function untilReady(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined>, ready: RegExp, work: () => Promise<void> = async () => undefined): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      killGroup(child.pid!, 'SIGINT');
      setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 30_000).unref();
    };
    const overall = setTimeout(stop, 240_000);
    const check = () => {
      if (!stopping && ready.test(stdout + stderr)) work().then(stop, (e) => (stop(), reject(e)));
    };
    child.stdout.on('data', (b: Buffer) => ((stdout += b.toString()), check()));
    child.stderr.on('data', (b: Buffer) => ((stderr += b.toString()), check()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(overall);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Signals the process group `pid` leads (this test started it); gone already is fine. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* every process of the group has exited */
  }
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: pgUrl() });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

const ROOT = process.cwd();
const INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund'];
/** npm 11 (its install-script policy is what the projects must live with): this one, or npx npm@11 where it is older. */
let npm: [string, ...string[]] = ['npm'];
let work: string;
let tarball: string;
let projectA: string; // made by `tide init`, "type": "module", installed without install scripts
let projectB: string; // no "type", a plain npm install

beforeAll(async () => {
  work = tempDir('tide-package-');
  if (Number((await ok('npm', ['-v'], ROOT)).stdout.split('.')[0]) < 11) npm = ['npx', '-y', 'npm@11'];
  await ok('npm', ['pack', '--pack-destination', work], ROOT); // prepack builds dist/
  tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  projectB = join(work, 'b');
  mkdirSync(projectB);
  writeFileSync(join(projectB, 'package.json'), JSON.stringify({ name: 'b', version: '1.0.0', private: true }));
  await ok(npm[0], [...npm.slice(1), ...INSTALL, tarball], projectB);
}, 600_000);

describe('the packed tarball in a project without "type": "module"', () => {
  it('plain node imports tide (dist/, no TypeScript loader) and runs a pipeline into Postgres', async () => {
    const ds = datasetName('pkg_app');
    writeFileSync(
      join(projectB, 'app.mjs'),
      `import { pipeline, resource } from 'tide';
const p = pipeline({ pipelineName: 'pkg_app', datasetName: '${ds}', destination: 'postgres' });
const info = await p.run(resource([{ id: 1, name: 'a' }, { id: 2, name: 'b' }], { name: 'items' }));
console.log(JSON.stringify(info.tables));
`,
    );
    const r = await ok('node', ['app.mjs'], projectB, { TIDE_POSTGRES_URL: pgUrl() });
    expect(JSON.parse(r.stdout.trim())).toEqual({ items: { rows: 2 } });
    expect(await query(`SELECT id, name FROM ${ds}.items ORDER BY id`)).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: 'b' },
    ]);
  });

  it('npm ls protobufjs: one 8.x copy, the one the Temporal SDK loads', async () => {
    const r = await ok('npm', ['ls', 'protobufjs', '--all', '--parseable'], projectB);
    const dirs = r.stdout.trim().split('\n');
    const versions = dirs.map((dir) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version);
    const eight = dirs.filter((_, i) => versions[i].startsWith('8.'));
    expect(eight).toHaveLength(1);
    // the copy each Temporal package tide uses resolves to
    writeFileSync(
      join(projectB, 'protobufjs.cjs'),
      `const { createRequire } = require('node:module');
const fromTide = createRequire(require.resolve('tide/package.json'));
for (const p of ['@temporalio/common', '@temporalio/proto', '@temporalio/worker', '@temporalio/client'])
  console.log(createRequire(fromTide.resolve(p + '/package.json')).resolve('protobufjs/package.json'));
`,
    );
    const used = (await ok('node', ['protobufjs.cjs'], projectB)).stdout.trim().split('\n');
    expect(used).toEqual(Array(4).fill(join(eight[0], 'package.json')));
    // the only other copy is @grpc/proto-loader's 7.x (it parses .proto files; the SDK's payloads use 8.x)
    expect(versions.filter((v) => !v.startsWith('8.')).every((v) => v.startsWith('7.'))).toBe(true);
  });

  it('npx tide run and npx tide worker load a TypeScript pipelines module', async () => {
    const [ds1, ds2] = [datasetName('pkg_run'), datasetName('pkg_wrk')];
    mkdirSync(join(projectB, 'src'), { recursive: true });
    writeFileSync(join(projectB, 'src', 'items.ts'), `import { resource } from 'tide';\nexport const items = resource([{ id: 1, name: 'a' }, { id: 2, name: 'b' }, { id: 3, name: 'c' }], { name: 'items' });\n`);
    const mod = (name: string, ds: string) =>
      `import { definePipeline } from 'tide';\nimport { items } from './src/items.ts';\nexport default [definePipeline({ name: '${name}', datasetName: '${ds}', source: () => items, schedule: { every: 'day' } })];\n`;
    writeFileSync(join(projectB, 'tide.pipelines.ts'), mod('pkg_run', ds1));
    const run = await ok('npx', ['tide', 'run', 'pkg_run', '--no-show'], projectB, { TIDE_POSTGRES_URL: pgUrl() });
    expect(run.stdout).toMatch(/items\s+3\n/);
    expect(await query(`SELECT id, name FROM ${ds1}.items ORDER BY id`)).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: 'b' },
      { id: '3', name: 'c' },
    ]);

    writeFileSync(join(projectB, 'worker.pipelines.ts'), mod('pkg_wrk', ds2));
    const tq = taskQueue('pkg');
    const env = { TIDE_POSTGRES_URL: pgUrl(), TEMPORAL_ADDRESS: temporalAddress() };
    let trigger: Exit | undefined;
    const worker = await untilReady('npx', ['tide', 'worker', '--pipelines', 'worker.pipelines.ts', '--task-queue', tq], projectB, env, /tide worker: 1 pipeline/, async () => {
      trigger = await ok('npx', ['tide', 'trigger', 'pkg_wrk', '--pipelines', 'worker.pipelines.ts', '--task-queue', tq], projectB, env);
    });
    expect(worker.stderr).toContain('tide worker: 1 pipeline(s) [pkg_wrk]');
    expect(trigger!.stdout).toMatch(/Pipeline pkg_wrk load \d+\.\d+ committed: 3 rows\n {2}items {2}3\n/);
    expect(await query(`SELECT id, name FROM ${ds2}.items ORDER BY id`)).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: 'b' },
      { id: '3', name: 'c' },
    ]);
  });
});

describe('a project made by tide init, installed without install scripts', () => {
  beforeAll(async () => {
    projectA = join(work, 'a');
    const init = await ok('npx', ['tide', 'init', projectA, '--no-install', '--tide', tarball], projectB);
    expect(init.stdout).toContain('created tide.pipelines.ts');
    await ok(npm[0], [...npm.slice(1), ...INSTALL, '--ignore-scripts'], projectA);
  }, 600_000);

  it('scaffolds package.json, tsconfig.json, tide.pipelines.ts, .tide/config.toml and secrets.toml, .gitignore', () => {
    for (const f of ['package.json', 'tsconfig.json', 'tide.pipelines.ts', '.gitignore', '.tide/config.toml', '.tide/secrets.toml']) expect(existsSync(join(projectA, f)), f).toBe(true);
    const pkg = JSON.parse(readFileSync(join(projectA, 'package.json'), 'utf8')) as { type: string; dependencies: Record<string, string> };
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies.tide).toBe(`file:../${basename(tarball)}`); // --tide, from the project
  });

  it('type-checks against the shipped types, which catch a wrong option', async () => {
    await ok('npx', ['tsc', '--noEmit'], projectA);
    writeFileSync(join(projectA, 'wrong.ts'), `import { resource } from 'tide';\nexport const r = resource([{ id: 1 }], { writeDisposition: 'upsert' });\n`);
    const r = await sh('npx', ['tsc', '--noEmit'], projectA);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/^wrong\.ts\(2,\d+\): error TS2769[\s\S]*'"upsert"' is not assignable to type 'WriteDisposition/);
  });

  it('npx tide run example loads into the embedded Postgres', async () => {
    const r = await ok('npx', ['tide', 'run', 'example'], projectA, { TIDE_POSTGRES_URL: undefined, TIDE_HOME: undefined });
    expect(r.stdout).toMatch(/events\s+3\n/);
    expect(r.stdout).toMatch(/events__tags\s+3\n/);
    const events = [...r.stdout.matchAll(/^ {2}(\{"id".*\})$/gm)].map((m) => JSON.parse(m[1]) as Record<string, unknown>);
    expect(events.map((e) => [e.id, e.type])).toEqual([
      [1, 'signup'],
      [2, 'login'],
      [3, 'purchase'],
    ]);
  });

  it('npx tide dev starts (its own embedded Postgres and Temporal) and loads the example', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const dev = await untilReady(
      join(projectA, 'node_modules', '.bin', 'tide'),
      ['dev', '--port', String(port), '--ui-port', String(uiPort)],
      projectA,
      { TIDE_POSTGRES_URL: undefined, TIDE_HOME: join(projectA, '.tide-dev') },
      /first run of example[^\n]*\n[^\n]*(load|nothing new|failed)[^\n]*\n/,
    );
    expect(dev.stdout).toContain('tide dev is running');
    expect(dev.stdout).toMatch(/load \d+\.\d+: events 3 rows, events__tags 3 rows/);
  });

  it('npx tide worker serves the example (a "type": "module" project)', async () => {
    const tq = taskQueue('pkg');
    // TIDE_HOME of the dev test: its workflow bundle is reused
    const env = { TIDE_POSTGRES_URL: pgUrl(), TEMPORAL_ADDRESS: temporalAddress(), TIDE_HOME: join(projectA, '.tide-dev') };
    let trigger: Exit | undefined;
    await untilReady('npx', ['tide', 'worker', '--task-queue', tq], projectA, env, /tide worker: 1 pipeline/, async () => {
      trigger = await ok('npx', ['tide', 'trigger', 'example', '--task-queue', tq], projectA, env);
    });
    expect(trigger!.stdout).toMatch(/Pipeline example load \d+\.\d+ committed: 6 rows\n {2}events {2}3\n {2}events__tags {2}3\n/);
    expect(await query('SELECT id, type FROM example_data.events ORDER BY id')).toEqual([
      { id: '1', type: 'signup' },
      { id: '2', type: 'login' },
      { id: '3', type: 'purchase' },
    ]);
  });
});
