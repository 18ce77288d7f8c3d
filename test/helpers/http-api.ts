/**
 * A local HTTP API for the REST source tests: a node:http server on port 0 (never a fixed port:
 * other test runs share the machine) that records every request it gets and answers with the
 * test's handler. Closed after the test.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onCleanup } from './cleanup.ts';

export interface ApiRequest {
  method: string;
  /** path without the query */
  path: string;
  /** path and query, as sent */
  url: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export type ApiHandler = (req: ApiRequest, res: ServerResponse, base: string) => unknown;

export interface Api {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** every request so far, in arrival order */
  requests: ApiRequest[];
  /** `METHOD path?query` of every request so far */
  calls(): string[];
}

/** Answers with a JSON body. */
export function json(res: ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function startApi(handler: ApiHandler): Promise<Api> {
  const requests: ApiRequest[] = [];
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const u = new URL(req.url!, base);
      const r: ApiRequest = { method: req.method!, path: u.pathname, url: u.pathname + u.search, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(r);
      try {
        await handler(r, res, base);
      } catch (e) {
        json(res, { error: String(e) }, 500);
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  onCleanup(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  );
  return { base, requests, calls: () => requests.map((r) => `${r.method} ${r.url}`) };
}
