/**
 * Configuration and secrets as dlt resolves them (docs/configuration.md): the pipeline name first,
 * then the environment before secrets.toml before config.toml, the most specific section first in
 * each; missing values name every place looked; secrets never print; the Postgres credentials.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigFieldMissingError, ConfigurationError, Secret, TideError } from 'tide';
import { Configuration, resourceConfig, type Env } from '../../pipeline/config.ts';
import { configuredPostgresUrl } from '../../destinations/postgres/credentials.ts';
import { tempDir } from '../helpers/pipelines.ts';

/** A config folder with the given files. */
function home(files: { config?: string; secrets?: string }): string {
  const dir = join(tempDir('tide-config-'), '.tide');
  mkdirSync(dir);
  if (files.config !== undefined) writeFileSync(join(dir, 'config.toml'), files.config);
  if (files.secrets !== undefined) writeFileSync(join(dir, 'secrets.toml'), files.secrets);
  return dir;
}

const NAMES = { pipelineName: 'gh', sourceName: 'github', resourceName: 'issues' };

function readers(dir: string, env: Env = {}) {
  return resourceConfig(Configuration.load({ dir, env }), NAMES);
}

describe('lookup order', () => {
  const CONFIG = `
api_url = "top"
[sources]
api_url = "sources"
[sources.github]
api_url = "source"
page_size = 50
[sources.github.issues]
api_url = "resource"
`;

  it('the most specific section wins within a file: resource, then source, then sources, then the top level', () => {
    const dir = home({ config: CONFIG });
    expect(readers(dir).config.get('api_url')).toBe('resource');
    expect(readers(dir).config.get('page_size')).toBe(50);
    expect(readers(home({ config: CONFIG.replace('api_url = "resource"', '') })).config.get('api_url')).toBe('source');
    expect(readers(home({ config: 'api_url = "top"\n[sources]\napi_url = "sources"\n' })).config.get('api_url')).toBe('sources');
    expect(readers(home({ config: 'api_url = "top"\n' })).config.get('api_url')).toBe('top');
    // another resource of the source sees the source's value, another source none of it
    const other = resourceConfig(Configuration.load({ dir, env: {} }), { ...NAMES, resourceName: 'pulls' });
    expect(other.config.get('api_url')).toBe('source');
    const elsewhere = resourceConfig(Configuration.load({ dir, env: {} }), { ...NAMES, sourceName: 'gitlab' });
    expect(elsewhere.config.get('api_url')).toBe('sources');
  });

  it('the environment wins over both files whatever its section; secrets.toml over config.toml', () => {
    const dir = home({ config: CONFIG, secrets: '[sources.github]\napi_url = "from-secrets"\n' });
    expect(readers(dir).config.get('api_url')).toBe('from-secrets');
    expect(readers(dir, { SOURCES__API_URL: 'env-sources' }).config.get('api_url')).toBe('env-sources');
    expect(readers(dir, { SOURCES__API_URL: 'env-sources', SOURCES__GITHUB__ISSUES__API_URL: 'env-resource' }).config.get('api_url')).toBe('env-resource');
    expect(readers(dir, { SOURCES__GITHUB__API_URL: 'env-source' }).config.get('api_url')).toBe('env-source');
    // only the exact upper-case name counts
    expect(readers(dir, { sources__github__api_url: 'lower' }).config.get('api_url')).toBe('from-secrets');
  });

  it('sections under the pipeline name come first, in every provider', () => {
    const dir = home({ config: `${CONFIG}\n[gh.sources.github]\napi_url = "pipeline-source"\n` });
    expect(readers(dir, { SOURCES__GITHUB__ISSUES__API_URL: 'env' }).config.get('api_url')).toBe('pipeline-source');
    expect(readers(dir, { GH__API_URL: 'env-pipeline' }).config.get('api_url')).toBe('env-pipeline');
  });

  it('environment values of config are parsed; of secrets, kept as written', () => {
    const env = { SOURCES__GITHUB__PAGE_SIZE: '100', SOURCES__GITHUB__DRY_RUN: 'true', SOURCES__GITHUB__TOKEN: '007' };
    const r = readers(home({}), env);
    expect(r.config.get('page_size')).toBe(100);
    expect(r.config.get('dry_run')).toBe(true);
    expect(r.secrets.get('token')?.reveal()).toBe('007');
    expect(r.config.get('nothing')).toBeUndefined();
    expect(r.secrets.get('nothing')).toBeUndefined();
  });

  it('secrets come from the environment and secrets.toml only, never from config.toml', () => {
    const dir = home({ config: '[sources.github]\ntoken = "in-config"\n', secrets: '[sources.github.issues]\ntoken = "in-secrets"\n' });
    expect(readers(dir).secrets.require('token').reveal()).toBe('in-secrets');
    expect(readers(home({ config: '[sources.github]\ntoken = "in-config"\n' })).secrets.get('token')).toBeUndefined();
    // a config value may come from secrets.toml (as in dlt)
    expect(readers(dir).config.get('token')).toBe('in-secrets');
    // TOML tables come back whole
    expect(readers(home({ secrets: '[sources.github.auth]\nuser = "u"\nkey = "k"\n' })).secrets.require('auth').reveal()).toEqual({ user: 'u', key: 'k' });
  });
});

describe('typed access', () => {
  it('a type checks the value; environment strings are parsed only as asked', () => {
    const dir = home({ config: '[sources.github]\npage_size = 50\nlabel = "x"\nsince = 2024-01-01\n' });
    const env = { SOURCES__GITHUB__ZIP: '007', SOURCES__GITHUB__ISSUES__LIMIT: '25', SOURCES__GITHUB__FLAG: 'false' };
    const r = readers(dir, env);
    expect(r.config.get('zip')).toBe(7);
    expect(r.config.get('zip', 'string')).toBe('007');
    expect(r.config.require('limit', 'number')).toBe(25);
    expect(r.config.require('flag', 'boolean')).toBe(false);
    expect(r.config.require('page_size', 'number')).toBe(50);
    expect(r.config.get('missing', 'string')).toBeUndefined();
    expect(() => r.config.require('label', 'number')).toThrow(new ConfigurationError(`Config value "label" (${join(dir, 'config.toml')}: sources.github.label) is a string, expected a number`));
    expect(() => r.config.require('since', 'string')).toThrow(/is a date, expected a string$/);
    expect(() => r.config.require('zip', 'boolean')).toThrow('Config value "zip" (environment variable SOURCES__GITHUB__ZIP) is a number, expected a boolean');
    const s = readers(dir, { SOURCES__GITHUB__PIN: '1234' }).secrets;
    expect(s.require('pin').reveal()).toBe('1234');
    expect(s.require('pin', 'number').reveal()).toBe(1234);
    expect(() => s.require('pin', 'boolean')).toThrow('Secret "pin" (environment variable SOURCES__GITHUB__PIN) is a number, expected a boolean');
  });
});

describe('missing values', () => {
  it('require() names the key and every place looked, in order', () => {
    const dir = home({});
    let err: unknown;
    try {
      readers(dir).secrets.require('token');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigFieldMissingError);
    expect(err).toBeInstanceOf(ConfigurationError);
    const e = err as ConfigFieldMissingError;
    expect(e.retryable).toBe(false);
    expect(e.key).toBe('token');
    expect(e.pipeline).toBe('gh');
    expect(e.resource).toBe('issues');
    const s = join(dir, 'secrets.toml');
    const expected = [
      'environment variable GH__SOURCES__GITHUB__ISSUES__TOKEN',
      'environment variable GH__SOURCES__GITHUB__TOKEN',
      'environment variable GH__SOURCES__TOKEN',
      'environment variable GH__TOKEN',
      `${s}: gh.sources.github.issues.token`,
      `${s}: gh.sources.github.token`,
      `${s}: gh.sources.token`,
      `${s}: gh.token`,
      'environment variable SOURCES__GITHUB__ISSUES__TOKEN',
      'environment variable SOURCES__GITHUB__TOKEN',
      'environment variable SOURCES__TOKEN',
      'environment variable TOKEN',
      `${s}: sources.github.issues.token`,
      `${s}: sources.github.token`,
      `${s}: sources.token`,
      `${s}: token`,
    ];
    expect(e.lookedIn).toEqual(expected);
    expect(e.message).toBe(
      `Missing secret "token" for resource "issues" of source "github" [pipeline "gh", resource "issues"]\n  looked in, in this order:\n${expected.map((p) => `    ${p}`).join('\n')}`,
    );
  });

  it('a config value is also looked for in config.toml', () => {
    const dir = home({});
    const e = (() => {
      try {
        readers(dir).config.require('api_url');
      } catch (x) {
        return x as ConfigFieldMissingError;
      }
    })()!;
    expect(e.message.split('\n')[0]).toBe('Missing config value "api_url" for resource "issues" of source "github" [pipeline "gh", resource "issues"]');
    expect(e.lookedIn).toHaveLength(24);
    expect(e.lookedIn.slice(8, 12)).toEqual([0, 1, 2, 3].map((i) => `${join(dir, 'config.toml')}: ${['gh.sources.github.issues', 'gh.sources.github', 'gh.sources', 'gh'][i]}.api_url`));
    expect(e.lookedIn[23]).toBe(`${join(dir, 'config.toml')}: api_url`);
  });
});

describe('secrets never print', () => {
  it('String, templates, JSON, util.inspect and error values show ***', () => {
    const s = new Secret('hunter2');
    expect(s.reveal()).toBe('hunter2');
    expect(String(s)).toBe('***');
    expect(`token=${s}`).toBe('token=***');
    expect(JSON.stringify({ token: s })).toBe('{"token":"***"}');
    expect(inspect({ token: s })).toBe('{ token: Secret(***) }');
    expect(inspect(s, { showHidden: true })).toBe('Secret(***)');
    const err = new TideError('bad token', { value: s, item: { auth: s } });
    expect(err.message).toBe('bad token\n  value: "***"\n  item: {"auth":"***"}');
    expect(structuredClone({ s }).s).toEqual({});
  });

  it('a malformed secrets.toml is an error naming the file and line, not the text', () => {
    const dir = home({ secrets: 'a = 1\ntoken = hunter2\n' });
    expect(() => Configuration.load({ dir, env: {} })).toThrow(ConfigurationError);
    expect(() => Configuration.load({ dir, env: {} })).toThrow(`Cannot parse ${join(dir, 'secrets.toml')} (line 2, column 9): Invalid TOML document: invalid value`);
    try {
      Configuration.load({ dir, env: {} });
    } catch (e) {
      expect(inspect(e)).not.toContain('hunter2');
    }
  });
});

describe('postgres credentials', () => {
  const TABLE = '[destination.postgres.credentials]\nhost = "db.example"\nport = 6543\nusername = "loader"\npassword = "p@ss:w/rd"\ndatabase = "dwh"\n';
  const url = (dir: string, env: Env = {}) => configuredPostgresUrl(env, Configuration.load({ dir, env }));

  it('a credentials table in secrets.toml becomes a URL (password encoded); TIDE_POSTGRES_URL wins', () => {
    const dir = home({ secrets: TABLE });
    expect(url(dir)).toBe('postgresql://loader:p%40ss%3Aw%2Frd@db.example:6543/dwh');
    expect(url(dir, { TIDE_POSTGRES_URL: 'postgres://x@y/z' })).toBe('postgres://x@y/z');
  });

  it('the environment wins: DESTINATION__POSTGRES__CREDENTIALS as a URL, or a field', () => {
    const dir = home({ secrets: TABLE });
    expect(url(dir, { DESTINATION__POSTGRES__CREDENTIALS: 'postgresql://env@h/db' })).toBe('postgresql://env@h/db');
    expect(url(dir, { DESTINATION__POSTGRES__CREDENTIALS__PASSWORD: 'other', DESTINATION__POSTGRES__CREDENTIALS__HOST: 'h2', DESTINATION__POSTGRES__CREDENTIALS__PORT: '7000' })).toBe(
      'postgresql://loader:other@h2:7000/dwh',
    );
    expect(() => url(dir, { DESTINATION__POSTGRES__CREDENTIALS__PORT: 'x' })).toThrow('Config value "port" (environment variable DESTINATION__POSTGRES__CREDENTIALS__PORT) is a string, expected a number');
    // bare names are not credentials fields (HOST is set in many shells)
    expect(url(dir, { HOST: 'shell-host', PASSWORD: 'x' })).toBe('postgresql://loader:p%40ss%3Aw%2Frd@db.example:6543/dwh');
  });

  it('a URL string in either file; non-secret fields may live in config.toml, the password not', () => {
    expect(url(home({ secrets: '[destination.postgres]\ncredentials = "postgresql://s@h/d"\n' }))).toBe('postgresql://s@h/d');
    expect(url(home({ config: 'destination.postgres.credentials = "postgresql://c@h/d"\n' }))).toBe('postgresql://c@h/d');
    const split = home({ config: TABLE.replace('password = "p@ss:w/rd"\n', 'password = "ignored"\n'), secrets: '[destination.postgres.credentials]\npassword = "s"\n' });
    expect(url(split)).toBe('postgresql://loader:s@db.example:6543/dwh');
    expect(url(home({ config: '[destination.postgres.credentials]\nhost = "h"\nusername = "u"\ndatabase = "d"\n' }))).toBe('postgresql://u@h:5432/d');
  });

  it('nothing configured: undefined (the embedded server); a table without a host: an error naming it', () => {
    expect(url(home({}))).toBeUndefined();
    const dir = home({ secrets: '[destination.postgres.credentials]\nusername = "u"\ndatabase = "d"\npassword = "hunter2"\n' });
    expect(() => url(dir)).toThrow(ConfigFieldMissingError);
    expect(() => url(dir)).toThrow(/^Missing config value "host" for the postgres destination \(its credentials\)\n {2}looked in, in this order:\n {4}environment variable DESTINATION__POSTGRES__CREDENTIALS__HOST\n/);
    try {
      url(dir);
    } catch (e) {
      expect(inspect(e)).not.toContain('hunter2');
    }
  });
});
