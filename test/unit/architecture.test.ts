/**
 * The shape of the house, checked from the source text (docs/architecture.md):
 * - nothing under pipeline/ imports destinations/ or @temporalio/* (the engine runs on its own and
 *   does not choose its driver);
 * - workflows/ reach only deterministic code: following their runtime imports transitively, every
 *   module is one of the pure modules listed below, and every package is the workflow SDK; they
 *   import nothing of pipeline/ directly (the pure helpers and types they need come through temporal/);
 * - SQL text is written only under destinations/postgres/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Modules a workflow may load at runtime (pure: no I/O, no clock, no randomness). */
const WORKFLOW_SAFE_FILES = [/^workflows\/[^/]+\.ts$/, /^temporal\/(?!connection\.ts$)[^/]+\.ts$/, /^pipeline\/interval\.ts$/, /^pipeline\/incremental\/compare\.ts$/, /^pipeline\/errors\.ts$/, /^pipeline\/counts\.ts$/, /^pipeline\/schema\.ts$/, /^pipeline\/parallel\.ts$/];
const WORKFLOW_SAFE_PACKAGES = ['@temporalio/workflow', '@temporalio/common'];

/** Product code (not tests, benchmarks or build scripts). */
const PRODUCT_DIRS = ['pipeline', 'destinations', 'activities', 'workflows', 'worker', 'client', 'common', 'temporal', 'sources'];

interface Import {
  specifier: string;
  /** `import type` / `export type`, or only `type` specifiers: erased at runtime */
  typeOnly: boolean;
}

/** The imports of a TypeScript source text (static, re-exports and dynamic `import('…')`). */
export function importsOf(text: string): Import[] {
  const out: Import[] = [];
  const code = stripComments(text);
  const stat = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (let m; (m = stat.exec(code)); ) {
    const clause = m[3].trim();
    const onlyTypes = /^\{[^}]*\}$/.test(clause) && clause.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    out.push({ specifier: m[4], typeOnly: !!m[2] || onlyTypes });
  }
  for (const m of code.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) out.push({ specifier: m[1], typeOnly: false });
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ specifier: m[1], typeOnly: false });
  return out;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** SQL statements written in a source text (outside comments). */
export function sqlIn(text: string): string[] {
  const re = /\b(SELECT\s+[\w*"(),.: ]+?\s+FROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET|ALTER\s+TABLE|CREATE\s+(?:TEMP\s+|UNIQUE\s+)?(?:TABLE|SCHEMA|INDEX)|DROP\s+(?:TABLE|SCHEMA)|TRUNCATE\s+["\w$])/gi;
  return [...stripComments(text).matchAll(re)].map((m) => m[0]);
}

function filesUnder(dir: string): string[] {
  const abs = join(ROOT, dir);
  let entries: string[];
  try {
    entries = readdirSync(abs);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = join(dir, e);
    if (statSync(join(ROOT, rel)).isDirectory()) return e === 'node_modules' || e === 'testdata' ? [] : filesUnder(rel);
    return e.endsWith('.ts') && !e.endsWith('.test.ts') ? [rel] : [];
  });
}

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

function resolveRelative(from: string, specifier: string): string {
  return relative(ROOT, resolve(ROOT, dirname(from), specifier));
}

/** Every module and package a set of entry files loads at runtime, following relative imports. */
function runtimeClosure(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [...entries];
  while (queue.length) {
    const f = queue.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const i of importsOf(read(f))) {
      if (i.typeOnly) continue;
      if (i.specifier.startsWith('.')) queue.push(resolveRelative(f, i.specifier));
      else packages.set(i.specifier, f);
    }
  }
  return { files, packages };
}

describe('the import and SQL rules', () => {
  it('the checkers see what they are meant to see (they can fail)', () => {
    const text = [
      "import type { A } from '../destinations/postgres/x.ts';",
      "import { type B, C } from '@temporalio/client';",
      "// import { D } from 'pg';",
      "export { E } from './e.ts';",
      "const m = await import('node:fs');",
      "const q = `SELECT a, b FROM ${t}`; // DELETE FROM in a comment is fine",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      { specifier: '../destinations/postgres/x.ts', typeOnly: true },
      { specifier: '@temporalio/client', typeOnly: false },
      { specifier: './e.ts', typeOnly: false },
      { specifier: 'node:fs', typeOnly: false },
    ]);
    expect(sqlIn(text)).toEqual(['SELECT a, b FROM']);
  });

  it('pipeline/ imports neither destinations/ nor @temporalio/*', () => {
    const bad = filesUnder('pipeline').flatMap((f) =>
      importsOf(read(f))
        .filter((i) => i.specifier.startsWith('@temporalio/') || resolveRelative(f, i.specifier).startsWith('destinations/'))
        .map((i) => `${f} → ${i.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('workflows/ load only deterministic modules and the workflow SDK', () => {
    const { files, packages } = runtimeClosure(filesUnder('workflows'));
    expect([...files].filter((f) => !WORKFLOW_SAFE_FILES.some((re) => re.test(f))).sort()).toEqual([]);
    // a module of a safe package (`@temporalio/common/lib/time.js`) is that package
    expect([...packages].filter(([p]) => !WORKFLOW_SAFE_PACKAGES.some((safe) => p === safe || p.startsWith(`${safe}/`))).map(([p, f]) => `${f} → ${p}`)).toEqual([]);
  });

  it('workflows/ import nothing of pipeline/ (its pure helpers and types come through temporal/)', () => {
    const bad = filesUnder('workflows').flatMap((f) =>
      importsOf(read(f))
        .filter((i) => resolveRelative(f, i.specifier).startsWith('pipeline/'))
        .map((i) => `${f} → ${i.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('SQL text is written only under destinations/postgres/ (and the SQL source, which reads a source database)', () => {
    const files = [...PRODUCT_DIRS.flatMap(filesUnder), 'index.ts'].filter((f) => !f.startsWith('destinations/postgres/') && !f.startsWith('sources/sql-database/'));
    expect(files.length).toBeGreaterThan(20);
    const bad = files.flatMap((f) => sqlIn(read(f)).map((s) => `${f}: ${s}`));
    expect(bad).toEqual([]);
  });
});
