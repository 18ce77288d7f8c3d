/** The WebAssembly SHAKE128 (pipeline/normalize/keccak.ts) against node:crypto, and its build. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shake128Base64 } from '../../pipeline/normalize/keccak.ts';
// @ts-expect-error plain ESM build script without types
import { keccakWasmBase64, keccakWasmSource } from '../../scripts/keccak-wasm.mjs';

const reference = (s: string, bytes: number) => createHash('shake128', { outputLength: bytes }).update(s, 'utf8').digest('base64').replace(/=+$/, '');

/** Deterministic pseudo-random strings mixing ASCII, 2-, 3- and 4-byte UTF-8 characters. */
function strings(count: number): string[] {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const alphabet = ['a', 'Z', '_', '0', '9', ' ', 'ü', 'ß', '€', '中', '🚀', '\u0000', '\n'];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = Math.floor(next() * 400);
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    out.push(s);
  }
  return out;
}

describe('shake128Base64', () => {
  it('equals node:crypto for dlt id inputs, block boundaries, unicode and every output length', () => {
    const inputs = [
      '',
      'a',
      'abcdefghijklmn_items__labels_0',
      'x'.repeat(166),
      'x'.repeat(167), // padding bytes 0x1f and 0x80 meet in one byte
      'x'.repeat(168),
      'x'.repeat(169),
      'x'.repeat(335),
      'x'.repeat(336),
      'ü🚀'.repeat(120),
      'y'.repeat(30_000), // beyond the module's buffer: node:crypto
      ...strings(300),
    ];
    for (const s of inputs) {
      for (const bytes of [1, 2, 3, 10, 14, 15, 16]) expect(shake128Base64(s, bytes), `${JSON.stringify(s.slice(0, 20))}… (${s.length}) ${bytes}`).toBe(reference(s, bytes));
    }
  });

  it('gives dlt’s ids (NM-9 vector from dlt 1.26)', () => {
    // the digest of a nested row of the MG-15 vector: parent 19GAeLNivYhDqg, table t__child, index 0
    expect(shake128Base64('19GAeLNivYhDqg_t__child_0', 10)).toBe('QSaGMrA24MERtA');
  });

  it('the committed module is what scripts/keccak-wasm.mjs builds', async () => {
    const committed = readFileSync(new URL('../../pipeline/normalize/keccak-wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(keccakWasmSource(await keccakWasmBase64()));
  });
});
