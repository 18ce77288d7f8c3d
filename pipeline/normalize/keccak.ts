/**
 * SHAKE128 digests of short strings in WebAssembly, base64 without padding: dlt's `digest128`
 * (15 bytes, 20 characters) and the 10-byte ids of nested rows (14 characters).
 *
 * Why not node:crypto: every `createHash` builds a Hash object, a native handle the GC has to
 * finalize and an OpenSSL context, ~1.2 µs for the ~30-byte inputs tide hashes, once per nested row.
 * Here the sponge runs over the string's UTF-8 bytes written straight into the module's memory, and
 * only the result string is allocated. Inputs too long for the module's buffer go to node:crypto.
 * Both are checked against each other in test/unit/keccak.test.ts.
 */
import { createHash } from 'node:crypto';
import { KECCAK_WASM_BASE64 } from './keccak-wasm.ts';

const RATE = 168;
const OUT_OFFSET = 65536 - 16;
const RC_OFFSET = 65536 - 16 - 24 * 8;
/** Largest UTF-8 input the module takes: padding to whole blocks must stay below the constants. */
const MAX_INPUT = Math.floor(RC_OFFSET / RATE) * RATE - 1;

/** The part of the WebAssembly API used here (the project's TS lib has no DOM / WebAssembly types). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: { memory: { buffer: ArrayBuffer }; absorb(blocks: number): void } };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
const { exports } = new wasm.Instance(new wasm.Module(Buffer.from(KECCAK_WASM_BASE64, 'base64')), {});
const memory = new Uint8Array(exports.memory.buffer);
const input = memory.subarray(0, MAX_INPUT);
const absorb = exports.absorb;
const utf8 = new TextEncoder();

const B64 = Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) => c.charCodeAt(0));

/** base64 of the first 10 output bytes (14 characters): nested row ids, on the hot path. */
function outputBase64Of10(): string {
  const m = memory;
  const o = OUT_OFFSET;
  const a = (m[o] << 16) | (m[o + 1] << 8) | m[o + 2];
  const b = (m[o + 3] << 16) | (m[o + 4] << 8) | m[o + 5];
  const c = (m[o + 6] << 16) | (m[o + 7] << 8) | m[o + 8];
  const d = m[o + 9];
  return String.fromCharCode(
    B64[a >> 18], B64[(a >> 12) & 63], B64[(a >> 6) & 63], B64[a & 63],
    B64[b >> 18], B64[(b >> 12) & 63], B64[(b >> 6) & 63], B64[b & 63],
    B64[c >> 18], B64[(c >> 12) & 63], B64[(c >> 6) & 63], B64[c & 63],
    B64[d >> 2], B64[(d & 3) << 4],
  );
}

/** base64 of the first `bytes` (1..16) output bytes, without padding. */
function outputBase64(bytes: number): string {
  if (bytes === 10) return outputBase64Of10();
  const m = memory;
  const o = OUT_OFFSET;
  const codes: number[] = [];
  let i = 0;
  for (; i + 3 <= bytes; i += 3) {
    const n = (m[o + i] << 16) | (m[o + i + 1] << 8) | m[o + i + 2];
    codes.push(B64[n >> 18], B64[(n >> 12) & 63], B64[(n >> 6) & 63], B64[n & 63]);
  }
  if (bytes - i === 1) {
    const b = m[o + i];
    codes.push(B64[b >> 2], B64[(b & 3) << 4]);
  } else if (bytes - i === 2) {
    const n = (m[o + i] << 8) | m[o + i + 1];
    codes.push(B64[n >> 10], B64[(n >> 4) & 63], B64[(n & 15) << 2]);
  }
  return String.fromCharCode(...codes);
}

/** SHAKE128 of the UTF-8 bytes of `s`, the first `bytes` (1..16) bytes in base64 without `=`. */
export function shake128Base64(s: string, bytes: number): string {
  if (s.length * 3 > MAX_INPUT) {
    return createHash('shake128', { outputLength: bytes }).update(s, 'utf8').digest('base64').replace(/=+$/, '');
  }
  const n = utf8.encodeInto(s, input).written;
  const blocks = Math.floor(n / RATE) + 1;
  const end = blocks * RATE;
  memory.fill(0, n, end);
  memory[n] ^= 0x1f; // SHAKE domain bits + first pad bit
  memory[end - 1] ^= 0x80; // last pad bit
  absorb(blocks);
  return outputBase64(bytes);
}
