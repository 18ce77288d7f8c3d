/**
 * Generates the WebAssembly text of tide's SHAKE128 (pipeline/normalize/keccak.ts): one exported
 * function `absorb(blocks)` that runs the Keccak-f[1600] sponge over `blocks` padded 168-byte blocks
 * at memory offset 0 and stores the first 16 output bytes at OUT_OFFSET. The 25 lanes live in locals
 * (registers) and the round is written out lane by lane: a table-driven loop over memory is ~3x slower.
 *
 *   node scripts/keccak-wat.mjs > /tmp/keccak.wat      (the test compares it with the committed binary)
 */
export const RATE = 168;
export const OUT_OFFSET = 65536 - 16;
export const RC_OFFSET = 65536 - 16 - 24 * 8;

const RC = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n, 0x000000000000808bn, 0x0000000080000001n,
  0x8000000080008081n, 0x8000000000008009n, 0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n,
  0x000000000000800an, 0x800000008000000an, 0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
];
// rotation offsets r[x][y]
const R = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];

export function keccakWat() {
  const out = [];
  const e = (s) => out.push(s);
  const lane = (x, y) => x + 5 * y;
  e('(module');
  e('  (memory (export "memory") 1)');
  const rcBytes = RC.map((c) => {
    let s = '';
    for (let i = 0; i < 8; i++) s += '\\' + ((c >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0');
    return s;
  }).join('');
  e(`  (data (i32.const ${RC_OFFSET}) "${rcBytes}")`);
  e('  (func (export "absorb") (param $n i32)');
  const locals = [];
  for (let i = 0; i < 25; i++) locals.push(`$a${i}`, `$b${i}`);
  for (let i = 0; i < 5; i++) locals.push(`$c${i}`);
  locals.push('$d');
  e(`    ${locals.map((l) => `(local ${l} i64)`).join(' ')}`);
  e('    (local $p i32) (local $r i32)');
  e('    block $done');
  e('    loop $blocks');
  e('      local.get $n');
  e('      i32.eqz');
  e('      br_if $done');
  for (let i = 0; i < RATE / 8; i++) e(`      local.get $a${i} local.get $p i64.load offset=${i * 8} i64.xor local.set $a${i}`);
  e('      i32.const 0');
  e('      local.set $r');
  e('      loop $rounds');
  // theta
  for (let x = 0; x < 5; x++) {
    e(`        local.get $a${lane(x, 0)} local.get $a${lane(x, 1)} i64.xor local.get $a${lane(x, 2)} i64.xor local.get $a${lane(x, 3)} i64.xor local.get $a${lane(x, 4)} i64.xor local.set $c${x}`);
  }
  for (let x = 0; x < 5; x++) {
    e(`        local.get $c${(x + 4) % 5} local.get $c${(x + 1) % 5} i64.const 1 i64.rotl i64.xor local.set $d`);
    for (let y = 0; y < 5; y++) e(`        local.get $a${lane(x, y)} local.get $d i64.xor local.set $a${lane(x, y)}`);
  }
  // rho + pi: B[y, 2x+3y] = rotl(A[x, y], r[x][y])
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      const to = lane(y, (2 * x + 3 * y) % 5);
      const rot = R[x][y];
      e(rot ? `        local.get $a${lane(x, y)} i64.const ${rot} i64.rotl local.set $b${to}` : `        local.get $a${lane(x, y)} local.set $b${to}`);
    }
  }
  // chi
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      e(`        local.get $b${lane(x, y)} local.get $b${lane((x + 1) % 5, y)} i64.const -1 i64.xor local.get $b${lane((x + 2) % 5, y)} i64.and i64.xor local.set $a${lane(x, y)}`);
    }
  }
  // iota
  e(`        local.get $a0 local.get $r i32.const 3 i32.shl i64.load offset=${RC_OFFSET} i64.xor local.set $a0`);
  e('        local.get $r i32.const 1 i32.add local.tee $r i32.const 24 i32.lt_u br_if $rounds');
  e('      end');
  e(`      local.get $p i32.const ${RATE} i32.add local.set $p`);
  e('      local.get $n i32.const 1 i32.sub local.set $n');
  e('      br $blocks');
  e('    end');
  e('    end');
  e(`    i32.const ${OUT_OFFSET} local.get $a0 i64.store`);
  e(`    i32.const ${OUT_OFFSET + 8} local.get $a1 i64.store`);
  e('  )');
  e(')');
  return out.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(keccakWat());
