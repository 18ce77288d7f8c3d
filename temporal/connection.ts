/**
 * Where tide finds its Temporal server and its Web UI: one function per default. These read the
 * environment (and TLS files), so workflows never import this file.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../pipeline/errors.ts';

/** The Temporal frontend: `TEMPORAL_ADDRESS`, else `localhost:7233`. */
export function temporalAddress(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPORAL_ADDRESS ?? 'localhost:7233';
}

/** The Temporal namespace: `TEMPORAL_NAMESPACE`, else `default`. */
export function temporalNamespace(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPORAL_NAMESPACE ?? 'default';
}

/**
 * The Web UI base URL, for links: `TIDE_UI_URL`, else where the dev server puts it (the frontend's
 * port + 1000, same host).
 */
export function temporalUiUrl(address: string, env: Record<string, string | undefined> = process.env): string {
  if (env.TIDE_UI_URL !== undefined) return env.TIDE_UI_URL;
  const [host, port] = address.split(':');
  const h = host === 'localhost' || host === '' ? '127.0.0.1' : host;
  return `http://${h}:${Number(port ?? 7233) + 1000}`;
}

/** A run's page in the Web UI at `uiUrl` (the workflow's latest run when `runId` is omitted). */
export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}/history` : ''}`;
}

/** What `Connection.connect` / `NativeConnection.connect` take as `tls` (both SDK types have this shape). */
export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/**
 * TLS to the Temporal frontend, from the environment variables the `temporal` CLI reads (file paths):
 * `TEMPORAL_TLS_CA` (the server's CA, else the system's roots), `TEMPORAL_TLS_CERT` + `TEMPORAL_TLS_KEY`
 * (a client certificate: mTLS), `TEMPORAL_TLS_SERVER_NAME` (the name the server certificate must carry),
 * `TEMPORAL_TLS=true` (TLS with none of these). Undefined when none is set: plaintext.
 */
export function temporalTls(env: Record<string, string | undefined> = process.env): TemporalTls | undefined {
  const { TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_SERVER_NAME: serverName } = env;
  const on = /^(1|true|yes)$/i.test(env.TEMPORAL_TLS ?? '');
  if (!on && !ca && !cert && !key && !serverName) return undefined;
  if (Boolean(cert) !== Boolean(key)) throw new ConfigurationError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (a client certificate and its key), one is set without the other');
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ConfigurationError(`${name}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  return {
    ...(serverName ? { serverNameOverride: serverName } : {}),
    ...(ca ? { serverRootCACertificate: read('TEMPORAL_TLS_CA', ca) } : {}),
    ...(cert && key ? { clientCertPair: { crt: read('TEMPORAL_TLS_CERT', cert), key: read('TEMPORAL_TLS_KEY', key) } } : {}),
  };
}
