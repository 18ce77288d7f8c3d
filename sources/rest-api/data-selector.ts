/**
 * Which part of a response body holds the page's records: `dataSelector` when given, else the
 * list dlt's detector would pick (its `find_response_page_data`).
 */
import { findValues } from './json-path.ts';

const RECORD_KEYS = new Set(['data', 'items', 'results', 'entries', 'records', 'rows', 'entities', 'payload', 'content', 'objects', 'values']);

/** The records of one response: a list stays a list, a single object becomes a one-record page. */
export function selectRecords(body: unknown, dataSelector: string | undefined): unknown[] {
  let data: unknown;
  if (dataSelector !== undefined) {
    const found = findValues(dataSelector, body);
    // one match is the value itself (usually the list); several matches are the records
    data = found.length === 1 ? found[0] : found;
  } else {
    data = detectRecords(body);
  }
  if (data === undefined || data === null) return [];
  return Array.isArray(data) ? data : [data];
}

/** dlt's heuristic: the first list (at most three keys deep) under a record-like key, else the least nested list, else the body. */
function detectRecords(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const lists: { key: string; list: unknown[] }[] = [];
  collectLists(body as Record<string, unknown>, 0, lists);
  if (!lists.length) return body;
  return (lists.find((l) => RECORD_KEYS.has(l.key)) ?? lists[0]).list;
}

/** Lists in `obj`, in key order, depth first: the order dlt's `find_all_lists` returns them in. */
function collectLists(obj: Record<string, unknown>, depth: number, out: { key: string; list: unknown[] }[]): void {
  if (depth > 2) return;
  for (const [key, value] of Object.entries(obj)) {
    if (Array.isArray(value)) out.push({ key, list: value });
    else if (value !== null && typeof value === 'object') collectLists(value as Record<string, unknown>, depth + 1, out);
  }
}
