/**
 * Builds the workflow bundle in a process of its own (started by worker/bundle.ts), so webpack's
 * heap goes away with this process instead of staying in the worker's RSS.
 *
 *   node --import tsx worker/build-bundle.ts <dir>
 *
 * Writes `<dir>/workflow-<sha>.js` and `<dir>/manifest.json` (see `Manifest`), removes older
 * bundles of `<dir>`, and prints the bundle's path.
 */
import { readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { DEVTOOL, MANIFEST, WORKFLOWS_PATH, inputState, sha256, toolchain, type Manifest } from './bundle.ts';

type WebpackConfiguration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => process.env.TIDE_DEBUG && process.stderr.write(`${m}\n`),
  error: (m: string) => process.stderr.write(`${m}\n`),
};

/** The bundle, and every path webpack read (files, and directories it resolved through) or looked for and did not find. */
async function bundleWithInputs(): Promise<{ code: string; inputs: string[] }> {
  const inputs = new Set<string>();
  const hook = (config: WebpackConfiguration): WebpackConfiguration => ({
    ...config,
    devtool: DEVTOOL,
    plugins: [
      ...(config.plugins ?? []),
      {
        apply: (compiler) =>
          compiler.hooks.afterCompile.tap('tide-bundle-inputs', (c) => {
            for (const p of [...c.fileDependencies, ...c.contextDependencies, ...c.missingDependencies]) inputs.add(p);
          }),
      },
    ],
  });
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger, webpackConfigHook: hook });
  return { code, inputs: [...inputs].sort() };
}

/** Written under a temporary name then renamed, so a worker starting meanwhile reads the old file or the new one. */
function writeAtomically(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * A file changed since `t` (ms): webpack may have read it before the change, so its hash now would
 * not describe the bundle. Files only: a directory's mtime moves with any file added to it.
 */
function changedSince(paths: string[], t: number): boolean {
  return paths.some((p) => {
    try {
      const s = statSync(p);
      return s.isFile() && s.mtimeMs >= t;
    } catch {
      return false;
    }
  });
}

function removeOtherBundles(dir: string, keep: string): void {
  for (const f of readdirSync(dir)) {
    if (!/^workflow-[0-9a-f]+\.js$/.test(f) || f === keep) continue;
    try {
      unlinkSync(join(dir, f));
    } catch {
      /* removed by a concurrent build */
    }
  }
}

async function main(dir: string): Promise<void> {
  const started = Date.now() - 1000; // slack for coarse file-system timestamps
  const { code, inputs } = await bundleWithInputs();
  const bundle = `workflow-${sha256(code).slice(0, 16)}.js`;
  writeAtomically(join(dir, bundle), code);
  // An edit during the build: the bundle serves this start, but no manifest vouches for it, so the next start rebuilds.
  if (!changedSince(inputs, started)) {
    const manifest: Manifest = { toolchain: toolchain(), inputs: inputs.map((p) => [p, inputState(p)]), bundle };
    writeAtomically(join(dir, MANIFEST), JSON.stringify(manifest));
  }
  removeOtherBundles(dir, bundle);
  process.stdout.write(`${join(dir, bundle)}\n`);
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: node --import tsx worker/build-bundle.ts <dir>');
await main(dir);
