/**
 * Security (issue 16, item 5): encrypted connections. Postgres with `ssl=on` behind an hba that
 * refuses plaintext, reached with `sslmode=verify-full` / `require` (node-postgres semantics: the
 * server certificate is verified unless `uselibpqcompat=true`); Temporal over TLS and mTLS from
 * `TEMPORAL_TLS_CA` / `TEMPORAL_TLS_CERT` / `TEMPORAL_TLS_KEY`. The Temporal dev server has no TLS
 * flags, so a TLS-terminating proxy (node:tls, test/helpers/tls.ts) stands in front of it: the worker
 * and the client speak TLS to the proxy, the proxy plain gRPC to the dev server.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePipeline, pipeline, postgres, resource, source } from 'tide';
import { startEphemeralPostgres, type EphemeralPostgres } from '../../destinations/postgres/embedded.ts';
import { createWorker } from '../../worker/index.ts';
import { TideClient } from '../../client/temporal.ts';
import { datasetName, pgUrl, tempDir } from '../helpers/pipelines.ts';
import { taskQueue, temporalAddress } from '../helpers/temporal.ts';
import { makeCerts, tlsProxy, type Certs } from '../helpers/tls.ts';

const items = resource(function* () {
  yield [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }];
}, { name: 'items', writeDisposition: 'merge', primaryKey: 'id' });

let certs: Certs;
beforeAll(() => {
  // /var/tmp and world-traversable: the embedded server runs as `postgres` when the tests run as root
  const dir = mkdtempSync(join(userInfo().uid === 0 ? '/var/tmp' : tempDir(), 'tide-tls-'));
  chmodSync(dir, 0o755);
  certs = makeCerts(dir);
});
afterAll(() => rmSync(certs.dir, { recursive: true, force: true }));

describe('security: Postgres over TLS', () => {
  let pg: EphemeralPostgres;
  let base: URL;
  beforeAll(async () => {
    const hba = join(certs.dir, 'pg_hba.conf');
    writeFileSync(hba, 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n');
    chmodSync(hba, 0o644);
    if (userInfo().uid === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
      chownSync(certs.serverKey, uid, 0);
    }
    chmodSync(certs.serverCert, 0o644);
    pg = await startEphemeralPostgres({
      prefix: 'tide-test-pg-ssl-',
      flags: ['-c', 'ssl=on', '-c', `ssl_cert_file=${certs.serverCert}`, '-c', `ssl_key_file=${certs.serverKey}`, '-c', `hba_file=${hba}`, '-c', 'fsync=off'],
    });
    base = new URL(pg.url);
    base.hostname = 'localhost';
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  const withParams = (params: Record<string, string>) => {
    const u = new URL(base);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  };

  /** Runs a merge pipeline twice over `url`; returns the rows and whether the session was encrypted. */
  async function loadOver(url: string): Promise<{ rows: unknown[]; ssl: boolean }> {
    const destination = postgres(url);
    const p = pipeline({ pipelineName: 'tls_demo', destination, datasetName: datasetName('tls'), pipelinesDir: tempDir() });
    try {
      await p.run(items);
      await p.run(items);
      const rows = await p.query(`SELECT id::int AS id, v FROM "${p.datasetName}"."items" ORDER BY id`);
      const [{ ssl }] = await p.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      return { rows, ssl };
    } finally {
      await p.close();
      await destination.close();
    }
  }

  const expected = [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }];

  it('sslmode=verify-full with the CA (sslrootcert): loads, encrypted', async () => {
    expect(await loadOver(withParams({ sslmode: 'verify-full', sslrootcert: certs.ca }))).toEqual({ rows: expected, ssl: true });
  });

  it('sslmode=require with the CA: loads, encrypted; with uselibpqcompat=true and no CA (libpq semantics: encrypt, do not verify): loads, encrypted', async () => {
    expect(await loadOver(withParams({ sslmode: 'require', sslrootcert: certs.ca }))).toEqual({ rows: expected, ssl: true });
    expect(await loadOver(withParams({ sslmode: 'require', uselibpqcompat: 'true' }))).toEqual({ rows: expected, ssl: true });
  });

  it('the checks bite: a CA that did not sign the server fails verification, plaintext is refused', async () => {
    await expect(loadOver(withParams({ sslmode: 'verify-full', sslrootcert: certs.otherCa }))).rejects.toThrow(/certificate/i);
    await expect(loadOver(withParams({ sslmode: 'disable' }))).rejects.toThrow(/no encryption|pg_hba/i);
  });
});

describe('security: Temporal over TLS and mTLS', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const k of ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_TLS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  const setTls = (env: Record<string, string | undefined>) => {
    for (const k of ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY']) delete process.env[k];
    for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
  };

  for (const mtls of [false, true]) {
    it(`${mtls ? 'mTLS' : 'TLS'}: a worker and a client reach Temporal only through TLS; a run loads`, { timeout: 120_000 }, async () => {
      const [host, port] = temporalAddress().split(':');
      const proxy = await tlsProxy({ host: host === 'localhost' ? '127.0.0.1' : host, port: Number(port) }, certs, mtls);
      const address = `127.0.0.1:${proxy.port}`;
      const tq = taskQueue(mtls ? 'mtls' : 'tls');
      const def = definePipeline({ name: `tls_${mtls ? 'm' : 's'}_${Date.now()}`, datasetName: datasetName('ttls'), source: () => source('tls', [items]) });
      const destination = postgres(pgUrl());
      try {
        // without TLS settings: a plaintext client cannot talk to the TLS port
        setTls({});
        await expect(TideClient.connect({ address, taskQueue: tq })).rejects.toThrow();
        if (mtls) {
          // TLS without the client certificate: refused
          setTls({ TEMPORAL_TLS_CA: certs.ca });
          await expect(TideClient.connect({ address, taskQueue: tq })).rejects.toThrow();
        }
        // a CA that did not sign the server: refused
        setTls({ TEMPORAL_TLS_CA: certs.otherCa, ...(mtls ? { TEMPORAL_TLS_CERT: certs.clientCert, TEMPORAL_TLS_KEY: certs.clientKey } : {}) });
        await expect(TideClient.connect({ address, taskQueue: tq })).rejects.toThrow();

        setTls({ TEMPORAL_TLS_CA: certs.ca, ...(mtls ? { TEMPORAL_TLS_CERT: certs.clientCert, TEMPORAL_TLS_KEY: certs.clientKey } : {}) });
        const before = proxy.sessions();
        const { worker, close } = await createWorker({ pipelines: [def], address, taskQueue: tq, destination });
        const client = await TideClient.connect({ address, taskQueue: tq });
        try {
          const result = await worker.runUntil(client.runNow(def.name));
          expect(result.rows).toBe(3);
        } finally {
          await client.close();
          await close();
        }
        expect(proxy.sessions()).toBeGreaterThan(before); // the traffic went through the TLS port
        const reader = pipeline({ pipelineName: def.name, destination, datasetName: def.datasetName!, pipelinesDir: tempDir() });
        try {
          expect(await reader.query(`SELECT id::int AS id, v FROM "${def.datasetName}"."items" ORDER BY id`)).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }]);
        } finally {
          await reader.close();
        }
      } finally {
        await destination.close();
        await proxy.close();
      }
    });
  }
});
