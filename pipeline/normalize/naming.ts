/**
 * dlt's `snake_case` naming convention (dlt 1.26 `dlt.common.normalizers.naming.snake_case`), Postgres
 * identifier limit 63 by default. Results are cached: normalization runs per key per item.
 */
import { shake128Base64 } from './keccak.ts';

export const PATH_SEPARATOR = '__';
export const EMPTY_KEY_IDENTIFIER = '_empty';
const DEFAULT_MAX_LENGTH = 63;

// Python's `str.strip()` whitespace set (str.isspace), which differs slightly from JS `trim()`.
const PY_WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const RE_PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');
const RE_PY_ALL_WS = new RegExp(`^[${PY_WS}]*$`);
// Python `\d` in a str pattern matches every Unicode decimal digit.
const RE_NON_ALPHANUMERIC = /[^a-zA-Z\p{Nd}_]+/gu;
const RE_LEADING_DIGITS = /^\p{Nd}/u;
const RE_UNDERSCORES = /__+/g;
const RE_TRAILING_UNDERSCORES = /_+$/;
const RE_BREAK_1 = /([^_])([A-Z][a-z]+)/g;
const RE_BREAK_2 = /([a-z0-9])([A-Z])/g;
const RE_REDUCE = /[+\-*@|]/g;
const REDUCE: Record<string, string> = { '+': 'x', '-': '_', '*': 'x', '@': 'a', '|': 'l' };

/** Python `str.strip()`. */
function pyStrip(s: string): string {
  return s.replace(RE_PY_STRIP, '');
}

/** Python `not s or s.isspace()`. */
export function isBlank(s: string): boolean {
  return s.length === 0 || RE_PY_ALL_WS.test(s);
}

const CACHE_LIMIT = 100_000;

class BoundedCache {
  readonly #map = new Map<string, string>();
  get(k: string): string | undefined {
    return this.#map.get(k);
  }
  set(k: string, v: string): void {
    if (this.#map.size >= CACHE_LIMIT) this.#map.clear();
    this.#map.set(k, v);
  }
}

// --- shortening (dlt NamingConvention.shorten_identifier) ---------------------------------------

// tl_bytes = int(((2 + 1) * log2(1 / 0.001)) // 8) + 1 = 4
const TAG_BYTES = Math.floor((3 * Math.log2(1 / 0.001)) / 8) + 1;

function computeTag(identifier: string): string {
  return shake128Base64(identifier, TAG_BYTES)
    .replace(/\//g, 'a')
    .replace(/\+/g, 'b')
    .toLowerCase();
}

/** Shortens `normalized` to `maxLength` with a tag computed from `identifier` placed in the middle. */
export function shortenIdentifier(normalized: string, identifier: string, maxLength: number = DEFAULT_MAX_LENGTH): string {
  if (!maxLength || normalized.length <= maxLength) return normalized;
  const tag = computeTag(identifier);
  const remaining = maxLength - tag.length;
  const overflow = remaining % 2;
  const half = Math.floor(remaining / 2);
  return normalized.slice(0, half + overflow) + tag + normalized.slice(normalized.length - half);
}

// --- identifiers ---------------------------------------------------------------------------------

function toSnakeCase(identifier: string): string {
  let s = identifier.replace(RE_BREAK_1, '$1_$2').replace(RE_BREAK_2, '$1_$2').toLowerCase();
  if (RE_LEADING_DIGITS.test(s)) s = '_' + s;
  const m = RE_TRAILING_UNDERSCORES.exec(s);
  if (m) s = s.slice(0, m.index) + 'x'.repeat(m[0].length);
  return s.replace(RE_UNDERSCORES, '_');
}

const identCaches = new Map<number, BoundedCache>();
function cacheFor(maxLength: number, caches: Map<number, BoundedCache>): BoundedCache {
  let c = caches.get(maxLength);
  if (!c) caches.set(maxLength, (c = new BoundedCache()));
  return c;
}

/**
 * dlt `snake_case.normalize_identifier`: trims, reduces the alphabet, snake-cases and shortens.
 * An empty (or whitespace-only) name gives `_empty` (dlt raises; its normalizer substitutes `_empty`).
 */
export function normalizeIdentifier(name: string, maxLength: number = DEFAULT_MAX_LENGTH): string {
  const cache = cacheFor(maxLength, identCaches);
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const stripped = pyStrip(name);
  let out: string;
  if (!stripped) out = EMPTY_KEY_IDENTIFIER;
  else {
    const reduced = stripped.replace(RE_REDUCE, (c) => REDUCE[c]).replace(RE_NON_ALPHANUMERIC, '_');
    out = shortenIdentifier(toSnakeCase(reduced), stripped, maxLength);
  }
  cache.set(name, out);
  return out;
}

/** dlt `break_path`: split on `__`, drop blank fragments. */
export function breakPath(path: string): string[] {
  return path.split(PATH_SEPARATOR).filter((p) => !isBlank(p));
}

const pathCaches = new Map<number, BoundedCache>();

/**
 * dlt `normalize_path` (what dlt applies to every item key): each `__`-separated fragment is normalized,
 * fragments are re-joined with `__` and the whole path is shortened. So `a__b` stays `a__b` while
 * `a___b` → `a___b` and `__a` → `a`. A path without fragments gives `''`.
 */
export function normalizePath(path: string, maxLength: number = DEFAULT_MAX_LENGTH): string {
  const cache = cacheFor(maxLength, pathCaches);
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const parts = breakPath(path);
  let out: string;
  if (parts.length === 1) out = normalizeIdentifier(parts[0], maxLength);
  else out = shortenIdentifier(parts.map((p) => normalizeIdentifier(p, maxLength)).join(PATH_SEPARATOR), path, maxLength);
  cache.set(path, out);
  return out;
}

const fragCaches = new Map<number, BoundedCache>();

/**
 * dlt `shorten_fragments`: joins already-normalized identifiers with `__` (blank ones dropped) and
 * shortens the result (tag computed from the joined path). Used for nested table names and
 * flattened column names.
 */
export function shortenFragments(parts: readonly string[], maxLength: number = DEFAULT_MAX_LENGTH): string {
  let joined = '';
  for (const p of parts) {
    if (isBlank(p)) continue;
    joined = joined ? joined + PATH_SEPARATOR + p : p;
  }
  if (joined.length <= maxLength) return joined;
  const cache = cacheFor(maxLength, fragCaches);
  const hit = cache.get(joined);
  if (hit !== undefined) return hit;
  const out = shortenIdentifier(joined, joined, maxLength);
  cache.set(joined, out);
  return out;
}

/**
 * Joins identifiers into a path like dlt's `make_path` + `shorten_fragments`: parts are normalized
 * (each as a path, so `a__b` stays two fragments), joined with `__`, and the result shortened.
 * `makePath('parent', 'child')` → `parent__child`; `makePath('a', 'b')` → `a__b`.
 */
export function makePath(...parts: string[]): string {
  return shortenFragments(parts.map((p) => (isBlank(p) ? '' : normalizePath(p))));
}
