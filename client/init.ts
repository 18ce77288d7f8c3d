/**
 * `tide init [dir]`: a new project that uses tide, from the files in templates/init/ (shipped
 * with the package). Files that exist already are kept, so it is safe to run in a project.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { TideError } from '../pipeline/errors.ts';

/** tide's own package.json (the package root holds templates/). */
const PACKAGE_JSON = createRequire(import.meta.url).resolve('tide/package.json');
const TEMPLATES = join(dirname(PACKAGE_JSON), 'templates', 'init');

/** [file in the project, template] (npm leaves `.gitignore` out of packages, so the template has no dot). */
const FILES: [string, string][] = [
  ['tsconfig.json', 'tsconfig.json'],
  ['tide.pipelines.ts', 'tide.pipelines.ts'],
  ['.gitignore', 'gitignore'],
  [join('.tide', 'config.toml'), 'config.toml'],
  [join('.tide', 'secrets.toml'), 'secrets.toml'],
];

interface TidePackage {
  version: string;
  devDependencies: Record<string, string>;
}

/**
 * The project's package.json: an ES module project depending on tide (`tideSpec`, else this
 * version's range), with TypeScript for `npm run typecheck`.
 */
function projectPackage(dir: string, tideSpec: string | undefined): string {
  const tide = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as TidePackage;
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'tide-project';
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: { dev: 'tide dev', typecheck: 'tsc --noEmit' },
    dependencies: { tide: tideSpec ?? `^${tide.version}` },
    devDependencies: { typescript: tide.devDependencies.typescript, '@types/node': tide.devDependencies['@types/node'] },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

export interface InitResult {
  dir: string;
  created: string[];
  kept: string[];
}

/**
 * Writes the project files missing from `dir` (made if needed). `tideSpec`: how package.json
 * depends on tide (a range, a tarball, a folder, a git URL).
 */
export function scaffold(target: string, tideSpec?: string): InitResult {
  const dir = resolve(target);
  const result: InitResult = { dir, created: [], kept: [] };
  const write = (file: string, make: (path: string) => void) => {
    const path = join(dir, file);
    if (existsSync(path)) return result.kept.push(file);
    mkdirSync(dirname(path), { recursive: true });
    make(path);
    result.created.push(file);
  };
  // a path (a tarball, a folder) as given on the command line, from the current folder: package.json's is from the project's
  const spec = tideSpec && existsSync(tideSpec) ? `file:${relative(dir, resolve(tideSpec)) || '.'}` : tideSpec;
  write('package.json', (path) => writeFileSync(path, projectPackage(dir, spec)));
  for (const [file, template] of FILES) write(file, (path) => copyFileSync(join(TEMPLATES, template), path));
  return result;
}

/** `npm install` in `dir`, its output on this terminal. */
export function npmInstall(dir: string): Promise<void> {
  const child = spawn('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit', shell: process.platform === 'win32' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new TideError(`npm install in ${dir} exited with code ${code}`))));
  });
}
