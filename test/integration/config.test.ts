/**
 * `ctx.config` / `ctx.secrets` in runs on Postgres, from `$TIDE_HOME/config.toml`, `secrets.toml`
 * and the environment; a missing secret fails the run before anything is written; `tide run` takes
 * the destination credentials from secrets.toml when TIDE_POSTGRES_URL is unset, and prints no secret.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigFieldMissingError, pipeline, postgres, resource, source, type ResourceContext } from 'tide';
import { datasetName, pgUrl, rows, tempDir, testPipeline } from '../helpers/pipelines.ts';
import { withEnv } from '../helpers/incremental-util.ts';
import { runTide } from '../helpers/cli.ts';

/** A TIDE_HOME with the given files. */
function tideHome(files: { config?: string; secrets?: string }): string {
  const dir = tempDir('tide-config-home-');
  if (files.config !== undefined) writeFileSync(join(dir, 'config.toml'), files.config);
  if (files.secrets !== undefined) writeFileSync(join(dir, 'secrets.toml'), files.secrets);
  return dir;
}

const CONFIG = `
[sources.github]
api_url = "https://api.example/v3"
page_size = 50

[sources.github.issues]
page_size = 10
`;
const SECRETS = `
[sources.github]
token = "gh-source-token"

[sources.github.issues]
token = "gh-issues-token"
`;

function row(ctx: ResourceContext, id: number) {
  const token = ctx.secrets.require('token', 'string');
  const apiUrl: string = ctx.config.require('api_url', 'string');
  ctx.log(`calling ${apiUrl} with ${token}`);
  return { id, api_url: apiUrl, page_size: ctx.config.get('page_size', 'number'), token_length: token.reveal().length, region: ctx.config.get('region') ?? 'none' };
}

const github = () =>
  source('github', [
    resource(function* issues(ctx) {
      yield row(ctx, 1);
    }),
    resource(function* pulls(ctx) {
      yield row(ctx, 2);
    }),
  ]);

describe('ctx.config and ctx.secrets in a run', () => {
  it('per-resource sections beat per-source ones, the environment beats both files; secrets log as ***', async () => {
    const lines: string[] = [];
    const p = testPipeline({ pipelineName: 'cfg_run', log: (m) => lines.push(m) });
    const env = { TIDE_HOME: tideHome({ config: CONFIG, secrets: SECRETS }), SOURCES__GITHUB__PULLS__REGION: 'eu', SOURCES__GITHUB__PAGE_SIZE: '25' };
    const info = await withEnv(env, () => p.run(github()));
    expect(info.tables).toEqual({ issues: { rows: 1 }, pulls: { rows: 1 } });
    expect(await rows(p, 'issues', 'id', 'id, api_url, page_size, token_length, region')).toEqual([
      // env SOURCES__GITHUB__PAGE_SIZE beats [sources.github.issues] page_size = 10 of config.toml
      { id: 1, api_url: 'https://api.example/v3', page_size: 25, token_length: 'gh-issues-token'.length, region: 'none' },
    ]);
    expect(await rows(p, 'pulls', 'id', 'id, api_url, page_size, token_length, region')).toEqual([
      { id: 2, api_url: 'https://api.example/v3', page_size: 25, token_length: 'gh-source-token'.length, region: 'eu' },
    ]);
    expect(lines.filter((l) => l.includes('calling'))).toEqual([
      '[issues] calling https://api.example/v3 with ***',
      '[pulls] calling https://api.example/v3 with ***',
    ]);
  });

  it('a missing secret fails the run with every place looked; nothing is loaded, the state is unchanged', async () => {
    const home = tideHome({ config: CONFIG, secrets: '[sources.github.issues]\ntoken = "only-issues"\n' });
    const p = testPipeline({ pipelineName: 'cfg_missing' });
    const err = await withEnv({ TIDE_HOME: home }, () => p.run(github())).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigFieldMissingError);
    expect(err.key).toBe('token');
    expect(err.resource).toBe('pulls');
    expect(err.message.split('\n').slice(0, 3)).toEqual([
      'Missing secret "token" for resource "pulls" of source "github" [pipeline "cfg_missing", resource "pulls"]',
      '  looked in, in this order:',
      '    environment variable CFG_MISSING__SOURCES__GITHUB__PULLS__TOKEN',
    ]);
    expect(err.message).toContain(`\n    ${join(home, 'secrets.toml')}: sources.github.pulls.token\n`);
    expect(err.message).not.toContain('only-issues');
    expect(await p.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('issues', 'pulls')`, [p.datasetName])).toEqual([{ n: 0 }]);
    expect(p.state.sources).toBeUndefined();
  });
});

describe('tide run with destination credentials from secrets.toml', () => {
  it('connects with them when TIDE_POSTGRES_URL is unset, and prints neither the password nor a secret', async () => {
    const url = new URL(pgUrl());
    const ds = datasetName('cfg_cli');
    const home = tempDir('tide-config-cli-');
    writeFileSync(
      join(home, 'secrets.toml'),
      `[destination.postgres.credentials]
host = ${JSON.stringify(url.hostname)}
port = ${Number(url.port)}
username = ${JSON.stringify(decodeURIComponent(url.username))}
password = ${JSON.stringify(decodeURIComponent(url.password))}
database = ${JSON.stringify(url.pathname.slice(1))}

[sources.cfg_cli.events]
token = "cli-secret-token"
`,
    );
    writeFileSync(join(home, 'config.toml'), '[sources.cfg_cli]\nlabel = "from-config"\n');
    const mod = join(home, 'pipelines.mjs');
    writeFileSync(
      mod,
      `export default [{
        name: 'cfg_cli',
        datasetName: ${JSON.stringify(ds)},
        source: () => function* events(ctx) {
          ctx.log('token is ' + ctx.secrets.require('token'));
          yield { id: 1, label: ctx.config.require('label'), token_length: ctx.secrets.require('token').reveal().length };
        },
      }];\n`,
    );
    const run = await runTide(home, ['run', 'cfg_cli', '--pipelines', mod], { timeoutMs: 60_000, env: { TIDE_POSTGRES_URL: undefined } });
    expect(run.stderr).not.toMatch(/^tide:/m);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('[events] token is ***');
    const printed = run.stdout + run.stderr;
    expect(printed).not.toContain('cli-secret-token');
    if (url.password) expect(printed).not.toContain(decodeURIComponent(url.password));
    // no embedded server was started under TIDE_HOME: the rows are on the configured server
    expect(existsSync(join(home, 'postgres'))).toBe(false);
    const reader = pipeline({ pipelineName: 'reader', datasetName: ds, destination: postgres(pgUrl()), pipelinesDir: tempDir() });
    try {
      expect(await reader.query(`SELECT id, label, token_length FROM "${ds}"."events"`)).toEqual([{ id: 1, label: 'from-config', token_length: 16 }]);
    } finally {
      await reader.close();
    }
  });
});
