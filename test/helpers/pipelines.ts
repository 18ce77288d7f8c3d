/** Test helpers: a pipeline on the shared test Postgres, in a dataset and working folder of its own. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { pipeline, postgres, type Pipeline, type PipelineOptions } from 'tide';
import { onCleanup } from './cleanup.ts';

export { cleanup, onCleanup } from './cleanup.ts';

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

/**
 * A pipeline on the shared server; `pipelinesDir` and `datasetName` unique unless given. It is
 * closed after the test (with the destination it made), whatever the test's outcome.
 */
export function testPipeline(opts: TestPipelineOptions = {}): Pipeline {
  const destination = opts.destination ?? postgres(pgUrl());
  const p = pipeline({
    pipelineName: opts.pipelineName ?? 'test_pipeline',
    datasetName: opts.datasetName ?? datasetName(),
    pipelinesDir: opts.pipelinesDir ?? tempDir(),
    warn: opts.warn ?? (() => undefined),
    ...opts,
    destination,
  });
  onCleanup(async () => {
    await p.close();
    if (!opts.destination && typeof destination === 'object') await destination.close();
  });
  return p;
}

/** Rows of a table ordered by the given columns, without the random `_dlt_*` columns unless asked. */
export async function rows(p: Pipeline, table: string, orderBy: string, columns = '*'): Promise<Record<string, unknown>[]> {
  return p.query(`SELECT ${columns} FROM "${p.datasetName}"."${table}" ORDER BY ${orderBy}`);
}

