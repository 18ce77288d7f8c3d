/**
 * Type inference and coercion, following dlt 1.26 (`dlt.common.data_types.type_helpers`,
 * `dlt.common.schema.detections.is_iso_timestamp`, default detections `["iso_timestamp"]`).
 *
 * Output values are ready for a COPY encoder keyed by column type:
 * text→string, bigint→number|bigint, double→number, bool→boolean, timestamp→Date or canonical ISO
 * string (`YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM`), date→'YYYY-MM-DD', time→'HH:MM:SS[.ffffff]',
 * decimal→string|number|bigint, json→JSON-able value, binary→Buffer.
 */
import type { DataType } from '../schema.ts';
import { NormalizeError } from '../errors.ts';

export type CoerceResult = { ok: true; value: unknown } | { ok: false };

const FAIL: CoerceResult = Object.freeze({ ok: false }) as CoerceResult;
const INT64_MIN = -9223372036854775808;
const INT64_MAX_EXCL = 9223372036854775808;
const BIG_INT64_MIN = -9223372036854775808n;
const BIG_INT64_MAX = 9223372036854775807n;

function isLuxon(v: object): v is { isLuxonDateTime: true; isValid: boolean; toISO(): string | null; toJSDate(): Date } {
  return (v as { isLuxonDateTime?: unknown }).isLuxonDateTime === true;
}

function isBinary(v: object): v is Uint8Array {
  return v instanceof Uint8Array;
}

/**
 * The "python type" of a value (dlt's `py_type_to_sc_type`): what it is without detections.
 * Strings are `text` here even when they look like timestamps. null/undefined → null.
 */
export function valueType(value: unknown): DataType | null {
  switch (typeof value) {
    case 'string':
      return 'text';
    case 'number':
      if (Number.isInteger(value)) return value >= INT64_MIN && value < INT64_MAX_EXCL ? 'bigint' : 'decimal';
      return 'double';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return value >= BIG_INT64_MIN && value <= BIG_INT64_MAX ? 'bigint' : 'decimal';
    case 'undefined':
      return null;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new NormalizeError('Invalid Date', { value: String(value) });
        return 'timestamp';
      }
      if (isBinary(value)) return 'binary';
      if (isLuxon(value)) {
        if (!value.isValid) throw new NormalizeError('Invalid luxon DateTime', { value: String(value) });
        return 'timestamp';
      }
      return 'json';
    }
    default:
      throw new NormalizeError(`Cannot normalize a value of type ${typeof value}`, { value: String(value) });
  }
}

/** Type of a new column for `value` (dlt: detections, then the python type). null for null/undefined. */
export function inferType(value: unknown): DataType | null {
  if (typeof value === 'string') return value && parseIsoTimestamp(value) ? 'timestamp' : 'text';
  return valueType(value);
}

// --- ISO timestamps (pendulum parse_iso8601 as used by dlt's iso_timestamp detection) ------------

interface Ts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** microseconds */
  us: number;
  /** offset in minutes, null when naive */
  off: number | null;
}

const TIME_EXT = '(\\d{2})(?::(\\d{2})(?::(\\d{2})(?:[.,](\\d+))?)?)?';
const TZ = '(Z|[+-]\\d{2}(?::?\\d{2})?)?';
const RE_EXT = new RegExp(`^(\\d{4})-(\\d{2})-(\\d{2})[T ]${TIME_EXT}${TZ}$`);
const RE_BASIC = new RegExp(`^(\\d{4})(\\d{2})(\\d{2})[T ](\\d{2})(?:(\\d{2})(?:(\\d{2})(?:[.,](\\d+))?)?)?${TZ}$`);
const RE_ORDINAL = new RegExp(`^(\\d{4})-?(\\d{3})[T ]${TIME_EXT}${TZ}$`);
const RE_WEEK = new RegExp(`^(\\d{4})-?W(\\d{2})-?([1-7])[T ]${TIME_EXT}${TZ}$`);
// pendulum's "common" fallback format, e.g. `2024/01/15 10:00`
const RE_SLASH = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$/;
const RE_DATE = /^(\d{4})-?(\d{2})-?(\d{2})$/;

function daysInMonth(y: number, m: number): number {
  return m === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

function finishTime(t: Ts, hh?: string, mm?: string, ss?: string, frac?: string, tz?: string): Ts | null {
  t.h = hh ? +hh : 0;
  t.mi = mm ? +mm : 0;
  t.s = ss ? +ss : 0;
  t.us = frac ? +(frac + '00000').slice(0, 6) : 0;
  if (t.h > 23 || t.mi > 59 || t.s > 59) return null;
  if (tz === undefined || tz === '') t.off = null;
  else if (tz === 'Z') t.off = 0;
  else {
    const sign = tz[0] === '-' ? -1 : 1;
    const oh = +tz.slice(1, 3);
    const om = tz.length > 3 ? +tz.slice(tz.length - 2) : 0;
    if (oh > 24 || om > 59) return null;
    t.off = sign * (oh * 60 + om);
  }
  return t;
}

function validDate(y: number, mo: number, d: number): boolean {
  return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo);
}

function fromOrdinal(y: number, doy: number): [number, number] | null {
  if (doy < 1 || doy > (daysInMonth(y, 2) === 29 ? 366 : 365)) return null;
  const dt = new Date(Date.UTC(2000, 0, 1));
  dt.setUTCFullYear(y, 0, doy);
  return [dt.getUTCMonth() + 1, dt.getUTCDate()];
}

function fromIsoWeek(y: number, w: number, wd: number): [number, number, number] | null {
  if (w < 1 || w > 53) return null;
  const jan4 = new Date(Date.UTC(2000, 0, 4));
  jan4.setUTCFullYear(y, 0, 4);
  const jan4wd = jan4.getUTCDay() || 7;
  const dt = new Date(jan4.getTime() + ((w - 1) * 7 + (wd - jan4wd)) * 86400000);
  return [dt.getUTCFullYear(), dt.getUTCMonth() + 1, dt.getUTCDate()];
}

/** Parses an ISO-8601 date-time the way dlt's `iso_timestamp` detection accepts it; null if not one. */
export function parseIsoTimestamp(s: string): Ts | null {
  const c0 = s.charCodeAt(0);
  if (!(c0 >= 48 && c0 <= 57) || s.length < 10 || s.length > 64) return null;
  let m = RE_EXT.exec(s) ?? RE_BASIC.exec(s);
  if (m) {
    const t: Ts = { y: +m[1], mo: +m[2], d: +m[3], h: 0, mi: 0, s: 0, us: 0, off: null };
    if (!validDate(t.y, t.mo, t.d)) return null;
    return finishTime(t, m[4], m[5], m[6], m[7], m[8]);
  }
  if ((m = RE_SLASH.exec(s))) {
    const t: Ts = { y: +m[1], mo: +m[2], d: +m[3], h: 0, mi: 0, s: 0, us: 0, off: null };
    if (!validDate(t.y, t.mo, t.d)) return null;
    return finishTime(t, m[4], m[5], m[6], m[7], undefined);
  }
  if ((m = RE_ORDINAL.exec(s))) {
    const y = +m[1];
    const md = fromOrdinal(y, +m[2]);
    if (!md || y < 1) return null;
    return finishTime({ y, mo: md[0], d: md[1], h: 0, mi: 0, s: 0, us: 0, off: null }, m[3], m[4], m[5], m[6], m[7]);
  }
  if ((m = RE_WEEK.exec(s))) {
    const ymd = fromIsoWeek(+m[1], +m[2], +m[3]);
    if (!ymd || ymd[0] < 1 || ymd[0] > 9999) return null;
    return finishTime({ y: ymd[0], mo: ymd[1], d: ymd[2], h: 0, mi: 0, s: 0, us: 0, off: null }, m[4], m[5], m[6], m[7], m[8]);
  }
  return null;
}

const p2 = (n: number) => (n < 10 ? '0' + n : String(n));
const p4 = (n: number) => String(n).padStart(4, '0');

/** Canonical ISO string of a parsed timestamp in UTC; naive values are taken as UTC (dlt `normalize_timezone`). */
function tsToIso(t: Ts): string {
  let { y, mo, d, h, mi } = t;
  if (t.off) {
    const dt = new Date(0);
    dt.setUTCFullYear(y, mo - 1, d);
    dt.setUTCHours(h, mi - t.off, t.s, 0);
    y = dt.getUTCFullYear();
    mo = dt.getUTCMonth() + 1;
    d = dt.getUTCDate();
    h = dt.getUTCHours();
    mi = dt.getUTCMinutes();
  }
  let out = `${p4(y)}-${p2(mo)}-${p2(d)}T${p2(h)}:${p2(mi)}:${p2(t.s)}`;
  if (t.us) out += '.' + String(t.us).padStart(6, '0');
  return out + '+00:00';
}

/** Python `datetime.isoformat()` of a UTC Date: `2024-01-01T00:00:00.123000+00:00`. */
function pyIsoFormat(d: Date): string {
  const ms = d.getUTCMilliseconds();
  return (
    `${p4(d.getUTCFullYear())}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}T${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}` +
    (ms ? '.' + String(ms * 1000).padStart(6, '0') : '') +
    '+00:00'
  );
}

/** Seconds since epoch (int or float) → canonical ISO (pendulum.from_timestamp, UTC). */
function epochToIso(v: number): string | null {
  if (!Number.isFinite(v)) return null;
  const secs = Math.floor(v);
  let us = Math.round((v - secs) * 1e6);
  let s = secs;
  if (us >= 1_000_000) {
    s += 1;
    us -= 1_000_000;
  }
  const d = new Date(s * 1000);
  const y = d.getUTCFullYear();
  if (Number.isNaN(y) || y < 1 || y > 9999) return null;
  return tsToIso({ y, mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), us, off: 0 });
}

// --- python-ish number parsing -------------------------------------------------------------------

const RE_PY_INT = /^[+-]?\d(?:_?\d)*$/;
const RE_HEX = /^[0-9a-fA-F](?:_?[0-9a-fA-F])*$/;
const RE_PY_FLOAT = /^[+-]?(?:(?:\d(?:_?\d)*)?\.?(?:\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?)$/;
const RE_PY_FLOAT_SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;
const RE_DECIMAL = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const RE_DECIMAL_SPECIAL = /^[+-]?(?:inf|infinity|s?nan\d*)$/i;
const WS_STRIP = /^\s+|\s+$/g;

function intFromBig(b: bigint): number | bigint | null {
  if (b < BIG_INT64_MIN || b > BIG_INT64_MAX) return null;
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b;
}

function textToBigint(v: string): number | bigint | null {
  const t = v.replace(WS_STRIP, '');
  if (t.startsWith('0x')) {
    const h = t.slice(2);
    return RE_HEX.test(h) ? intFromBig(BigInt('0x' + h.replace(/_/g, ''))) : null;
  }
  if (!RE_PY_INT.test(t)) return null;
  return intFromBig(BigInt(t.replace(/_/g, '')));
}

function textToDouble(v: string): number | null {
  const t = v.replace(WS_STRIP, '');
  if (t.startsWith('0x')) {
    const h = t.slice(2);
    return RE_HEX.test(h) ? Number(BigInt('0x' + h.replace(/_/g, ''))) : null;
  }
  if (RE_PY_FLOAT_SPECIAL.test(t)) {
    const neg = t[0] === '-';
    return /nan/i.test(t) ? NaN : neg ? -Infinity : Infinity;
  }
  if (!RE_PY_FLOAT.test(t) || !/\d/.test(t.replace(/[eE].*$/, ''))) return null;
  return Number(t.replace(/_/g, ''));
}

function textToDecimal(v: string): string | null {
  const t = v.replace(WS_STRIP, '');
  if (t.startsWith('0x')) {
    const h = t.slice(2);
    return RE_HEX.test(h) ? BigInt('0x' + h.replace(/_/g, '')).toString() : null;
  }
  if (RE_DECIMAL_SPECIAL.test(t)) return t;
  return RE_DECIMAL.test(t) ? t.replace(/_/g, '') : null;
}

const TRUE_STR = new Set(['yes', 'true', 't', 'y', '1']);
const FALSE_STR = new Set(['no', 'false', 'f', 'n', '0']);

/** Python `repr(float)`. */
export function pyFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mant, expS] = v.toExponential().split('e');
  const exp = Number(expS);
  const neg = mant[0] === '-';
  const digits = mant.replace('-', '').replace('.', '');
  let out: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
    out = m + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  } else if (exp < 0) {
    out = '0.' + '0'.repeat(-exp - 1) + digits;
  } else if (digits.length > exp + 1) {
    out = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  } else {
    out = digits + '0'.repeat(exp + 1 - digits.length) + '.0';
  }
  return neg ? '-' + out : out;
}

function jsonToStr(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x));
}

function timestampToIso(v: unknown): string | null {
  if (v instanceof Date) return pyIsoFormat(v);
  if (typeof v === 'object' && v !== null && isLuxon(v)) return v.toISO();
  return null;
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (what `Date#toISOString` and most APIs emit), validated: such a
 * string already is a UTC instant Postgres reads exactly, so it is kept as is instead of being
 * parsed and re-formatted (a hot path: every timestamp value of every row).
 */
function isCanonicalUtc(v: string): boolean {
  const n = v.length;
  if ((n !== 20 && n !== 24) || v.charCodeAt(n - 1) !== 90 /* Z */) return false;
  if (v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return false;
  if (n === 24) {
    if (v.charCodeAt(19) !== 46) return false;
    if (!(digit(v, 20) && digit(v, 21) && digit(v, 22))) return false;
  }
  // fields read from char codes: no substrings allocated on this per-value path
  const y = num4(v, 0), mo = num2(v, 5), d = num2(v, 8), h = num2(v, 11), mi = num2(v, 14), sec = num2(v, 17);
  return y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60;
}
function digit(v: string, i: number): boolean {
  const c = v.charCodeAt(i);
  return c >= 48 && c <= 57;
}
/** Two decimal digits at i, or -1. */
function num2(v: string, i: number): number {
  const a = v.charCodeAt(i) - 48, b = v.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}
function num4(v: string, i: number): number {
  const a = num2(v, i), b = num2(v, i + 2);
  return a < 0 || b < 0 ? -1 : a * 100 + b;
}

function textToTimestamp(v: string): string | null {
  if (isCanonicalUtc(v)) return v;
  const t = parseIsoTimestamp(v);
  if (t) return tsToIso(t);
  // date-only strings become midnight (naive → UTC)
  const d = RE_DATE.exec(v);
  if (d) {
    const y = +d[1], mo = +d[2], dd = +d[3];
    return validDate(y, mo, dd) ? tsToIso({ y, mo, d: dd, h: 0, mi: 0, s: 0, us: 0, off: 0 }) : null;
  }
  // numeric strings are unix timestamps (dlt `_datetime_from_ts_or_iso`)
  const n = textToDouble(v);
  return n === null ? null : epochToIso(n);
}

function isoToUtcDate(iso: string): string {
  const d = new Date(iso);
  return `${p4(d.getUTCFullYear())}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
}

function textToDate(v: string): string | null {
  const d = RE_DATE.exec(v);
  if (d) return validDate(+d[1], +d[2], +d[3]) ? `${d[1]}-${d[2]}-${d[3]}` : null;
  const t = textToTimestamp(v);
  return t === null ? null : isoToUtcDate(t);
}

const RE_TIME = /^(\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?$/;
function textToTime(v: string): string | null {
  const m = RE_TIME.exec(v.startsWith('T') ? v.slice(1) : v);
  if (!m || +m[1] > 23 || +m[2] > 59 || (m[3] && +m[3] > 59)) return null;
  let out = `${m[1]}:${m[2]}:${m[3] ?? '00'}`;
  if (m[4] && +m[4] !== 0) out += '.' + (m[4] + '00000').slice(0, 6);
  return out;
}

const RE_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function textToBinary(v: string): Buffer | null {
  if (v.startsWith('0x')) {
    const h = v.slice(2);
    return /^(?:[0-9a-fA-F]{2})*$/.test(h) ? Buffer.from(h, 'hex') : null;
  }
  return RE_BASE64.test(v) ? Buffer.from(v, 'base64') : null;
}

function bigintToBinary(v: number | bigint): Buffer | null {
  let b = BigInt(v);
  if (b < 0n) return null;
  const bytes: number[] = [];
  while (b > 0n) {
    bytes.push(Number(b & 0xffn));
    b >>= 8n;
  }
  return Buffer.from(bytes);
}

function ok(value: unknown): CoerceResult {
  return { ok: true, value };
}

function sameType(value: unknown, to: DataType): unknown {
  if (to === 'timestamp' && typeof value === 'object' && value !== null && isLuxon(value)) return value.toISO();
  if (to === 'binary' && !Buffer.isBuffer(value)) {
    const u = value as Uint8Array;
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  return value;
}

/**
 * Coerces `value` to column type `to` following dlt's `_COERCE_DISPATCH` table. `{ ok: false }` when
 * dlt would raise (the value then goes to a variant column). null/undefined are not coerced here.
 * One switch over dlt's whole dispatch table, so it reads against dlt's table line by line and a
 * value takes one branch, not a chain of helper calls (it runs per value).
 */
export function coerceValue(value: unknown, to: DataType, from: DataType | null = valueType(value)): CoerceResult {
  if (from === null) return ok(null);
  if (from === to) return ok(sameType(value, to));
  switch (to) {
    case 'text':
      switch (from) {
        case 'json':
          return ok(jsonToStr(value));
        case 'bigint':
        case 'decimal':
          return ok(String(value));
        case 'double':
          return ok(pyFloatRepr(value as number));
        case 'bool':
          return ok(value ? 'True' : 'False');
        case 'binary':
          return ok(Buffer.from(value as Uint8Array).toString('base64'));
        case 'timestamp': {
          const s = timestampToIso(value);
          return s === null ? FAIL : ok(s);
        }
        default:
          return ok(String(value));
      }
    case 'bigint': {
      if (from === 'text') {
        const r = textToBigint(value as string);
        return r === null ? FAIL : ok(r);
      }
      if (from === 'double' || from === 'decimal') {
        // integral values only; JS integral numbers outside int64 cannot be stored in bigint
        if (typeof value === 'number' && Number.isInteger(value) && value >= INT64_MIN && value < INT64_MAX_EXCL) return ok(value);
        return FAIL;
      }
      return FAIL;
    }
    case 'double':
      if (from === 'text') {
        const r = textToDouble(value as string);
        return r === null ? FAIL : ok(r);
      }
      if (from === 'bigint' || from === 'decimal') return ok(Number(value));
      return FAIL;
    case 'decimal':
      if (from === 'text') {
        const r = textToDecimal(value as string);
        return r === null ? FAIL : ok(r);
      }
      if (from === 'bigint' || from === 'double') return ok(value);
      return FAIL;
    case 'bool':
      if (from === 'text') {
        const l = (value as string).toLowerCase();
        if (TRUE_STR.has(l)) return ok(true);
        if (FALSE_STR.has(l)) return ok(false);
        return FAIL;
      }
      if (from === 'bigint' || from === 'double' || from === 'decimal') {
        if (typeof value === 'bigint') return ok(value !== 0n);
        return ok(value !== 0); // python bool(nan) is True
      }
      return FAIL;
    case 'json':
      if (from === 'text') {
        try {
          return ok(JSON.parse(value as string));
        } catch {
          return FAIL;
        }
      }
      return FAIL;
    case 'timestamp': {
      let r: string | null = null;
      if (from === 'text') r = textToTimestamp(value as string);
      else if (from === 'bigint' || from === 'double') r = epochToIso(Number(value));
      return r === null ? FAIL : ok(r);
    }
    case 'date': {
      let r: string | null = null;
      if (from === 'text') r = textToDate(value as string);
      else if (from === 'timestamp') {
        const iso = value instanceof Date ? value.toISOString() : timestampToIso(value);
        r = iso === null ? null : isoToUtcDate(iso);
      } else if (from === 'bigint' || from === 'double') {
        const iso = epochToIso(Number(value));
        r = iso === null ? null : isoToUtcDate(iso);
      }
      return r === null ? FAIL : ok(r);
    }
    case 'time': {
      if (from !== 'text') return FAIL;
      const r = textToTime(value as string);
      return r === null ? FAIL : ok(r);
    }
    case 'binary': {
      let r: Buffer | null = null;
      if (from === 'text') r = textToBinary(value as string);
      else if (from === 'bigint') r = bigintToBinary(value as number | bigint);
      return r === null ? FAIL : ok(r);
    }
  }
  return FAIL;
}
