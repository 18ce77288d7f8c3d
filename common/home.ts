/**
 * Where tide keeps its local files. Every layer may import this (it has no dependencies).
 */
import { join, resolve } from 'node:path';

/** Where `.tide/` lives: `TIDE_HOME`, else `./.tide` (absolute). */
export function tideHome(env: Record<string, string | undefined> = process.env): string {
  return resolve(env.TIDE_HOME ?? '.tide');
}

/** The default local working folder of pipelines run in-process (`tide run`, `pipeline()`). */
export function defaultPipelinesDir(): string {
  return join(tideHome(), 'pipelines');
}
