/**
 * TLS for tests: a throw-away CA with a server certificate (localhost, 127.0.0.1) and a client
 * certificate, made with the `openssl` command; and a TLS-terminating TCP proxy (node:tls) for
 * servers that cannot speak TLS themselves (the Temporal dev server).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';

export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** a CA that signed nothing here: trusting it must fail */
  otherCa: string;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function issue(dir: string, name: string, cn: string, ext: string): void {
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  chmodSync(join(dir, `${name}.key`), 0o600);
}

/** Certificates in `dir` (made world-traversable by the caller when a server runs as another user). */
export function makeCerts(dir: string): Certs {
  for (const ca of ['ca', 'other-ca']) openssl(dir, ['req', '-x509', ...EC, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=tide test ${ca}`]);
  issue(dir, 'server', 'localhost', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  issue(dir, 'client', 'tide-worker', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  const p = (f: string) => join(dir, f);
  return { dir, ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), otherCa: p('other-ca.pem') };
}

export interface TlsProxy {
  port: number;
  /** TLS sessions that completed the handshake (with a client certificate when `mtls`) */
  sessions: () => number;
  close: () => Promise<void>;
}

/** TLS (HTTP/2 ALPN, as gRPC asks) on 127.0.0.1:<free port>, plain TCP to `target`; `mtls`: a client certificate from the CA is required. */
export async function tlsProxy(target: { host: string; port: number }, certs: Certs, mtls: boolean): Promise<TlsProxy> {
  let sessions = 0;
  const open = new Set<{ destroy: () => void }>();
  const server = createTlsServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.ca),
      requestCert: mtls,
      rejectUnauthorized: mtls,
      ALPNProtocols: ['h2'],
    },
    (tls) => {
      sessions++;
      const up = netConnect(target.port, target.host);
      open.add(tls).add(up);
      tls.pipe(up).pipe(tls);
      const end = () => (tls.destroy(), up.destroy(), open.delete(tls), open.delete(up));
      tls.on('close', end);
      up.on('close', end);
      tls.on('error', end);
      up.on('error', end);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sessions: () => sessions,
    close: () => new Promise<void>((r) => (server.close(() => r()), open.forEach((s) => s.destroy()))),
  };
}
