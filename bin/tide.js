#!/usr/bin/env node
// The `tide` command. Installed, it runs the compiled package (dist/); in a checkout of tide's
// repository (its TypeScript sources next to this file) it runs those through tsx, so an edit
// needs no build, and 'tide' resolves to the sources through the checkout's tsconfig.json paths.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const checkout = new URL('../client/cli.ts', import.meta.url);
let cli;
if (existsSync(checkout)) {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  cli = await import(checkout.href);
} else {
  cli = await import('../dist/client/cli.js');
}
await cli.main(process.argv);
