/**
 * Fast random root row ids: same format as `uniqueId()` in hash.ts (10 random bytes, base64,
 * 14 characters; dlt `uniq_id_base64(10)`) but drawn from a pooled `randomBytes` buffer, because a
 * `randomBytes(10)` call per row costs microseconds on the normalizer's hot path.
 */
import { randomFillSync } from 'node:crypto';
import { shake128Base64 } from './keccak.ts';

const ID_BYTES = 10;
const POOL_IDS = 4096;
const pool = Buffer.allocUnsafe(ID_BYTES * POOL_IDS);
let offset = pool.length;

export function fastUniqueId(): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('base64', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return s.slice(0, 14);
}

/** Same as hash.ts `nestedRowId` (NM-9). */
export function fastNestedRowId(parentId: string, table: string, listIdx: number): string {
  return shake128Base64(`${parentId}_${table}_${listIdx}`, ID_BYTES);
}

/** Same as hash.ts `digest10` (10 bytes of shake128, base64 without padding). */
export function fastDigest10(s: string): string {
  return shake128Base64(s, ID_BYTES);
}
