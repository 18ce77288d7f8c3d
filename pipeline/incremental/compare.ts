/**
 * Cursor value comparison, ISO-8601 parsing, lag arithmetic.
 *
 * tide's comparison rule (fixes dlt#2483 / PP-8, #2169, #2154):
 *  - number/bigint vs number/bigint: native `<`/`>`.
 *  - Date vs Date: by instant (`getTime()`).
 *  - string vs string: when both are ISO-8601 date or date-time strings they compare as **instants**:
 *    an offset (`Z`, `+02:00`, `+0200`) is honoured, a naive date-time is read as UTC, a date-only string
 *    is midnight UTC; fractions are compared up to nanoseconds. Two strings naming the same instant compare
 *    equal even when spelled differently (`…Z` vs `…+00:00`). Fast path: strings of the same length with
 *    the same offset suffix are compared lexicographically (identical to the instant order).
 *    Any other pair of strings compares lexicographically (native, like dlt).
 *  - Date vs ISO string: by instant (same rules as above).
 *  - booleans: native.
 *  - anything else (number vs string, Date vs number, objects, arrays …) is incomparable: `compare`
 *    throws `IncomparableError`, which the runtime turns into `IncrementalCursorInvalidCoercion`.
 */

export class IncomparableError extends Error {}

export interface IsoParts {
  /** epoch milliseconds (UTC) */
  ms: number;
  /** sub-millisecond nanoseconds 0..999_999 */
  ns: number;
  dateOnly: boolean;
  /** 'Z', '+hh:mm' style as written, or '' for naive */
  tz: string;
  /** offset in minutes (0 for naive) */
  offsetMin: number;
  sep: string;
  fracDigits: number;
  hasSeconds: boolean;
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

export function parseIso(s: string): IsoParts | undefined {
  if (s.length < 10 || s.charCodeAt(4) !== 45 /* - */) return undefined;
  const m = ISO_RE.exec(s);
  if (!m) return undefined;
  const y = +m[1], mo = +m[2], d = +m[3];
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  if (m[4] === undefined) {
    return { ms: Date.UTC(y, mo - 1, d), ns: 0, dateOnly: true, tz: '', offsetMin: 0, sep: 'T', fracDigits: 0, hasSeconds: false };
  }
  const h = +m[5], mi = +m[6], sec = m[7] !== undefined ? +m[7] : 0;
  const frac = m[8] ?? '';
  const fracNs = frac ? Number((frac + '000000000').slice(0, 9)) : 0;
  let offsetMin = 0;
  const tz = m[9] ?? '';
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec) + Math.floor(fracNs / 1e6) - offsetMin * 60_000;
  if (Number.isNaN(ms)) return undefined;
  return {
    ms,
    ns: fracNs % 1e6,
    dateOnly: false,
    tz,
    offsetMin,
    sep: m[4],
    fracDigits: frac.length,
    hasSeconds: m[7] !== undefined,
  };
}

function tzSuffix(s: string): string {
  const n = s.length;
  const last = s.charCodeAt(n - 1);
  if (last === 90 /* Z */ || last === 122 /* z */) return 'Z';
  // an offset can only follow the time part (index > 10): '+hh', '+hhmm', '+hh:mm'
  for (let i = n - 1; i > 10 && i >= n - 6; i--) {
    const c = s.charCodeAt(i);
    if (c === 43 || c === 45) return s.slice(i);
  }
  return '';
}

function isoLike(s: string): boolean {
  return s.length >= 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45;
}

function cmpNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpParts(a: IsoParts, b: IsoParts): number {
  return a.ms !== b.ms ? cmpNum(a.ms, b.ms) : cmpNum(a.ns, b.ns);
}

function cmpStrings(a: string, b: string): number {
  if (a === b) return 0;
  // hot path: two UTC ISO strings of one layout (what APIs emit) order as plain strings
  const n = a.length;
  if (n === b.length && n >= 20 && a.charCodeAt(n - 1) === 90 && b.charCodeAt(n - 1) === 90 && a.charCodeAt(10) === b.charCodeAt(10) && isoLike(a) && isoLike(b)) {
    return a < b ? -1 : 1;
  }
  if (isoLike(a) && isoLike(b)) {
    if (a.length === b.length && tzSuffix(a) === tzSuffix(b) && a.charCodeAt(10) === b.charCodeAt(10)) {
      return a < b ? -1 : 1;
    }
    const pa = parseIso(a);
    const pb = parseIso(b);
    if (pa && pb) return cmpParts(pa, pb);
  }
  return a < b ? -1 : 1;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Date) return 'Date';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * compare() for the two shapes nearly every cursor has — two numbers, or two UTC ISO strings of one
 * layout — with no dispatch; everything else goes to compare(). Same results as compare().
 */
export function compareFast(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b) return 0;
    const n = a.length;
    if (n === b.length && n >= 20 && a.charCodeAt(n - 1) === 90 && b.charCodeAt(n - 1) === 90 && a.charCodeAt(10) === b.charCodeAt(10) && a.charCodeAt(4) === 45 && b.charCodeAt(4) === 45 && a.charCodeAt(7) === 45 && b.charCodeAt(7) === 45) {
      return a < b ? -1 : 1;
    }
  }
  return compare(a, b);
}

/** Three-way comparison following the rule in the module comment. Throws IncomparableError. */
export function compare(a: unknown, b: unknown): number {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'number' && tb === 'number') return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  if (ta === 'string' && tb === 'string') return cmpStrings(a as string, b as string);
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
  if (a instanceof Date && b instanceof Date) return cmpNum(a.getTime(), b.getTime());
  if (a instanceof Date && tb === 'string') {
    const p = parseIso(b as string);
    if (p) return cmpParts({ ms: a.getTime(), ns: 0 } as IsoParts, p);
  }
  if (ta === 'string' && b instanceof Date) {
    const p = parseIso(a as string);
    if (p) return cmpParts(p, { ms: b.getTime(), ns: 0 } as IsoParts);
  }
  if (ta === 'boolean' && tb === 'boolean') return cmpNum(Number(a), Number(b));
  throw new IncomparableError(`'${typeName(a)}' and '${typeName(b)}' cannot be compared`);
}

/** Structural equality used for custom last_value_func results (Python `==` on dicts/lists). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    if (typeof a === 'string' && typeof b === 'string') return false;
    return false;
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

// ---------------------------------------------------------------- formatting

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Formats an instant in the style of `template` (offset, separator, precision). */
export function formatLike(ms: number, ns: number, template: IsoParts | undefined): string {
  if (template?.dateOnly) {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  }
  const offsetMin = template?.offsetMin ?? 0;
  const d = new Date(ms + offsetMin * 60_000);
  const sep = template?.sep ?? 'T';
  let out = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}${sep}${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const subNs = (((ms % 1000) + 1000) % 1000) * 1e6 + ns;
  const hasSeconds = template ? template.hasSeconds || d.getUTCSeconds() !== 0 || subNs !== 0 : true;
  if (hasSeconds) out += `:${pad(d.getUTCSeconds())}`;
  let digits = template ? template.fracDigits : subNs % 1e6 === 0 ? (subNs === 0 ? 0 : 3) : 6;
  if (subNs !== 0 && digits < 9) {
    // never lose precision: extend the fraction when the value needs more digits than the template
    const s9 = String(subNs).padStart(9, '0');
    const needed = s9.replace(/0+$/, '').length;
    if (needed > digits) digits = needed <= 3 ? 3 : needed <= 6 ? 6 : 9;
  }
  if (digits > 0 && hasSeconds) out += '.' + String(subNs).padStart(9, '0').slice(0, digits);
  const tz = template ? template.tz : 'Z';
  if (tz === 'Z' || tz === 'z') out += tz;
  else if (tz) {
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    const hh = pad(Math.floor(abs / 60));
    const mm = pad(abs % 60);
    out += tz.includes(':') ? `${sign}${hh}:${mm}` : tz.length === 3 ? `${sign}${hh}` : `${sign}${hh}${mm}`;
  }
  return out;
}

// ---------------------------------------------------------------- lag

export class LagError extends Error {}

/**
 * INC-38: numbers ± lag (integers stay integers), Date ± lag seconds, ISO date-time strings ± lag seconds
 * re-formatted in their original format, date-only strings ± lag days. `sign` is -1 for max, +1 for min.
 */
export function shiftByLag(value: unknown, lag: number, sign: 1 | -1): unknown {
  if (typeof value === 'number') {
    const v = value + sign * lag;
    return Number.isInteger(value) ? Math.trunc(v) : v;
  }
  if (typeof value === 'bigint') return value + BigInt(Math.trunc(sign * lag));
  if (value instanceof Date) return new Date(value.getTime() + sign * lag * 1000);
  if (typeof value === 'string') {
    const p = parseIso(value);
    if (!p) throw new LagError(`Lag is not supported for cursor value ${JSON.stringify(value)}: strings must parse to a date-time or a date`);
    if (p.dateOnly) return formatLike(p.ms + sign * lag * 86_400_000, 0, p);
    const shiftNs = Math.round(sign * lag * 1e9);
    let totalNs = p.ns + (shiftNs % 1e6);
    let ms = p.ms + Math.trunc(shiftNs / 1e6);
    if (totalNs < 0) { totalNs += 1e6; ms -= 1; }
    if (totalNs >= 1e6) { totalNs -= 1e6; ms += 1; }
    return formatLike(ms, totalNs, p);
  }
  throw new LagError(`Lag is not supported for cursor type ${value === null ? 'null' : typeof value}`);
}

/** A value as dlt prints it in messages (None for null). */
export function show(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
