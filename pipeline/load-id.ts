/**
 * Load ids: dlt's form, a UNIX timestamp with microseconds as a string, e.g. "1781239416.274688".
 */

let lastLoadMicros = 0;

/**
 * A new load id, strictly increasing within a process. The clock gives milliseconds: the
 * microseconds are random, so two workers starting a load in the same millisecond do not share a
 * load id (its staging tables and `_dlt_loads` row are keyed by it).
 */
export function newLoadId(): string {
  let us = Date.now() * 1000 + Math.floor(Math.random() * 1000);
  if (us <= lastLoadMicros) us = lastLoadMicros + 1;
  lastLoadMicros = us;
  // integer arithmetic: a double cannot hold 10 + 6 digits exactly
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}
