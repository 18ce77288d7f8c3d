/**
 * dlt-compatible digests: ids of nested rows, key and row hashes, incremental dedup hashes.
 * shake_128 over UTF-8, base64, `=` stripped (dlt `digest128` / `digest128b`).
 */
import { randomFillSync } from 'node:crypto';
import { shake128Base64 } from './keccak.ts';

/**
 * Compact JSON with object keys sorted at every level, non-ASCII unescaped (dlt's hashing json:
 * `json.dumpb(…, sort_keys=True)`). Written by hand, not by JSON.stringify of a sorted copy: a JS
 * object lists integer-like keys first in numeric order (`"2"` before `"10"`), where dlt sorts every
 * key as a string (`"10"` before `"2"`).
 */
export function sortedJson(value: unknown, dates: DateEncoding = 'iso'): string {
  return serialize(value, dates) as string;
}

/** How a Date is written: an ISO string (JSON's own), or whole microseconds since the epoch (dlt ≥ 1.29's dedup hashes). */
export type DateEncoding = 'iso' | 'micros';

/** JSON text of `v`, or undefined for what JSON leaves out (undefined, functions, symbols). */
function serialize(v: unknown, dates: DateEncoding): string | undefined {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(v);
    case 'bigint':
      return JSON.stringify(v.toString());
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => serialize(x, dates) ?? 'null').join(',')}]`;
  if (v instanceof Date) return dates === 'micros' ? String(v.getTime() * 1000) : JSON.stringify(v.toISOString());
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return serialize((v as { toJSON(): unknown }).toJSON(), dates);
  let out = '';
  for (const k of Object.keys(v).sort()) {
    const x = serialize((v as Record<string, unknown>)[k], dates);
    if (x === undefined) continue;
    let key = quotedKeys.get(k);
    if (key === undefined) {
      if (quotedKeys.size >= 10_000) quotedKeys.clear();
      quotedKeys.set(k, (key = JSON.stringify(k)));
    }
    out += (out ? ',' : '') + key + ':' + x;
  }
  return `{${out}}`;
}

/** `"key"` of object keys, which repeat from row to row. */
const quotedKeys = new Map<string, string>();

/** 20-character digest (15 bytes): incremental `unique_hashes`. */
export function digest128(s: string): string {
  return shake128Base64(s, 15);
}

/** 14-character digest (10 bytes): nested row ids, key hashes, row hashes. */
export function digest10(s: string): string {
  return shake128Base64(s, 10);
}

// random ids are drawn from a pooled randomFillSync buffer: a randomBytes(10) call per root row
// costs microseconds on the normalizer's hot path
const ID_BYTES = 10;
const idPool = Buffer.allocUnsafe(ID_BYTES * 4096);
let idOffset = idPool.length;

/** A random root row id: 10 random bytes, base64, 14 characters (dlt `uniq_id_base64`). */
export function uniqueId(): string {
  if (idOffset >= idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const s = idPool.toString('base64', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return s.slice(0, 14);
}

/** Deterministic id of a nested row (NM-9): digest of `<parent id>_<nested table>_<list index>`. */
export function nestedRowId(parentId: string, table: string, listIdx: number): string {
  return digest10(`${parentId}_${table}_${listIdx}`);
}

/**
 * The two forms of boundary-dedup hashes: dlt before 1.29 writes 20 characters (15 bytes) of the
 * sorted JSON with dates as ISO strings ('long'); dlt 1.29 and later write 12 characters (9 bytes)
 * with dates as epoch microseconds ('short') and still read the long form.
 */
export type DedupHashForm = 'short' | 'long';

export const DEDUP_HASH_LENGTH: Record<DedupHashForm, number> = { short: 12, long: 20 };

/** The form of a stored hash, by its length; undefined for a string neither dlt version writes. */
export function dedupHashFormOf(hash: string): DedupHashForm | undefined {
  return hash.length === 20 ? 'long' : hash.length === 12 ? 'short' : undefined;
}

/** Incremental boundary-dedup hash of a value (a primary key value, or the whole row). */
export function dedupHash(value: unknown, form: DedupHashForm = 'long'): string {
  return form === 'long' ? digest128(sortedJson(value)) : shake128Base64(sortedJson(value, 'micros'), 9);
}
