/**
 * Micro-benchmark of the normalizer hot path: a flat 12-field item with one nested list of 3 scalars
 * (4 rows per item). Run: `node --import tsx bench/normalizer-micro.ts [items]`.
 */
import { nestedRowId } from '../pipeline/normalize/hash.ts';
import { Normalizer } from '../pipeline/normalize/normalizer.ts';
import type { Schema } from '../pipeline/schema.ts';

const N = Number(process.argv[2] ?? 500_000);

function makeItem(i: number): Record<string, unknown> {
  return {
    id: i,
    userName: `user_${i}`,
    email: `user${i}@example.com`,
    createdAt: '2024-01-01T10:20:30Z',
    score: i * 0.5 + 0.25,
    active: i % 2 === 0,
    country: 'DE',
    city: 'Berlin',
    zip: '10115',
    visits: i % 1000,
    ratio: 0.75,
    note: null,
    tags: ['a', 'b', 'c'],
  };
}

const items = Array.from({ length: 10_000 }, (_, i) => makeItem(i));

function run(n: number): number {
  const schema: Schema = { name: 'bench', tables: { users: { name: 'users', columns: {} } } };
  const norm = new Normalizer(schema, { loadId: '1700000000.123', resource: 'users' });
  let rows = 0;
  const emit = () => {
    rows++;
  };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) norm.normalize(items[i % items.length], 'users', emit);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (rows !== n * 4) throw new Error(`unexpected row count ${rows}`);
  return n / dt;
}

run(Math.min(N, 50_000)); // warm-up
const rates: number[] = [];
for (let r = 0; r < 3; r++) rates.push(run(N));
const best = Math.max(...rates);
// context: the 3 nested row ids per item are shake128 digests (dlt-compatible, NM-9; keccak.ts)
const H = 200_000;
const h0 = process.hrtime.bigint();
for (let i = 0; i < H; i++) nestedRowId('abcdefghijklmn', 'users__tags', i % 3);
const hashUs = Number(process.hrtime.bigint() - h0) / 1e3 / H;
console.log(`normalizer: ${Math.round(best).toLocaleString('en-US')} items/s (best of 3 × ${N.toLocaleString('en-US')} items; runs: ${rates.map((x) => Math.round(x)).join(', ')}); ${Math.round(best * 4).toLocaleString('en-US')} rows/s`);
console.log(`  one shake128 digest on this machine: ${hashUs.toFixed(2)} µs (3 per item = ${(3 * hashUs).toFixed(2)} µs of ${(1e6 / best).toFixed(2)} µs per item)`);
