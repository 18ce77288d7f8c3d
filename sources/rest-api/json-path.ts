/**
 * Reading values out of response bodies by JSONPath (`data`, `links.next`, `$.meta.total`), the way
 * dlt's rest_api reads `data_selector`, `next_url_path`, `total_path` and `cursor_path`.
 */
import { JSONPath } from 'jsonpath-plus';

/** Every value `path` finds in `json` (none when `json` is not an object). */
export function findValues(path: string, json: unknown): unknown[] {
  if (json === null || typeof json !== 'object') return [];
  return JSONPath({ path, json: json as object, wrap: true }) as unknown[];
}

/** The first value `path` finds, or undefined. */
export function findValue(path: string, json: unknown): unknown {
  return findValues(path, json)[0];
}
