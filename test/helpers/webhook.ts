/** A local webhook receiver for notification tests: records each POST's path, idempotency key and JSON body. */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { RunEvent } from 'tide';

export interface Received {
  path: string;
  key: string | undefined;
  body: RunEvent;
}

export interface Webhook {
  /** `http://127.0.0.1:<port>`; a POST to `/down` answers 500 and is not recorded. */
  base: string;
  received: Received[];
  /** The events of one pipeline, in the order received. */
  of(pipeline: string): Received[];
  close(): void;
}

export async function startWebhook(): Promise<Webhook> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      if (req.url === '/down') {
        res.statusCode = 500;
        return res.end('down');
      }
      received.push({ path: req.url!, key: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(text) });
      res.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    of: (pipeline) => received.filter((r) => r.body.pipeline === pipeline),
    close: () => server.close(),
  };
}

/** Polls until `check` holds (or `ms` pass) and returns its last value. */
export async function eventually<T>(read: () => T | Promise<T>, check: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!check(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    v = await read();
  }
  return v;
}
