/** Test helpers: a pipeline on the shared test Postgres, in a dataset and working folder of its own. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, inject } from 'vitest';
import { pipeline, postgres, type Pipeline, type PipelineOptions } from 'tide';

export function pgUrl(): string {
  return inject('pgUrl');
}

/** A unique dataset name for one test. */
export function datasetName(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export function tempDir(prefix = 'tide-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestPipelineOptions extends Partial<PipelineOptions> {}

/** A pipeline on the shared server; `pipelinesDir` and `datasetName` unique unless given. */
export function testPipeline(opts: TestPipelineOptions = {}): Pipeline {
  return pipeline({
    pipelineName: opts.pipelineName ?? 'test_pipeline',
    destination: opts.destination ?? postgres(pgUrl()),
    datasetName: opts.datasetName ?? datasetName(),
    pipelinesDir: opts.pipelinesDir ?? tempDir(),
    warn: opts.warn ?? (() => undefined),
    ...opts,
  });
}

/** Rows of a table ordered by the given columns, without the random `_dlt_*` columns unless asked. */
export async function rows(p: Pipeline, table: string, orderBy: string, columns = '*'): Promise<Record<string, unknown>[]> {
  return p.query(`SELECT ${columns} FROM "${p.datasetName}"."${table}" ORDER BY ${orderBy}`);
}

/** Returns `track(p)`: every pipeline passed to it is closed after each test. */
export function closeAfterEach(): (p: Pipeline) => Pipeline {
  const open: Pipeline[] = [];
  afterEach(async () => {
    for (const p of open.splice(0)) await p.close().catch(() => undefined);
  });
  return (p) => {
    open.push(p);
    return p;
  };
}
