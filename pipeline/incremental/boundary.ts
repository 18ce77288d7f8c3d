/**
 * Boundary deduplication set (INC-25..INC-29) with a compact representation for large boundaries
 * (tide's fix for dlt#4030 / #2580, PP-1/PP-2).
 *
 * The set always describes the rows sitting exactly on the current `last_value`.
 * State layout:
 *  - `unique_hashes: string[]` — dlt's layout: the digest of the dedup key, 12 characters (dlt ≥ 1.29) or
 *    20 (older dlt), both read. Used for every key while the boundary holds ≤ COMPACT_MIN integer keys,
 *    so small states are byte-identical to dlt's. One list holds one form: while the stored hashes are
 *    carried, new ones take their form; a new boundary takes the form the pipeline writes.
 *  - `unique_key_ranges: [lo, hi][]` — tide extension, only when the boundary holds more than COMPACT_MIN
 *    keys that are safe integers (single-column integer primary keys, the common case): the integer keys
 *    are stored exactly as sorted, merged, inclusive ranges instead of one hash each. 1M consecutive ids
 *    at one cursor value become `[[0, 999999]]`. This is exact (no false positives or negatives).
 *  - Non-integer keys (strings, compound keys, whole rows) stay hashes. No correct bounded scheme exists
 *    for arbitrary keys (an exact membership set over n arbitrary keys needs Ω(n·log(U/n)) bits; anything
 *    smaller — bloom filters, truncated hashes, counts — silently drops new rows or reloads old ones), so
 *    tide keeps every hash and warns (once per run, with the count) when the boundary exceeds 200 entries.
 *    Hard cap: none — correctness over size; the warning tells the user to use a higher-resolution cursor
 *    or an integer primary key (which compacts to ranges).
 *
 * Hashing is lazy: keys are collected while rows stream and hashed only when the state is materialised
 * (for boundaries larger than LAZY_MIN the state fields are enumerable getters, evaluated by
 * JSON.stringify/structuredClone when the state is persisted), so a stream of ever-increasing cursors
 * costs no hashing at all per row.
 */
import { dedupHash, dedupHashFormOf, type DedupHashForm } from '../normalize/hash.ts';

export const COMPACT_MIN = 1000;
export const LAZY_MIN = 1000;

export type Range = [number, number];

function isInt(k: unknown): k is number {
  return typeof k === 'number' && Number.isSafeInteger(k);
}

export function toRanges(sortedUnique: number[]): Range[] {
  const out: Range[] = [];
  for (const v of sortedUnique) {
    const last = out[out.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else if (!last || v > last[1]) out.push([v, v]);
  }
  return out;
}

function mergeRanges(a: Range[], b: Range[]): Range[] {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out: Range[] = [];
  for (const [lo, hi] of all) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) {
      if (hi > last[1]) last[1] = hi;
    } else out.push([lo, hi]);
  }
  return out;
}

function inRanges(ranges: Range[], v: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (v < r[0]) hi = mid - 1;
    else if (v > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

export function parseRanges(x: unknown): Range[] {
  if (!Array.isArray(x)) return [];
  const rs: Range[] = [];
  for (const r of x) {
    if (Array.isArray(r) && r.length === 2 && isInt(r[0]) && isInt(r[1]) && r[0] <= r[1]) rs.push([r[0], r[1]]);
  }
  return mergeRanges(rs, []);
}

export interface Materialized {
  hashes: string[];
  ranges?: Range[];
}

export class BoundarySet {
  readonly #startHashes: Set<string>;
  readonly #startRanges: Range[];
  /** true while last_value has not moved past the start value: the stored set is carried over (INC-29) */
  carry = true;
  #ints = new Set<number>();
  /** raw non-integer keys not hashed yet */
  #others: unknown[] = [];
  /** hashes of non-integer keys already materialised */
  #otherHashes: string[] = [];
  #intHashes = new Map<number, string>();
  version = 0;
  #cache?: { version: number; value: Materialized };

  /** The forms of the stored hashes (a list written by another tool may hold both). */
  readonly #startForms: DedupHashForm[];

  /** `writeForm`: the hash form of a new boundary (the form the dataset's dlt version reads). */
  readonly #writeForm: DedupHashForm;

  constructor(startHashes: unknown, startRanges: unknown, writeForm: DedupHashForm = 'short') {
    this.#writeForm = writeForm;
    this.#startHashes = new Set(Array.isArray(startHashes) ? startHashes.filter((h): h is string => typeof h === 'string') : []);
    this.#startRanges = parseRanges(startRanges);
    const forms = new Set([...this.#startHashes].map(dedupHashFormOf));
    this.#startForms = (['long', 'short'] as const).filter((f) => forms.has(f));
  }

  /** Was this key (of a row at the start value) stored by the previous run? */
  seenBefore(key: unknown): boolean {
    if (isInt(key) && this.#startRanges.length && inRanges(this.#startRanges, key)) return true;
    for (const form of this.#startForms) if (this.#startHashes.has(dedupHash(key, form))) return true;
    return false;
  }

  /** The form hashes are written in now: the carried list's own (a list keeps one form), else the pipeline's. */
  get form(): DedupHashForm {
    return this.carry && this.#startForms.length ? this.#startForms[0] : this.#writeForm;
  }

  /** Whether integer key ranges of the previous run are still carried (materialize() then has ranges). */
  get carriesRanges(): boolean {
    return this.carry && this.#startRanges.length > 0;
  }

  get startCount(): number {
    let n = this.#startHashes.size;
    for (const [lo, hi] of this.#startRanges) n += hi - lo + 1;
    return n;
  }

  /** A strictly better last value arrived: forget carried and collected keys. */
  reset(): void {
    this.carry = false;
    if (this.#ints.size) this.#ints.clear();
    if (this.#others.length) this.#others.length = 0;
    if (this.#otherHashes.length) this.#otherHashes.length = 0;
    if (this.#intHashes.size) this.#intHashes.clear();
    this.version++;
  }

  add(key: unknown): void {
    if (isInt(key)) {
      if (this.#ints.has(key)) return;
      this.#ints.add(key);
    } else this.#others.push(key);
    this.version++;
  }

  /** Upper bound of the number of entries (exact unless the same non-integer key was added twice). */
  get size(): number {
    return (this.carry ? this.startCount : 0) + this.#ints.size + this.#otherHashes.length + this.#others.length;
  }

  materialize(): Materialized {
    if (this.#cache && this.#cache.version === this.version) return this.#cache.value;
    const hs = new Set<string>(this.carry ? this.#startHashes : undefined);
    // hash pending raw keys once and drop them (rows are not retained by the state)
    const form = this.form;
    for (let i = 0; i < this.#others.length; i++) this.#otherHashes.push(dedupHash(this.#others[i], form));
    this.#others.length = 0;
    for (const h of this.#otherHashes) hs.add(h);
    const carriedRanges = this.carry ? this.#startRanges : [];
    let ranges: Range[] | undefined;
    if (carriedRanges.length === 0 && this.#ints.size <= COMPACT_MIN) {
      for (const i of this.#ints) {
        let h = this.#intHashes.get(i);
        if (h === undefined) {
          h = dedupHash(i, form);
          this.#intHashes.set(i, h);
        }
        hs.add(h);
      }
    } else {
      const sorted = Array.from(this.#ints).sort((a, b) => a - b);
      ranges = mergeRanges(carriedRanges, toRanges(sorted));
    }
    const value: Materialized = { hashes: Array.from(hs), ranges };
    this.#cache = { version: this.version, value };
    return value;
  }
}
