/**
 * The workflow bundle built ahead of the worker (worker/bundle.ts): built once in a child process
 * into `$TIDE_HOME/cache`, reused while its inputs are unchanged, rebuilt as soon as one differs
 * from what its manifest recorded (a stale bundle is never used).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST, WORKFLOWS_PATH, bundleDir, inputState, type Manifest } from '../../worker/bundle.ts';
import { workflowBundle } from '../../worker/index.ts';

const IDS_PATH = fileURLToPath(new URL('../../temporal/ids.ts', import.meta.url));

describe('the workflow bundle cache', () => {
  let home: string;
  const oldHome = process.env.TIDE_HOME;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'tide-bundle-'));
    process.env.TIDE_HOME = home;
  });
  afterAll(() => {
    if (oldHome === undefined) delete process.env.TIDE_HOME;
    else process.env.TIDE_HOME = oldHome;
    rmSync(home, { recursive: true, force: true });
  });
  const manifestPath = () => join(bundleDir(), MANIFEST);
  const manifest = () => JSON.parse(readFileSync(manifestPath(), 'utf8')) as Manifest;

  it('builds the bundle under TIDE_HOME with a manifest of what webpack read, then reuses it', async () => {
    const { codePath } = await workflowBundle();
    expect(codePath.startsWith(join(home, 'cache', 'workflow-bundle'))).toBe(true);
    expect(readFileSync(codePath, 'utf8')).toContain('//# sourceMappingURL=data:application/json');
    const inputs = new Map(manifest().inputs);
    expect(inputs.get(WORKFLOWS_PATH)).toBe(inputState(WORKFLOWS_PATH));
    expect(inputs.get(IDS_PATH)).toMatch(/^[0-9a-f]{64}$/); // a module the workflows import
    expect([...inputs.keys()].some((p) => p.includes('@temporalio/workflow/'))).toBe(true);
    const written = statSync(manifestPath()).mtimeMs;
    expect((await workflowBundle()).codePath).toBe(codePath);
    expect(statSync(manifestPath()).mtimeMs).toBe(written); // checked, not rebuilt
  });

  it('rebuilds when an input is not as the manifest recorded it (an edited workflow source)', async () => {
    const m = manifest();
    const edited: Manifest = { ...m, inputs: m.inputs.map(([p, s]) => [p, p === IDS_PATH ? '0'.repeat(64) : s]) };
    writeFileSync(manifestPath(), JSON.stringify(edited));
    const { codePath } = await workflowBundle();
    expect(new Map(manifest().inputs).get(IDS_PATH)).toBe(inputState(IDS_PATH));
    expect(readFileSync(codePath, 'utf8')).toContain('//# sourceMappingURL=data:application/json');
  });

  it('rebuilds when the bundler differs (another SDK version)', async () => {
    writeFileSync(manifestPath(), JSON.stringify({ ...manifest(), toolchain: 'tide-bundle/1 @temporalio/worker@0.0.0' }));
    await workflowBundle();
    expect(manifest().toolchain).toMatch(/@temporalio\/worker@\d/);
    expect(manifest().toolchain).not.toContain('@0.0.0');
  });
});
