/**
 * Pipelines loaded by the fault-injection workers (and read by the test for their names / datasets).
 * Each pipeline's source reads `<REL_DATA_DIR>/<name>.json` at run time:
 *
 *   { rows: [{ id, seq, value }], pageSize, pageDelayMs, block?: { token, atPage | atEnd } }
 *
 * A `block` stops the extract at that page (or after the last page) until `<token>.killed` exists,
 * after writing `<token>.reached`: the test kills the worker there, deterministically. The retry on
 * the next worker sees `<token>.killed` and runs through.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, incremental, resource, source } from 'tide';
import type { Decompose, PipelineDefinition, WriteDisposition } from 'tide';

export interface Row {
  id: number;
  seq: number;
  value: string;
}
export interface SourceSpec {
  rows: Row[];
  pageSize: number;
  pageDelayMs: number;
  block?: { token: string; atPage?: number; atEnd?: boolean };
}

export type KillKind = 'append' | 'merge' | 'scd2' | 'upsert';
export const KINDS: KillKind[] = ['append', 'merge', 'scd2', 'upsert'];

const dir = () => process.env.REL_DATA_DIR ?? '.';
export const pipelineName = (kind: KillKind) => `kill_${kind}`;
export const datasetOf = (kind: KillKind) => `${process.env.REL_PREFIX ?? 'rel'}_${kind}`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function blockHere(token: string): Promise<void> {
  const killed = join(dir(), `${token}.killed`);
  if (existsSync(killed)) return;
  writeFileSync(join(dir(), `${token}.reached`), String(process.pid));
  while (!existsSync(killed)) await sleep(20);
}

const DISPOSITION: Record<KillKind, WriteDisposition> = {
  append: 'append',
  merge: { disposition: 'merge', strategy: 'delete-insert' },
  scd2: { disposition: 'merge', strategy: 'scd2' },
  upsert: { disposition: 'merge', strategy: 'upsert' },
};

function def(kind: KillKind): PipelineDefinition {
  const name = pipelineName(kind);
  const r = resource(
    async function* (ctx) {
      const spec = JSON.parse(readFileSync(join(dir(), `${name}.json`), 'utf8')) as SourceSpec;
      const start = ctx.incremental ? Number(ctx.incremental.startValue ?? 0) : 0;
      const rows = spec.rows.filter((x) => x.seq >= start);
      let page = 0;
      for (let i = 0; i < rows.length; i += spec.pageSize, page++) {
        if (spec.block?.atPage === page) await blockHere(spec.block.token);
        yield rows.slice(i, i + spec.pageSize);
        if (spec.pageDelayMs) await sleep(spec.pageDelayMs);
      }
      if (spec.block?.atEnd) await blockHere(spec.block.token);
    },
    {
      name: 'items',
      primaryKey: kind === 'append' ? undefined : 'id',
      writeDisposition: DISPOSITION[kind],
      // scd2 takes full snapshots (absent rows are retired); the others load changes by cursor
      incremental: kind === 'scd2' ? undefined : incremental('seq', { initialValue: 0 }),
    },
  );
  // REL_DECOMPOSE=serialize: the staged path (extract activity → staging → load activity)
  return definePipeline({ name, datasetName: datasetOf(kind), source: () => source('src', [r]), decompose: (process.env.REL_DECOMPOSE as Decompose | undefined) ?? 'none' });
}

export default KINDS.map(def);
