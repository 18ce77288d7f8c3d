/**
 * Where tide finds its Temporal server: one function per default. These read the environment, so
 * workflows never import this file.
 */

/** The Temporal frontend: `TEMPORAL_ADDRESS`, else `localhost:7233`. */
export function temporalAddress(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPORAL_ADDRESS ?? 'localhost:7233';
}

/** The Temporal namespace: `TEMPORAL_NAMESPACE`, else `default`. */
export function temporalNamespace(env: Record<string, string | undefined> = process.env): string {
  return env.TEMPORAL_NAMESPACE ?? 'default';
}
