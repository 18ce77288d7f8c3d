/**
 * A TCP proxy on 127.0.0.1 (port 0) between workers and Postgres, for network faults: `drop()` resets
 * every open connection (both sides see the connection die), `stall()` stops forwarding bytes while
 * keeping the connections open (a network that went silent), `resume()` forwards again.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

export interface FaultProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** Resets every open connection; new ones are accepted. Returns how many were open. */
  drop(): number;
  /** Stops forwarding in both directions (connections stay open, bytes wait). */
  stall(): void;
  /** Forwards again what waited during a stall. */
  resume(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** bytes held during a stall, per direction */
  held: { up: Buffer[]; down: Buffer[] };
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair: Pair = { client, upstream, held: { up: [], down: [] } };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // no pipe(): its 'drain' handling would resume a stalled direction
    client.on('data', (d: Buffer) => (stalled ? pair.held.up.push(d) : upstream.write(d)));
    upstream.on('data', (d: Buffer) => (stalled ? pair.held.down.push(d) : client.write(d)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    via: (url) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    drop: () => {
      const n = pairs.size;
      for (const p of [...pairs]) {
        p.client.resetAndDestroy();
        p.upstream.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const p of pairs) {
        for (const d of p.held.up.splice(0)) p.upstream.write(d);
        for (const d of p.held.down.splice(0)) p.client.write(d);
      }
    },
    close: async () => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
