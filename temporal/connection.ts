/**
 * Where tide finds its Temporal server and its Web UI: one function per default. These read the
 * environment, so workflows never import this file.
 */

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
