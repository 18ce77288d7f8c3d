/**
 * COPY … FROM STDIN (text format) with a tuned encoder: one encoder per column type, values tested
 * before they are escaped, lines concatenated into ~64 KB chunks (landscape.md §A2: a naive regex
 * escaper costs ~10%, binary COPY from JS is 8× slower).
 */
import type { PoolClient } from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ColumnSchema, DataType } from '../../pipeline/schema.ts';
import { ident, qualified } from './sql.ts';

/** A value that cannot go into a column; the loader turns it into a LoadError naming the item. */
export class EncodeError extends Error {
  constructor(
    message: string,
    readonly column: string,
    readonly value: unknown,
  ) {
    super(message);
  }
}

const NEEDS_ESCAPE = /[\\\n\r\t]/;

function escapeText(s: string, column: string): string {
  if (s.indexOf('\u0000') !== -1) throw new EncodeError('Postgres text cannot contain the NUL character (\\u0000)', column, s);
  // a lone UTF-16 surrogate would be silently replaced by U+FFFD on the way to UTF-8
  if (!s.isWellFormed()) throw new EncodeError('Text contains a lone UTF-16 surrogate (not valid Unicode)', column, s);
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 92) rep = '\\\\';
    else if (c === 10) rep = '\\n';
    else if (c === 13) rep = '\\r';
    else if (c === 9) rep = '\\t';
    if (rep) {
      out += s.slice(last, i) + rep;
      last = i + 1;
    }
  }
  return out + s.slice(last);
}

type Encoder = (v: unknown) => string;

function toIso(v: unknown, column: string): string {
  if (v instanceof Date) {
    const t = v.getTime();
    if (Number.isNaN(t)) throw new EncodeError('Invalid Date', column, v);
    return v.toISOString();
  }
  if (typeof v === 'object' && v !== null && typeof (v as { toISO?: unknown }).toISO === 'function') {
    return (v as { toISO(): string }).toISO();
  }
  return escapeText(String(v), column);
}

function jsonText(v: unknown, column: string): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  } catch (e) {
    throw new EncodeError(`Value cannot be serialized to JSON: ${(e as Error).message}`, column, v);
  }
  if (s.indexOf('\\u0000') !== -1) throw new EncodeError('Postgres jsonb cannot contain the NUL character (\\u0000)', column, v);
  return escapeText(s, column);
}

function encoderFor(type: DataType, column: string): Encoder {
  switch (type) {
    case 'text':
      return (v) => (typeof v === 'string' ? escapeText(v, column) : escapeText(typeof v === 'object' ? JSON.stringify(v) : String(v), column));
    case 'bigint':
    case 'decimal':
      return (v) => {
        if (typeof v === 'number' && !Number.isFinite(v)) {
          if (type === 'decimal') return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
          throw new EncodeError(`${v} is not a valid ${type}`, column, v);
        }
        return typeof v === 'string' ? escapeText(v, column) : String(v);
      };
    case 'double':
      return (v) => (typeof v === 'number' ? (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : String(v)) : escapeText(String(v), column));
    case 'bool':
      return (v) => (v === true ? 't' : v === false ? 'f' : escapeText(String(v), column));
    case 'timestamp':
    case 'date':
    case 'time':
      // strings here were validated by the normalizer's coercion: no escaping needed
      return (v) => (typeof v === 'string' ? v : toIso(v, column));
    case 'json':
      return (v) => jsonText(v, column);
    case 'binary':
      return (v) => {
        if (v instanceof Uint8Array) return `\\\\x${Buffer.from(v).toString('hex')}`;
        return escapeText(String(v), column);
      };
    default:
      return (v) => escapeText(String(v), column);
  }
}

/** Encodes rows of one table into COPY text lines for a fixed column list. */
export class RowEncoder {
  readonly columns: readonly string[];
  readonly #encoders: Encoder[];

  constructor(columns: readonly ColumnSchema[]) {
    this.columns = columns.map((c) => c.name);
    this.#encoders = columns.map((c) => encoderFor(c.dataType, c.name));
  }

  /** One COPY text line (with the trailing newline). Throws EncodeError for a value Postgres cannot take. */
  line(row: Record<string, unknown>): string {
    const cols = this.columns;
    const enc = this.#encoders;
    let s = '';
    for (let i = 0; i < cols.length; i++) {
      const v = row[cols[i]];
      if (i > 0) s += '\t';
      s += v === null || v === undefined ? '\\N' : enc[i](v);
    }
    return s + '\n';
  }
}

const CHUNK = 64 * 1024;

/** COPY `rows` into `schema.table` (columns of `encoder`). Resolves when Postgres has consumed every row. */
export async function copyRows(
  client: PoolClient,
  schema: string,
  table: string,
  encoder: RowEncoder,
  rows: readonly Record<string, unknown>[],
  onEncodeError: (index: number, err: EncodeError) => never,
): Promise<void> {
  const text = `COPY ${qualified(schema, table)} (${encoder.columns.map(ident).join(', ')}) FROM STDIN`;
  const stream = client.query(copyStreams.from(text));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  let chunk = '';
  try {
    for (let i = 0; i < rows.length; i++) {
      let line: string;
      try {
        line = encoder.line(rows[i]);
      } catch (e) {
        if (e instanceof EncodeError) onEncodeError(i, e);
        throw e;
      }
      chunk += line;
      if (chunk.length >= CHUNK) {
        if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
        chunk = '';
      }
    }
  } catch (e) {
    // abort the COPY so the connection stays usable (the transaction is rolled back by the caller)
    stream.destroy(e as Error);
    await done.catch(() => undefined);
    throw e;
  }
  if (chunk) stream.write(chunk);
  stream.end();
  await done;
}
