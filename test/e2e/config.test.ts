/**
 * `ctx.config` / `ctx.secrets` in runs on a Temporal worker: the worker's activities read
 * `config.toml` / `secrets.toml` of the worker's own TIDE_HOME and its environment; a missing
 * secret fails the run without retries and loads nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { definePipeline, pipeline, postgres, resource, source } from 'tide';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { withWorker } from '../helpers/temporal.ts';
import { withEnv } from '../helpers/incremental-util.ts';

function configuredPipeline(name: string) {
  let calls = 0;
  const accounts = resource(function* accounts(ctx) {
    calls++;
    const key = ctx.secrets.require('api_key', 'string');
    ctx.log(`using key ${key}`);
    yield { id: 1, endpoint: ctx.config.require('endpoint', 'string'), limit: ctx.config.require('limit', 'number'), key_suffix: key.reveal().slice(-2) };
  });
  const def = definePipeline({ name, datasetName: datasetName('cfg_tmp'), source: () => source('crm', [accounts]) });
  return { def, calls: () => calls };
}

async function tableRows(ds: string, sql: string) {
  const p = pipeline({ pipelineName: 'reader', destination: postgres(pgUrl()), datasetName: ds, pipelinesDir: tempDir() });
  try {
    return await p.query(sql);
  } finally {
    await p.close();
  }
}

describe('config and secrets on a worker', () => {
  it('the activity reads the worker TIDE_HOME files and environment', async () => {
    const home = tempDir('tide-config-worker-');
    writeFileSync(join(home, 'config.toml'), '[sources.crm]\nendpoint = "https://crm.example"\nlimit = 100\n');
    writeFileSync(join(home, 'secrets.toml'), '[sources.crm.accounts]\napi_key = "secret-key-42"\n');
    const { def } = configuredPipeline(`cfg_worker_${Date.now()}`);
    await withEnv({ TIDE_HOME: home, SOURCES__CRM__ACCOUNTS__LIMIT: '7' }, () =>
      withWorker([def], async (client) => {
        await client.runNow(def.name);
      }),
    );
    expect(await tableRows(def.datasetName!, `SELECT id, endpoint, "limit", key_suffix FROM "${def.datasetName}"."accounts"`)).toEqual([
      { id: 1, endpoint: 'https://crm.example', limit: 7, key_suffix: '42' },
    ]);
  });

  it('a missing secret fails the run without a retry, naming the key; nothing is loaded', async () => {
    const home = tempDir('tide-config-worker-');
    writeFileSync(join(home, 'config.toml'), '[sources.crm]\nendpoint = "https://crm.example"\nlimit = 100\n');
    const { def, calls } = configuredPipeline(`cfg_worker_missing_${Date.now()}`);
    const err = await withEnv({ TIDE_HOME: home }, () => withWorker([def], (client) => client.runNow(def.name).catch((e) => e)));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = ((err as WorkflowFailedError).cause as ActivityFailure).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'ConfigFieldMissingError', nonRetryable: true });
    expect(cause.message.split('\n')[0]).toBe(`Missing secret "api_key" for resource "accounts" of source "crm" [pipeline "${def.name}", resource "accounts"]`);
    expect(cause.message).toContain(`\n    ${join(home, 'secrets.toml')}: sources.crm.accounts.api_key\n`);
    expect(calls()).toBe(1);
    const ds = def.datasetName!;
    expect(await tableRows(ds, `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${ds}' AND table_name = 'accounts'`)).toEqual([{ n: 0 }]);
    expect(await tableRows(ds, `SELECT count(*)::int AS n FROM "${ds}"."_dlt_loads"`)).toEqual([{ n: 0 }]);
  });
});
