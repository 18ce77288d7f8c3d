/**
 * Ports on this machine, for the embedded Postgres, the Temporal dev server and the tests.
 */
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** `preferred` when it is free on 127.0.0.1, else a free port. */
export async function portOr(preferred: number): Promise<number> {
  const free = await new Promise<boolean>((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(preferred, '127.0.0.1', () => s.close(() => res(true)));
  });
  return free ? preferred : freePort();
}
