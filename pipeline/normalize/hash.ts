/**
 * dlt-compatible digests: ids of nested rows, key and row hashes, incremental dedup hashes.
 * shake_128 over UTF-8, base64, `=` stripped (dlt `digest128` / `digest128b`).
 */
import { randomBytes } from 'node:crypto';
import { shake128Base64 } from './keccak.ts';

/** Compact JSON with object keys sorted at every level, non-ASCII unescaped (dlt's hashing json). */
export function sortedJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value));
}

function sortKeysDeep(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? v.toString() : v;
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v instanceof Date) return v.toISOString();
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return sortKeysDeep((v as { toJSON(): unknown }).toJSON());
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v as object).sort()) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) out[k] = sortKeysDeep(x);
  }
  return out;
}

function shake(s: string, bytes: number): string {
  return shake128Base64(s, bytes);
}

/** 20-character digest (15 bytes): incremental `unique_hashes`. */
export function digest128(s: string): string {
  return shake(s, 15);
}

/** 14-character digest (10 bytes): nested row ids, key hashes, row hashes. */
export function digest10(s: string): string {
  return shake(s, 10);
}

/** A random root row id: 10 random bytes, base64, 14 characters (dlt `uniq_id_base64`). */
export function uniqueId(): string {
  return randomBytes(10).toString('base64').slice(0, 14);
}

/** Deterministic id of a nested row (NM-9): digest of `<parent id>_<nested table>_<list index>`. */
export function nestedRowId(parentId: string, table: string, listIdx: number): string {
  return digest10(`${parentId}_${table}_${listIdx}`);
}

/** Incremental boundary-dedup hash of a value (INC-26): digest128 of its sorted JSON. */
export function dedupHash(value: unknown): string {
  return digest128(sortedJson(value));
}
