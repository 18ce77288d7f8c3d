#!/usr/bin/env node
// The `tide` command: TypeScript sources (tide's and the user's pipelines module) run through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../client/cli.ts');
await main(process.argv);
