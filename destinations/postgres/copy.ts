/**
 * COPY … FROM STDIN (text format) with a tuned encoder: one encoder per column type, values tested
 * before they are escaped, lines concatenated into ~64 KB chunks (measured: a naive regex escaper
 * costs ~10%, binary COPY from JS is 8× slower).
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

/** Anything that is not plain text for COPY: escapes, NUL, and UTF-16 surrogates (paired or lone). */
const NOT_PLAIN = /[\\\n\r\t\u0000\uD800-\uDFFF]/;
const NEEDS_ESCAPE = /[\\\n\r\t]/;

function escapeText(s: string, column: string): string {
  // one scan for the common case; the checks below only run for text that needs one of them
  if (!NOT_PLAIN.test(s)) return s;
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
  /**
   * One COPY text line (with the trailing newline). Throws EncodeError for a value Postgres cannot take.
   * Generated per column list: named property reads stay monomorphic, where a loop over
   * `row[cols[i]]` is a keyed load per value (the loop took ~10% longer on the bench's rows).
   */
  readonly line: (row: Record<string, unknown>) => string;

  constructor(columns: readonly ColumnSchema[]) {
    this.columns = columns.map((c) => c.name);
    const encoders = columns.map((c) => encoderFor(c.dataType, c.name));
    const body = ['let v, s;'];
    columns.forEach((c, i) => {
      body.push(`v = row[${JSON.stringify(c.name)}];`);
      const value = `(v === null || v === undefined ? ${JSON.stringify('\\N')} : e[${i}](v))`;
      body.push(i === 0 ? `s = ${value};` : `s += ${JSON.stringify('\t')} + ${value};`);
    });
    body.push(columns.length ? `return s + ${JSON.stringify('\n')};` : `return ${JSON.stringify('\n')};`);
    this.line = new Function('e', `return function line(row) { ${body.join(' ')} };`)(encoders) as RowEncoder['line'];
  }
}

const CHUNK = 64 * 1024;

/**
 * `Buffer#utf8Write(string, offset)`: what `buf.write(string, offset)` calls after parsing its
 * optional arguments, which cost 4% of a load at a call per row. Falls back to `write`.
 */
const utf8Write: (this: Buffer, s: string, offset: number) => number =
  (Buffer.prototype as unknown as { utf8Write?: (this: Buffer, s: string, offset: number) => number }).utf8Write ??
  function (this: Buffer, s: string, offset: number) {
    return this.write(s, offset, 'utf8');
  };

/**
 * Chunks of finished COPYs, reused: a fresh 64 KB Buffer per chunk is memory outside the JS heap,
 * and V8 answers a growing amount of it with full garbage collections (the loader's throughput halved
 * when the process held a large heap). At most POOL_MAX chunks (16 MB) wait here.
 */
const POOL_MAX = 256;
const chunkPool: Buffer[] = [];

function takeChunk(min: number): Buffer {
  if (min > CHUNK) return Buffer.allocUnsafeSlow(min);
  return chunkPool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

/**
 * COPY text of one table, encoded as rows arrive and kept as bytes in ~64 KB chunks, with the item
 * each line came from (to name it when Postgres rejects that line). Rows are not kept: encoding at
 * once lets them die young instead of surviving to the COPY (GC was a fifth of a load's time).
 */
export class CopyBuffer {
  readonly items: unknown[] = [];
  readonly #chunks: Buffer[] = [];
  /** every chunk taken, for release() */
  readonly #taken: Buffer[] = [];
  #cur: Buffer = this.#take(CHUNK);
  #off = 0;

  /** Values of `keyColumn` of every line, when the loader asked for them (early merge). */
  readonly keys: unknown[] | undefined;
  /** Whether a line has a value other than null / false in `flagColumn` (a hardDelete column). */
  flagged = false;

  constructor(
    readonly encoder: RowEncoder,
    readonly resource: string,
    readonly keyColumn?: string,
    readonly flagColumn?: string,
  ) {
    this.keys = keyColumn === undefined ? undefined : [];
  }

  get lines(): number {
    return this.items.length;
  }

  /** Whether a key value appears on more than one line (only with `keyColumn`; asked once the buffer is full). */
  get repeatsKeys(): boolean {
    this.#repeatsKeys ??= this.keys !== undefined && new Set(this.keys).size !== this.keys.length;
    return this.#repeatsKeys;
  }

  #repeatsKeys: boolean | undefined;

  /** Encodes `row` and appends it. Throws EncodeError (nothing appended) for a value Postgres cannot take. */
  push(row: Record<string, unknown>, item: unknown): void {
    const line = this.encoder.line(row);
    // utf8 needs at most 3 bytes per UTF-16 code unit
    if (this.#off + line.length * 3 > this.#cur.length) {
      if (this.#off) this.#chunks.push(this.#cur.subarray(0, this.#off));
      this.#cur = this.#take(line.length * 3);
      this.#off = 0;
    }
    this.#off += utf8Write.call(this.#cur, line, this.#off);
    this.items.push(item);
    if (this.keys) {
      this.keys.push(row[this.keyColumn!]);
      if (this.flagColumn !== undefined && !this.flagged) {
        const f = row[this.flagColumn];
        this.flagged = f !== null && f !== undefined && f !== false;
      }
    }
  }

  /** The encoded bytes, in order. */
  chunks(): Buffer[] {
    return this.#off ? [...this.#chunks, this.#cur.subarray(0, this.#off)] : [...this.#chunks];
  }

  /** Hands the chunks back for reuse: only once Postgres has consumed them (the COPY finished). */
  release(): void {
    for (const b of this.#taken.splice(0)) if (b.length === CHUNK && chunkPool.length < POOL_MAX) chunkPool.push(b);
    this.#chunks.length = 0;
    this.#off = 0;
  }

  #take(min: number): Buffer {
    const b = takeChunk(min);
    this.#taken.push(b);
    return b;
  }
}

/** COPY the lines of `buffer` into `schema.table`. Resolves when Postgres has consumed every line. */
export async function copyBuffer(client: PoolClient, schema: string, table: string, buffer: CopyBuffer): Promise<void> {
  const text = `COPY ${qualified(schema, table)} (${buffer.encoder.columns.map(ident).join(', ')}) FROM STDIN`;
  const stream = client.query(copyStreams.from(text));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  // all at once, without waiting for 'drain': the bytes are in memory already, and handing them to the
  // socket now lets Postgres read the whole batch while this thread is busy encoding the next one
  // (waiting for 'drain' needs event-loop turns the encoder does not give)
  for (const chunk of buffer.chunks()) stream.write(chunk);
  stream.end();
  await done;
}
