/**
 * Pipelines of the fault suite (test/reliability/faults.test.ts), loaded by its worker processes and
 * read by the test for names and datasets. Each source reads `<FAULT_DATA_DIR>/<name>.json` at run
 * time: `{ rows: [{ id, seq, value }], pageSize, pageDelayMs }`.
 *
 * Every write disposition with an incremental cursor (scd2 takes full snapshots), each direct
 * (decompose 'none') and staged ('serialize'), once per lane (`FAULT_LANES`), each lane's into its
 * own Postgres (`FAULT_PG_URL_<lane>`); and `f_backfill`, an append table filled per hourly interval
 * (lane 0's server). Timeouts are short so that a dead worker is noticed by the real heartbeat timeout in
 * seconds, and retries come quickly and often enough to outlast a Postgres restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePipeline, incremental, postgres, resource, source } from 'tide';
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
}

export type Kind = 'append' | 'merge' | 'scd2' | 'upsert';
export const KINDS: Kind[] = ['append', 'merge', 'scd2', 'upsert'];
export type Mode = 'none' | 'serialize';
export const MODES: Mode[] = ['none', 'serialize'];
export const BACKFILL = 'f_backfill';
/** Rows each backfill interval holds (ids `hour * 1000 + i`). */
export const BACKFILL_ROWS = 400;

const dir = () => process.env.FAULT_DATA_DIR ?? '.';
const prefix = () => process.env.FAULT_PREFIX ?? 'fault';
export const LANES = Number(process.env.FAULT_LANES ?? 3);
export const pipelineName = (lane: number, kind: Kind, mode: Mode) => `f${lane}_${kind}_${mode}`;
export const datasetOf = (name: string) => `${prefix()}_${name}`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const DISPOSITION: Record<Kind, WriteDisposition> = {
  append: 'append',
  merge: { disposition: 'merge', strategy: 'delete-insert' },
  scd2: { disposition: 'merge', strategy: 'scd2' },
  upsert: { disposition: 'merge', strategy: 'upsert' },
};

/** Heartbeat 2 s (a dead worker's attempt is retried after it); retries every 0.2–1 s, for ~30 s. */
const RETRY = { maximumAttempts: 35, initialInterval: '200ms', maximumInterval: '1s' };
const RELIABLE = { timeouts: { heartbeat: '2s', extract: '2m', load: '2m' }, retries: { extract: RETRY, load: RETRY } };

function def(lane: number, kind: Kind, mode: Mode): PipelineDefinition {
  const name = pipelineName(lane, kind, mode);
  const r = resource(
    async function* (ctx) {
      const spec = JSON.parse(readFileSync(join(dir(), `${name}.json`), 'utf8')) as SourceSpec;
      const start = ctx.incremental ? Number(ctx.incremental.startValue ?? 0) : 0;
      const rows = spec.rows.filter((x) => x.seq >= start);
      for (let i = 0; i < rows.length; i += spec.pageSize) {
        yield rows.slice(i, i + spec.pageSize);
        if (spec.pageDelayMs) await sleep(spec.pageDelayMs);
      }
    },
    {
      name: 'items',
      primaryKey: kind === 'append' ? undefined : 'id',
      writeDisposition: DISPOSITION[kind],
      incremental: kind === 'scd2' ? undefined : incremental('seq', { initialValue: 0 }),
    },
  );
  const url = process.env[`FAULT_PG_URL_${lane}`];
  const destination = url ? { destination: postgres(url) } : {};
  return definePipeline({ name, datasetName: datasetOf(name), source: () => source('src', [r]), decompose: mode as Decompose, ...destination, ...RELIABLE });
}

const hourly = resource(
  async function* (ctx) {
    const start = ctx.interval!.start.toMillis();
    const hour = Math.floor(start / 3_600_000) % 100_000;
    for (let page = 0; page < 4; page++) {
      yield Array.from({ length: BACKFILL_ROWS / 4 }, (_, i) => ({ id: hour * 1000 + page * (BACKFILL_ROWS / 4) + i, hour, value: `h${hour}` }));
      await sleep(Number(process.env.FAULT_BACKFILL_DELAY_MS ?? 150));
    }
  },
  { name: 'items', writeDisposition: 'append' },
);

export default [
  ...Array.from({ length: LANES }, (_, lane) => KINDS.flatMap((k) => MODES.map((m) => def(lane, k, m)))).flat(),
  definePipeline({ name: BACKFILL, datasetName: datasetOf(BACKFILL), source: () => source('hours', [hourly]), decompose: 'none', ...RELIABLE }),
];
