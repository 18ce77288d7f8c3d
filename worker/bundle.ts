/**
 * The workflow bundle, built ahead of the worker instead of inside it.
 *
 * `bundleWorkflowCode` runs webpack, whose heap (~110 MB) a long-lived worker kept at RSS for its
 * whole life. So webpack runs in a short-lived child process (worker/build-bundle.ts) that writes
 * the bundle to `$TIDE_HOME/cache/workflow-bundle/<id>/`, and the worker loads that file
 * (`workflowBundle: { codePath }`). Next to it the child writes a manifest: the bundler's versions
 * and the state of every file webpack read or looked for. A start reuses the bundle only when all
 * of them are as recorded, so an edit of a workflow source, of a module it imports or of the SDK
 * rebuilds it; a stale bundle is never used.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { WorkflowBundlePath } from '@temporalio/worker';
import { tideHome } from '../common/home.ts';

/** '.ts' when tide runs from its sources, '.js' from the compiled package (dist/): the bundler reads the files that ship. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
export const WORKFLOWS_PATH = fileURLToPath(new URL(`../workflows/index${EXT}`, import.meta.url));
const BUILD_SCRIPT = fileURLToPath(new URL(`./build-bundle${EXT}`, import.meta.url));
export const MANIFEST = 'manifest.json';

/** What worker/build-bundle.ts writes next to the bundle. */
export interface Manifest {
  toolchain: string;
  /** [absolute path, inputState(path)] of every file and directory webpack read or looked for */
  inputs: [string, string | null][];
  /** the bundle's file name in the same folder */
  bundle: string;
}

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A path as the manifest records it: the sha256 of a file's bytes, 'dir', or null when absent. */
export function inputState(path: string): string | null {
  try {
    const s = statSync(path);
    return s.isFile() ? sha256(readFileSync(path)) : s.isDirectory() ? 'dir' : 'other';
  } catch {
    return null;
  }
}

/**
 * The bundle's source map: the SDK's `inline-source-map` without `sourcesContent`. The SDK needs an
 * inline map (it maps workflow stack traces to file:line); the sources' text in it is read only with
 * `showStackTraceSources`, which tide leaves off, and costs each worker ~10 MB RSS (the map is
 * parsed in the workflow thread) and half the bundle's size.
 */
export const DEVTOOL = 'inline-nosources-source-map';

/**
 * What shapes the bundle besides its inputs: the bundler of @temporalio/worker (its version and
 * those of webpack and swc, which it resolves) and the options tide gives it.
 */
export function toolchain(): string {
  const fromWorker = createRequire(createRequire(import.meta.url).resolve('@temporalio/worker/package.json'));
  const version = (pkg: string) => `${pkg}@${(fromWorker(`${pkg}/package.json`) as { version: string }).version}`;
  return [`tide-bundle/1 devtool=${DEVTOOL}`, version('@temporalio/worker'), version('webpack'), version('@swc/core')].join(' ');
}

/** The folder of this checkout's bundles: one per workflows path, so two installs sharing a TIDE_HOME do not take turns. */
export function bundleDir(): string {
  return join(tideHome(), 'cache', 'workflow-bundle', sha256(WORKFLOWS_PATH).slice(0, 12));
}

/** The cached bundle's path if its manifest matches the toolchain and every input as it is now. */
function cachedBundle(dir: string): string | undefined {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  const path = join(dir, m.bundle);
  if (m.toolchain !== toolchain() || !existsSync(path)) return undefined;
  return m.inputs.every(([p, state]) => inputState(p) === state) ? path : undefined;
}

/** Runs worker/build-bundle (through tsx when from sources, as the worker's own) and resolves with the bundle's path. */
function buildInChild(dir: string): Promise<string> {
  const tsx = EXT === '.ts' ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  const child = spawn(process.execPath, [...tsx, BUILD_SCRIPT, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      // the bundler's warnings (TIDE_DEBUG) and errors, as when it ran in this process
      if (code === 0 && err) process.stderr.write(err);
      if (code === 0 && out.trim()) resolve(out.trim());
      else reject(new Error(`building the workflow bundle (${BUILD_SCRIPT}) failed with exit code ${code}:\n${err}`));
    });
  });
}

const building = new Map<string, Promise<string>>();

/**
 * The workflow bundle for `Worker.create` / `Worker.runReplayHistory`: the cached file if it is
 * current, else built once (concurrent callers in a process share the build).
 */
export async function workflowBundle(): Promise<WorkflowBundlePath> {
  const dir = bundleDir();
  const cached = cachedBundle(dir);
  if (cached) return { codePath: cached };
  let build = building.get(dir);
  if (!build) {
    mkdirSync(dir, { recursive: true });
    build = buildInChild(dir).finally(() => building.delete(dir));
    building.set(dir, build);
  }
  return { codePath: await build };
}
