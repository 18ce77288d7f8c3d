/**
 * Reliability (issue 7, part 1): generated bad input. Every generated case is ONE `p.run` into a
 * table of its own. It either loads exactly as the normalizer contract says (row counts per table,
 * the values of scalar columns read back as text) or fails with a typed `TideError` naming the
 * resource, the table and, for a bad value, the column; a failed run changes nothing (tables, row
 * counts, `_dlt_loads`, stored state rows, `p.state`).
 *
 * Reproduce a run with `RELIABILITY_SEED=<seed>` (printed), size it with `RELIABILITY_CASES`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { TideError, resource } from 'tide';
import type { Pipeline } from 'tide';
import { normalizePath } from '../../pipeline/normalize/naming.ts';
import { testPipeline } from '../helpers/pipelines.ts';
import { fingerprint } from '../helpers/reliability-db.ts';

const CASES = Number(process.env.RELIABILITY_CASES ?? 2000);
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
const CASES_PER_DATASET = 100;

// ---------------------------------------------------------------- the generated values
type Kind = 'int' | 'huge' | 'double' | 'str' | 'bigstr' | 'date' | 'farDate' | 'bool' | 'nul' | 'invDate';
interface Val {
  kind: Kind;
  v: unknown;
}
const HUGE_STRING = 'x'.repeat(1 << 20);

const valueOf: Record<Kind, fc.Arbitrary<unknown>> = {
  int: fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
  // beyond int64: Postgres numeric, read back exactly
  huge: fc.oneof(fc.bigInt({ min: 2n ** 63n, max: 2n ** 200n }), fc.bigInt({ min: -(2n ** 200n), max: -(2n ** 63n) - 1n })),
  // fractional doubles, NaN and ±Infinity
  double: fc.oneof(fc.double({ noInteger: true }), fc.constantFrom(NaN, Infinity, -Infinity)),
  // well-formed unicode (prefixed so no string is ever detected as a timestamp)
  str: fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => `s:${s.replace(/\u0000/g, '')}`),
  bigstr: fc.string({ unit: 'grapheme-ascii', maxLength: 4 }).map((s) => `${HUGE_STRING}${s.replace(/\u0000/g, '')}`),
  date: fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
  // the whole JS range: Postgres timestamptz cannot hold all of it; either loads exactly or a typed error
  farDate: fc.date({ noInvalidDate: true }),
  bool: fc.boolean(),
  // Postgres text / jsonb cannot store NUL: must be a typed error naming the column
  nul: fc.tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })).map(([a, b]) => `${a}\u0000${b}`),
  invDate: fc.constant(new Date(Number.NaN)),
};
const ORDINARY: Kind[] = ['int', 'huge', 'double', 'str', 'bigstr', 'date', 'bool'];
const kindArb: fc.Arbitrary<Kind> = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom<Kind>('int', 'huge', 'double', 'str', 'date', 'bool') },
  { weight: 1, arbitrary: fc.constant<Kind>('bigstr') },
  { weight: 2, arbitrary: fc.constant<Kind>('farDate') },
  { weight: 2, arbitrary: fc.constant<Kind>('nul') },
  { weight: 2, arbitrary: fc.constant<Kind>('invDate') },
);

/** Column name of an item key (dlt snake_case; a key without characters is `_empty`). */
const columnOf = (key: string): string => normalizePath(key) || '_empty';

const keyArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '', ' ', '__', 'a-b', 'a_b', 'A B', 'aB', 'CamelCase', 'camel_case', 'k\u0000y', '\u0000', '$ref', '@type', 'x.y',
        'tab\tkey', '1abc', '__proto__', 'constructor', 'toString', 'ÄÖÜ', '日本語', '😀', 'a__b', 'value', 'VALUE',
      ),
    },
    { weight: 2, arbitrary: fc.integer({ min: 64, max: 300 }).map((n) => 'k'.repeat(n)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }), fc.integer({ min: 55, max: 120 }), fc.string({ unit: 'grapheme-ascii', maxLength: 6 }))
        .map(([a, n, b]) => `${a}${'y'.repeat(n)}${b}`),
    },
  )
  .filter((k) => {
    const c = columnOf(k);
    return c !== 'id' && !c.startsWith('_dlt');
  });

// ---------------------------------------------------------------- cases
interface FlatCase {
  type: 'flat';
  fields: { key: string; kind: Kind }[];
  items: Val[][]; // items[i][f]: value of field f in item i
}
interface FlipCase {
  type: 'flip';
  a: Val;
  b: Val;
}
interface DeepObjCase {
  type: 'deepObj';
  keys: string[];
}
interface DeepArrCase {
  type: 'deepArr';
  depth: number;
  width: number;
}
interface CyclicCase {
  type: 'cyclic';
  where: 'self' | 'nested' | 'array' | 'deep';
}
type Case = FlatCase | FlipCase | DeepObjCase | DeepArrCase | CyclicCase;

const valArb = (kind: Kind): fc.Arbitrary<Val> => valueOf[kind].map((v) => ({ kind, v }));

const flatArb: fc.Arbitrary<FlatCase> = fc
  .tuple(fc.array(fc.record({ key: keyArb, kind: kindArb }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 3 }))
  .chain(([fields, n]) =>
    fc.tuple(...fields.map((f) => fc.array(valArb(f.kind), { minLength: n, maxLength: n }))).map((cols) => ({
      type: 'flat' as const,
      fields,
      items: Array.from({ length: n }, (_, i) => cols.map((c) => c[i])),
    })),
  );
const flipArb: fc.Arbitrary<FlipCase> = fc
  .tuple(fc.constantFrom(...ORDINARY.filter((k) => k !== 'bigstr')), fc.constantFrom(...ORDINARY.filter((k) => k !== 'bigstr')))
  .chain(([ka, kb]) => fc.record({ type: fc.constant('flip' as const), a: valArb(ka), b: valArb(kb) }));
const caseArb: fc.Arbitrary<Case> = fc.oneof(
  { weight: 70, arbitrary: flatArb },
  { weight: 10, arbitrary: flipArb },
  { weight: 7, arbitrary: fc.record({ type: fc.constant('deepObj' as const), keys: fc.array(fc.constantFrom('a', 'level', 'Nested Key', 'x'.repeat(30), 'é'), { minLength: 1, maxLength: 60 }) }) },
  { weight: 7, arbitrary: fc.record({ type: fc.constant('deepArr' as const), depth: fc.integer({ min: 1, max: 8 }), width: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 6, arbitrary: fc.record({ type: fc.constant('cyclic' as const), where: fc.constantFrom<CyclicCase['where']>('self', 'nested', 'array', 'deep') }) },
);

// ---------------------------------------------------------------- expectations
interface Cell {
  column: string;
  val: Val;
}
/** An item as built from fields (own properties, even `__proto__`), and the row the contract expects. */
function buildItem(c: FlatCase, i: number): { item: Record<string, unknown>; cells: Map<string, Cell> } {
  const item = Object.fromEntries([['id', i], ...c.fields.map((f, k) => [f.key, c.items[i][k].v])]) as Record<string, unknown>;
  const byKey = new Map(c.fields.map((f, k) => [f.key, c.items[i][k]]));
  const cells = new Map<string, Cell>();
  // iteration order of the object (integer-like keys first); a later key wins a collision
  for (const key of Object.keys(item)) {
    if (key === 'id') continue;
    const col = columnOf(key);
    cells.delete(col);
    cells.set(col, { column: col, val: byKey.get(key)! });
  }
  return { item, cells };
}

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

function selectExpr(col: string, kind: Kind): string {
  const q = `"${col.replace(/"/g, '""')}"`;
  if (kind === 'date' || kind === 'farDate') return `(extract(epoch from ${q}) * 1000)::text`;
  if (kind === 'bigstr') return `length(${q})::text || ':' || md5(${q})`;
  return `${q}::text`;
}

function matches(kind: Kind, v: unknown, text: string | null): boolean {
  if (text === null) return false;
  switch (kind) {
    case 'int':
    case 'huge':
      return text === String(v);
    case 'double': {
      const got = Number(text);
      return Object.is(got, v) || (Number.isNaN(got) && Number.isNaN(v as number));
    }
    case 'str':
      return text === v;
    case 'bigstr':
      return text === `${(v as string).length}:${md5(v as string)}`;
    case 'date':
    case 'farDate':
      return Number(text) === (v as Date).getTime();
    case 'bool':
      return text === String(v);
    default:
      return false;
  }
}

const preview = (x: unknown) => {
  const s = JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'string' && v.length > 60 ? `${v.slice(0, 20)}…(${v.length})` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  return s && s.length > 400 ? `${s.slice(0, 400)}…` : s;
};

// ---------------------------------------------------------------- running one case
interface Outcome {
  loaded: boolean;
  typedError?: string;
  problems: string[];
}

class Runner {
  p!: Pipeline;
  runs = 0;
  open: Pipeline[] = [];

  rotate(i: number) {
    if (i % CASES_PER_DATASET === 0) {
      this.p = testPipeline({ pipelineName: 'bad_input' });
      this.open.push(this.p);
    }
  }

  /** One run of `items` as resource `name`; the resource also counts its runs in its state. */
  async runOnce(name: string, items: unknown[]): Promise<{ ok: true; loadId: string; tables: Record<string, number> } | { ok: false; error: unknown }> {
    const r = resource(
      (ctx) => {
        ctx.state.runs = ((ctx.state.runs as number) ?? 0) + 1;
        return items;
      },
      { name },
    );
    try {
      const info = await this.p.run(r);
      return { ok: true, loadId: info.loadId!, tables: Object.fromEntries(Object.entries(info.tables).map(([t, v]) => [t, v.rows])) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * Runs and checks the universal part: on success one new load, the resource state advanced and
   * stored; on failure a typed error naming resource and table and nothing changed.
   */
  async checkedRun(
    name: string,
    items: unknown[],
    expect: { fail: 'must' | 'never' | 'may'; columns?: string[]; table?: string },
    problems: string[],
  ): Promise<{ ok: true; loadId: string; tables: Record<string, number> } | { ok: false; error: TideError } | undefined> {
    const before = await fingerprint(this.p);
    const stateBefore = structuredClone(this.p.state);
    const res = await this.runOnce(name, items);
    const after = await fingerprint(this.p);
    if (res.ok) {
      if (expect.fail === 'must') problems.push(`loaded, but must fail: ${preview(items)}`);
      if (after.loads.length !== before.loads.length + 1 || !after.loads.includes(res.loadId)) problems.push(`expected exactly one new _dlt_loads row (${res.loadId})`);
      const runs = (this.p.state.sources?.bad_input?.resources as Record<string, { runs: number }> | undefined)?.[name]?.runs;
      const prevRuns = (stateBefore.sources?.bad_input?.resources as Record<string, { runs: number }> | undefined)?.[name]?.runs ?? 0;
      if (runs !== prevRuns + 1) problems.push(`state of ${name} is ${runs}, expected ${prevRuns + 1}`);
      if (after.stateRows.length !== before.stateRows.length + 1) problems.push('expected one new stored state row');
      if (this.p.state._state_version !== stateBefore._state_version + 1) problems.push('state version not bumped by one');
      for (const [t, n] of Object.entries(res.tables)) {
        if (after.tables[t] !== (before.tables[t] ?? 0) + n) problems.push(`table ${t}: reported ${n} new rows, has ${after.tables[t]} (before ${before.tables[t] ?? 0})`);
      }
      return res;
    }
    const e = res.error;
    if (!(e instanceof TideError)) {
      problems.push(`untyped error: ${(e as Error)?.stack ?? e}`);
      return undefined;
    }
    if (expect.fail === 'never') problems.push(`failed, but must load: ${e.name}: ${e.message.split('\n')[0]} — input ${preview(items)}`);
    if (e.resource !== name) problems.push(`${e.name} names resource ${e.resource}, expected ${name}`);
    if (expect.table && e.table !== expect.table) problems.push(`${e.name} names table ${e.table}, expected ${expect.table}`);
    if (!e.table) problems.push(`${e.name} names no table: ${e.message.split('\n')[0]}`);
    if (expect.columns && !expect.columns.includes(e.column ?? '')) problems.push(`${e.name} names column ${e.column}, expected one of ${expect.columns.join(', ')}: ${e.message.split('\n')[0]}`);
    // the bookkeeping tables a first run creates (empty) with the dataset are not a load
    const boot = (f: typeof after) => ({ ...f, tables: Object.fromEntries(Object.entries(f.tables).filter(([t, n]) => !(t.startsWith('_dlt') && n === 0))) });
    if (JSON.stringify(boot(after)) !== JSON.stringify(boot(before))) problems.push(`failed run changed the dataset: ${preview({ before, after })}`);
    try {
      expect_(this.p.state).toEqual(stateBefore);
    } catch {
      problems.push('failed run changed p.state');
    }
    return { ok: false, error: e };
  }

  async flat(name: string, c: FlatCase, problems: string[]): Promise<Outcome> {
    const built = c.items.map((_, i) => buildItem(c, i));
    const bad = new Set<string>();
    let may = false;
    for (const b of built) {
      for (const cell of b.cells.values()) {
        if (cell.val.kind === 'nul' || cell.val.kind === 'invDate') bad.add(cell.column);
        if (cell.val.kind === 'farDate') {
          const y = (cell.val.v as Date).getUTCFullYear();
          if (y < 1 || y > 9999) may = true;
        }
      }
    }
    const fail = bad.size ? 'must' : may ? 'may' : 'never';
    // a far date may fail instead of the bad value when both occur: any named bad column is fine then
    const columns = bad.size ? [...bad, ...(may ? built.flatMap((b) => [...b.cells.values()].filter((x) => x.val.kind === 'farDate').map((x) => x.column)) : [])] : undefined;
    const res = await this.checkedRun(name, built.map((b) => b.item), { fail, columns, table: name }, problems);
    if (!res) return { loaded: false, problems };
    if (!res.ok) return { loaded: false, typedError: res.error.name, problems };
    // exact rows: count, and every scalar cell read back as text
    if (res.tables[name] !== built.length) problems.push(`table ${name}: ${res.tables[name]} rows, expected ${built.length}`);
    const extra = Object.keys(res.tables).filter((t) => t !== name);
    if (extra.length) problems.push(`unexpected tables ${extra.join(', ')}`);
    const kinds = new Map<string, Kind>();
    for (const b of built) for (const cell of b.cells.values()) kinds.set(cell.column, cell.val.kind);
    const cols = [...kinds.keys()];
    const sel = ['id::text AS "__id"', ...cols.map((c, k) => `${selectExpr(c, kinds.get(c)!)} AS "c${k}"`)].join(', ');
    let rows: Record<string, string | null>[] = [];
    try {
      rows = await this.p.query(`SELECT ${sel} FROM "${this.p.datasetName}"."${name}" WHERE _dlt_load_id = $1 ORDER BY id`, [res.loadId]);
    } catch (e) {
      problems.push(`cannot read back ${cols.join(', ')}: ${(e as Error).message}`);
      return { loaded: true, problems };
    }
    if (rows.length !== built.length) problems.push(`read back ${rows.length} rows, expected ${built.length}`);
    rows.forEach((row, i) => {
      if (row.__id !== String(i)) problems.push(`row ${i} has id ${row.__id}`);
      for (const cell of built[i]?.cells.values() ?? []) {
        const got = row[`c${cols.indexOf(cell.column)}`];
        if (!matches(cell.val.kind, cell.val.v, got)) {
          problems.push(`row ${i} column ${cell.column} (${cell.val.kind}): got ${preview(got)}, expected ${preview(cell.val.v)}`);
        }
      }
    });
    return { loaded: true, problems };
  }

  async flip(name: string, c: FlipCase, problems: string[]): Promise<Outcome> {
    const r1 = await this.checkedRun(name, [{ id: 0, v: c.a.v }], { fail: 'never', table: name }, problems);
    const r2 = await this.checkedRun(name, [{ id: 1, v: c.b.v }], { fail: 'never', table: name }, problems);
    if (!r1?.ok || !r2?.ok) return { loaded: false, typedError: 'flip', problems };
    const cols = (
      await this.p.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, [this.p.datasetName, name])
    )
      .map((r) => r.c)
      .filter((x) => x === 'v' || x.startsWith('v__v_'));
    const rows = await this.p.query<Record<string, string | null>>(
      `SELECT id::text AS id, ${cols.map((x) => `"${x}"::text AS "${x}"`).join(', ')} FROM "${this.p.datasetName}"."${name}" ORDER BY id`,
    );
    if (rows.length !== 2) problems.push(`flip table ${name} has ${rows.length} rows`);
    const r0 = rows[0];
    if (r0 && c.a.kind !== 'date' && !matches(c.a.kind, c.a.v, r0.v)) problems.push(`flip row 0: v = ${preview(r0.v)}, expected ${preview(c.a.v)} (${c.a.kind})`);
    const nonNull = rows[1] ? cols.filter((x) => rows[1][x] !== null) : [];
    if (nonNull.length !== 1) problems.push(`flip ${c.a.kind}→${c.b.kind}: row 1 has values in ${nonNull.join(', ') || 'no column'} (expected exactly one of ${cols.join(', ')})`);
    return { loaded: true, problems };
  }

  async deepObj(name: string, c: DeepObjCase, problems: string[]): Promise<Outcome> {
    let v: unknown = 7;
    for (const k of [...c.keys].reverse()) v = { [k]: v };
    const res = await this.checkedRun(name, [{ id: 0, deep: v }], { fail: 'never', table: name }, problems);
    if (!res?.ok) return { loaded: false, problems };
    const row = (await this.p.query<Record<string, unknown>>(`SELECT to_jsonb(t) - '_dlt_id' - '_dlt_load_id' - 'id' AS j FROM "${this.p.datasetName}"."${name}" t`))[0]?.j as Record<string, unknown>;
    const vals = Object.values(row ?? {});
    if (res.tables[name] !== 1 || vals.length !== 1 || (vals[0] !== 7 && JSON.stringify(vals[0]).indexOf('7') < 0)) {
      problems.push(`deep object of depth ${c.keys.length}: row ${preview(row)}, tables ${preview(res.tables)}`);
    }
    return { loaded: true, problems };
  }

  async deepArr(name: string, c: DeepArrCase, problems: string[]): Promise<Outcome> {
    let count = 0;
    const make = (d: number): unknown => {
      if (d === 0) return Array.from({ length: c.width }, (_, k) => (count++, k));
      return Array.from({ length: c.width }, () => (count++, make(d - 1)));
    };
    const arr = make(c.depth - 1);
    const res = await this.checkedRun(name, [{ id: 0, arr }], { fail: 'never', table: name }, problems);
    if (!res?.ok) return { loaded: false, problems };
    const child = Object.entries(res.tables).filter(([t]) => t !== name);
    const total = child.reduce((a, [, n]) => a + n, 0);
    if (res.tables[name] !== 1 || total !== count || child.length !== c.depth) {
      problems.push(`nested array depth ${c.depth} width ${c.width}: tables ${preview(res.tables)}, expected ${count} child rows in ${c.depth} tables`);
    }
    return { loaded: true, problems };
  }

  async cyclic(name: string, c: CyclicCase, problems: string[]): Promise<Outcome> {
    const item: Record<string, any> = { id: 0, ok: 'fine' };
    let table = name;
    if (c.where === 'self') item.self = item;
    if (c.where === 'nested') item.a = { b: { back: item } };
    if (c.where === 'array') {
      item.arr = [{ x: 1 }];
      item.arr[0].up = item.arr;
      table = `${name}__arr`;
    }
    if (c.where === 'deep') {
      const inner: Record<string, unknown> = { z: 1 };
      inner.me = inner;
      item.j = { k: inner };
    }
    const res = await this.checkedRun(name, [{ id: 1, before: true }, item], { fail: 'must' }, problems);
    if (res && !res.ok && res.error.table !== name && res.error.table !== table) problems.push(`cyclic (${c.where}) names table ${res.error.table}`);
    return { loaded: false, typedError: res && !res.ok ? res.error.name : undefined, problems };
  }
}

describe('reliability: strings Postgres cannot store exactly', () => {
  it('a lone UTF-16 surrogate in a string value is a typed error naming the column, not silently replaced by U+FFFD', async () => {
    const p = testPipeline({ pipelineName: 'surrogates' });
    try {
      let err: unknown;
      try {
        await p.run(resource(() => [{ id: 1, s: 'a\ud800b' }], { name: 'lone' }));
      } catch (e) {
        err = e;
      }
      if (err === undefined) {
        // loaded: then it must read back exactly (it cannot: UTF-8 has no lone surrogates)
        const got = await p.query<{ s: string }>(`SELECT s FROM "${p.datasetName}"."lone"`);
        expect(got[0].s).toBe('a\ud800b');
      }
      expect(err).toBeInstanceOf(TideError);
      expect(err).toMatchObject({ resource: 'lone', table: 'lone', column: 's' });
    } finally {
      await p.close();
    }
  });
});

// `expect` is shadowed in checkedRun's parameter list
const expect_ = expect;

describe('reliability: generated bad input', () => {
  const runner = new Runner();
  afterAll(async () => {
    for (const p of runner.open) await p.close().catch(() => undefined);
  });

  it(`${CASES} generated inputs each load exactly or fail typed, changing nothing`, { timeout: 300_000 + CASES * 500 }, async () => {
    console.log(`reliability: generated inputs, seed ${SEED} (reproduce: RELIABILITY_SEED=${SEED} RELIABILITY_CASES=${CASES} npx vitest run --config vitest.reliability.config.ts test/reliability/bad-input.test.ts)`);
    const cases = fc.sample(caseArb, { numRuns: CASES, seed: SEED });
    const t0 = Date.now();
    let loaded = 0;
    let failed = 0;
    const errorsByType: Record<string, number> = {};
    const byType: Record<string, number> = {};
    const broken: string[] = [];
    for (let i = 0; i < cases.length; i++) {
      runner.rotate(i);
      const c = cases[i];
      const name = `c${i}`;
      byType[c.type] = (byType[c.type] ?? 0) + 1;
      const problems: string[] = [];
      let out: Outcome;
      try {
        if (c.type === 'flat') out = await runner.flat(name, c, problems);
        else if (c.type === 'flip') out = await runner.flip(name, c, problems);
        else if (c.type === 'deepObj') out = await runner.deepObj(name, c, problems);
        else if (c.type === 'deepArr') out = await runner.deepArr(name, c, problems);
        else out = await runner.cyclic(name, c, problems);
      } catch (e) {
        problems.push(`harness: ${(e as Error).stack}`);
        out = { loaded: false, problems };
      }
      if (out.loaded) loaded++;
      else {
        failed++;
        if (out.typedError) errorsByType[out.typedError] = (errorsByType[out.typedError] ?? 0) + 1;
      }
      if (problems.length) broken.push(`case ${i} (${c.type}): ${problems.join(' | ')}\n    input: ${preview(c)}`);
    }
    const ms = Date.now() - t0;
    console.log(
      `reliability: ${cases.length} generated inputs (seed ${SEED}), ${loaded} loaded, ${failed} typed errors ${JSON.stringify(errorsByType)}, ` +
        `kinds ${JSON.stringify(byType)}, ${broken.length} contract violations, ${(ms / 1000).toFixed(1)} s (${(ms / cases.length).toFixed(1)} ms/case)`,
    );
    if (broken.length) console.log(`first violations:\n  ${broken.slice(0, 15).join('\n  ')}`);
    expect(broken.slice(0, 10), `seed ${SEED}`).toEqual([]);
  });
});
