/**
 * Importing the user's pipelines module (`tide.pipelines.ts` / `.js`). A `.js` or `.mjs` module is
 * imported as Node imports it. A TypeScript one goes through tsx, registered on first need: the
 * compiled tide (dist/) needs no tsx for itself, and a checkout of tide's sources registered it
 * already (bin/tide.js).
 */
import { register as registerHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

/** tide runs from its TypeScript sources (a checkout) rather than from dist/. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');

/**
 * The project's `.ts` files are ES modules, whatever its package.json says. Without `"type":
 * "module"` tsx would load them as CommonJS, whose `require('tide')` fails ("Cannot require() ES
 * Module … in a cycle") or loads a second copy of tide. Runs before tsx's own load hook, which
 * compiles them as modules when told so; node_modules and `.cts` files keep their own format.
 */
const PROJECT_TS_AS_MODULES = `export async function load(url, context, next) {
  if (url.startsWith('file:') && /\\.tsx?$/.test(url) && !url.includes('/node_modules/')) return next(url, { ...context, format: 'module' });
  return next(url, context);
}`;

let tsxRegistered = false;

async function registerTsx(): Promise<void> {
  if (tsxRegistered || FROM_SOURCES) return;
  const { register } = await import('tsx/esm/api');
  register();
  // registered after tsx, so it runs first
  registerHooks(`data:text/javascript,${encodeURIComponent(PROJECT_TS_AS_MODULES)}`);
  tsxRegistered = true;
}

/** The module's exports; `path` is absolute. */
export async function importPipelinesModule(path: string): Promise<Record<string, unknown>> {
  if (/\.[cm]?tsx?$/.test(path)) await registerTsx();
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}
