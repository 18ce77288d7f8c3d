import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import {
  incremental,
  Incremental,
  IncrementalDef,
  configLookup,
  loadConfig,
  shiftByLag,
  compare,
  type BindContext,
  type IncrementalOptions,
} from '../../pipeline/incremental/index.ts';
import {
  ConfigurationError,
  IncrementalCursorInvalidCoercion,
  IncrementalCursorPathMissing,
  IncrementalCursorValueNone,
  IncrementalPrimaryKeyMissing,
} from '../../pipeline/errors.ts';
import { dedupHash } from '../../pipeline/normalize/hash.ts';
import { dedupHashFormFor } from '../../pipeline/incremental/hash-form.ts';
import type { PipelineState } from '../../pipeline/state.ts';
import { toInterval } from '../../pipeline/interval.ts';

type Row = Record<string, unknown>;

function mkctx(resourceState: Record<string, unknown> = {}, extra: Partial<BindContext> = {}) {
  const logs: string[] = [];
  const warns: string[] = [];
  const ctx: BindContext = {
    pipelineName: 'p',
    sourceName: 's',
    resourceName: 'r',
    resourceState,
    log: (m) => logs.push(m),
    warn: (m) => warns.push(m),
    ...extra,
  };
  return { ctx, logs, warns, state: resourceState };
}

const cursorState = (rs: Record<string, unknown>, path: string) =>
  (rs.incremental as Record<string, Record<string, unknown>>)[path];

/** one "run": bind with the same state object, feed batches, return kept rows */
function run(def: IncrementalDef, ctx: BindContext, batches: unknown[][]): { kept: unknown[]; inc: Incremental } {
  const inc = Incremental.bind(def, ctx);
  const kept: unknown[] = [];
  for (const b of batches) {
    kept.push(...inc.process(b));
    if (inc.shouldClose) break;
  }
  return { kept, inc };
}

const ids = (rows: unknown[], k = 'updated_at') => rows.map((r) => (r as Row)[k]);
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const chunks = <T>(xs: T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

describe('definition', () => {
  it('is frozen and validates options', () => {
    const d = incremental('created_at', { initialValue: 1 });
    expect(Object.isFrozen(d)).toBe(true);
    expect(Object.isFrozen(d.options)).toBe(true);
    expect(d.cursorPath).toBe('created_at');
    expect(() => incremental('a[')).toThrow(ConfigurationError);
    expect(() => incremental('a.')).toThrow(ConfigurationError);
    expect(() => incremental('')).toThrow(ConfigurationError);
    expect(() => incremental('x', { onCursorValueMissing: 'foo' as never })).toThrow(ConfigurationError);
    expect(() => incremental('x', { rowOrder: 'up' as never })).toThrow(ConfigurationError);
    expect(() => incremental('x', { lastValueFunc: 'avg' as never })).toThrow(ConfigurationError);
  });

  it('INC-19 end_value errors with dlt messages', () => {
    const base = incremental('updated_at');
    const ctx = mkctx().ctx;
    expect(() => Incremental.bind(base.mergedWith(incremental({ endValue: 22 })), ctx)).toThrow(
      /^Incremental `end_value` was specified without `initial_value`/,
    );
    expect(() => incremental('u', { initialValue: 42, endValue: 22 })).toThrow(
      /Incremental `initial_value=42` is higher than `end_value=22`/,
    );
    expect(() => incremental('u', { initialValue: 22, endValue: 42, lastValueFunc: 'min' })).toThrow(
      /Incremental `initial_value=22` is lower than `end_value=42`/,
    );
    function custom_last_value(v: unknown[]) {
      return Math.max(...(v as number[]));
    }
    expect(() => incremental('u', { initialValue: 42, endValue: 22, lastValueFunc: custom_last_value })).toThrow(
      /The result of `custom_last_value\(\[end_value, initial_value\]\)` must equal `end_value`/,
    );
    expect(() => incremental('u', { initialValue: 1, endValue: '2024-01-01' })).toThrow(/are not comparable/);
  });

  it('INC-8 override form inherits the cursor path', () => {
    const base = incremental('updated_at', { initialValue: 1, primaryKey: 'id' });
    const m = base.mergedWith(incremental({ initialValue: 40, endValue: 50 }));
    expect(m.cursorPath).toBe('updated_at');
    expect(m.options).toEqual({ initialValue: 40, endValue: 50, primaryKey: 'id' });
    const m2 = base.mergedWith(incremental('other'));
    expect(m2.cursorPath).toBe('other');
    expect(() => Incremental.bind(incremental({ initialValue: 1 }), mkctx().ctx)).toThrow(ConfigurationError);
  });
});

describe('filtering (INC-16..INC-23)', () => {
  it('INC-16 example: closed start, boundary dedup, out-of-order rows kept', () => {
    const rs: Record<string, unknown> = {
      incremental: { c: { initial_value: null, last_value: 10, unique_hashes: [dedupHash('a')], start_value: 10 } },
    };
    const { ctx, logs } = mkctx(rs);
    const def = incremental('c', { primaryKey: 'k' });
    const inc = Incremental.bind(def, ctx);
    expect(inc.startValue).toBe(10);
    expect(inc.lastValue).toBe(10);
    const kept = inc.process([
      { c: 12, k: 'x' },
      { c: 10, k: 'a' },
      { c: 10, k: 'b' },
      { c: 9, k: 'y' },
      { c: 11, k: 'z' },
    ]);
    expect(kept).toEqual([{ c: 12, k: 'x' }, { c: 10, k: 'b' }, { c: 11, k: 'z' }]);
    expect(cursorState(rs, 'c').last_value).toBe(12);
    expect(inc.lastValue).toBe(12);
    expect(inc.startValue).toBe(10);
    expect(logs[0]).toMatch(/^Bind incremental on r with initial_value: None, start_value: 10, end_value: None/);
  });

  it('INC-14/17/18 fresh state, last_value and start_value write-back', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('updated_at', { initialValue: 5 });
    const { ctx } = mkctx(rs);
    const inc = Incremental.bind(def, ctx);
    expect(cursorState(rs, 'updated_at')).toEqual({ initial_value: 5, last_value: 5, unique_hashes: [], start_value: 5 });
    inc.process([{ updated_at: 7 }, { updated_at: 9 }]);
    inc.process([{ updated_at: 8 }]);
    expect(cursorState(rs, 'updated_at')).toMatchObject({ initial_value: 5, last_value: 9, start_value: 5 });
    // run 2: a fully filtered batch writes last_value but not start_value
    const inc2 = Incremental.bind(def, mkctx(rs).ctx);
    expect(inc2.startValue).toBe(9);
    expect(inc2.process([{ updated_at: 1 }])).toEqual([]);
    expect(cursorState(rs, 'updated_at').start_value).toBe(5);
    inc2.process([{ updated_at: 10 }]);
    expect(cursorState(rs, 'updated_at')).toMatchObject({ last_value: 10, start_value: 9 });
  });

  it('INC-15 initial_value ignored once state exists', () => {
    const rs: Record<string, unknown> = {};
    run(incremental('v', { initialValue: 1 }), mkctx(rs).ctx, [[{ v: 5 }]]);
    const { kept, inc } = run(incremental('v', { initialValue: 100 }), mkctx(rs).ctx, [[{ v: 6 }, { v: 4 }]]);
    expect(inc.startValue).toBe(5);
    expect(kept).toEqual([{ v: 6 }]);
  });

  it('INC-17 min and custom functions', () => {
    const rs: Record<string, unknown> = {};
    run(incremental('v', { lastValueFunc: 'min' }), mkctx(rs).ctx, [[10, 11, 9, 10, 8, 22].map((v) => ({ v }))]);
    expect(cursorState(rs, 'v').last_value).toBe(8);
    const rs2: Record<string, unknown> = {};
    const plusOne = (vs: unknown[]) => Math.max(...(vs as number[])) + 1;
    run(incremental('v', { lastValueFunc: plusOne }), mkctx(rs2).ctx, [[{ v: 9 }], [{ v: 10 }]]);
    expect(cursorState(rs2, 'v').last_value).toBe(11);
  });

  it('INC-20 end ranges (open/closed, max/min) and batches', () => {
    const data = range(1, 12).map((v) => ({ v }));
    const k = (o: IncrementalOptions) => ids(run(incremental('v', o), mkctx().ctx, [data]).kept, 'v');
    expect(k({ initialValue: 5, endValue: 10 })).toEqual(range(5, 10));
    expect(k({ initialValue: 5, endValue: 10, rangeEnd: 'closed' })).toEqual(range(5, 11));
    const desc = [...data].reverse();
    const kd = (o: IncrementalOptions) => ids(run(incremental('v', o), mkctx().ctx, [desc]).kept, 'v');
    expect(kd({ initialValue: 10, endValue: 5, lastValueFunc: 'min' })).toEqual([10, 9, 8, 7, 6]);
    expect(kd({ initialValue: 10, endValue: 5, lastValueFunc: 'min', rangeEnd: 'closed' })).toEqual([10, 9, 8, 7, 6, 5]);
    // monotonic with an out-of-order value inside the range
    expect(ids(run(incremental('v', { initialValue: 1, endValue: 3 }), mkctx().ctx, [[{ v: 1 }], [{ v: 2 }], [{ v: 3 }], [{ v: 2.1 }]]).kept, 'v')).toEqual([1, 2, 2.1]);
    // batches: (1,10) then (10,14) on 1..20
    const rs: Record<string, unknown> = {};
    const b1 = run(incremental('v', { initialValue: 1, endValue: 10 }), mkctx(rs).ctx, [range(1, 13).map((v) => ({ v })), range(13, 21).map((v) => ({ v }))]);
    const b2 = run(incremental('v', { initialValue: 10, endValue: 14 }), mkctx(rs).ctx, [range(10, 22).map((v) => ({ v })), range(22, 30).map((v) => ({ v }))]);
    expect([...ids(b1.kept, 'v'), ...ids(b2.kept, 'v')]).toEqual(range(1, 14));
    expect(rs).toEqual({}); // INC-24 stateless
  });

  it('INC-21 open start', () => {
    const data = range(1, 12).map((v) => ({ v }));
    expect(ids(run(incremental('v', { initialValue: 5, rangeStart: 'open' }), mkctx().ctx, [data]).kept, 'v')).toEqual(range(6, 12));
    expect(ids(run(incremental('v', { initialValue: 5 }), mkctx().ctx, [data]).kept, 'v')).toEqual(range(5, 12));
    const seq = [0, 0, 1, 1, 1, 1, 2, 2].map((v) => ({ v }));
    expect(ids(run(incremental('v', { initialValue: 0, rangeStart: 'open' }), mkctx().ctx, [seq]).kept, 'v')).toEqual([1, 1, 1, 1, 2, 2]);
    expect(run(incremental('v', { initialValue: 3, rangeStart: 'open' }), mkctx().ctx, [[{ v: 3 }, { v: 3 }]]).kept).toEqual([]);
    const rs: Record<string, unknown> = {};
    run(incremental('v', { initialValue: 0, rangeStart: 'open' }), mkctx(rs).ctx, [seq]);
    expect(cursorState(rs, 'v').unique_hashes).toEqual([]);
    // PP-10: a row equal to start under an open range sets start_out_of_range
    const inc = Incremental.bind(incremental('v', { initialValue: 3, rangeStart: 'open', rowOrder: 'desc' }), mkctx().ctx);
    inc.process([{ v: 5 }, { v: 3 }]);
    expect(inc.startOutOfRange).toBe(true);
    expect(inc.shouldClose).toBe(true);
  });

  it('INC-22 chunked ranges mixed with stateful runs: exact expected set', () => {
    const rs: Record<string, unknown> = {};
    const base = incremental('updated_at', { initialValue: 1 });
    const loaded: number[] = [];
    const chunksDef: [number | undefined, number | undefined][] = [
      [40, 50], [50, 60], [60, 61], [62, 70], [20, 30], [70, undefined], [10, 20], [undefined, undefined],
    ];
    for (const [s, e] of chunksDef) {
      const def = base.mergedWith(incremental({ initialValue: s, endValue: e }));
      const inc = Incremental.bind(def, mkctx(rs).ctx);
      const start = inc.lastValue as number;
      const data = range(start, start + 20).map((updated_at) => ({ updated_at }));
      loaded.push(...(ids(inc.process(data)) as number[]));
    }
    loaded.sort((a, b) => a - b);
    expect(loaded).toEqual([...range(10, 20), ...range(20, 30), ...range(40, 50), ...range(50, 60), 60, ...range(62, 70), ...range(70, 89), ...range(89, 109)]);
  });

  it('INC-23 out-of-range flags are per row', () => {
    const inc = Incremental.bind(incremental('u', { initialValue: 10 }), mkctx().ctx);
    for (const chunk of chunks([...range(0, 48)].reverse(), 10)) {
      inc.process(chunk.map((u) => ({ u })));
      if (chunk.every((x) => x > 9)) expect(inc.startOutOfRange).toBe(false);
      else {
        expect(inc.startOutOfRange).toBe(true);
        break;
      }
    }
    const asc = Incremental.bind(incremental('u', { initialValue: 22, endValue: 45 }), mkctx().ctx);
    for (const chunk of chunks(range(22, 500), 10)) {
      asc.process(chunk.map((u) => ({ u })));
      if (chunk.every((x) => x < 45)) expect(asc.endOutOfRange).toBe(false);
      else {
        expect(asc.endOutOfRange).toBe(true);
        break;
      }
    }
    const single = Incremental.bind(incremental('u', { initialValue: 10 }), mkctx().ctx);
    single.process([{ u: 9 }]);
    expect(single.startOutOfRange).toBe(true);
    single.process([{ u: 11 }]);
    expect(single.startOutOfRange).toBe(false);
  });

  it('INC-2 nested and JSONPath cursors; $ whole item', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('data.items[0].created_at');
    const { kept } = run(def, mkctx(rs).ctx, [[{ data: { items: [{ created_at: 1 }, { created_at: 9 }] } }, { data: { items: [{ created_at: 2 }] } }]]);
    expect(kept.length).toBe(2);
    expect(cursorState(rs, 'data.items[0].created_at').last_value).toBe(2);
    const rs2: Record<string, unknown> = {};
    run(incremental('item.ts'), mkctx(rs2).ctx, [[{ item: { ts: 3 } }, { item: { ts: 4 } }]]);
    expect(cursorState(rs2, 'item.ts').last_value).toBe(4);
    const rs3: Record<string, unknown> = {};
    run(incremental('item.timestamp|modifiedAt'), mkctx(rs3).ctx, [[{ item: { timestamp: 5 } }, { modifiedAt: 7 }]]);
    expect(cursorState(rs3, 'item.timestamp|modifiedAt').last_value).toBe(7);
    const rs4: Record<string, unknown> = {};
    run(incremental('$.meta.v'), mkctx(rs4).ctx, [[{ meta: { v: 8 } }]]);
    expect(cursorState(rs4, '$.meta.v').last_value).toBe(8);
  });
});

describe('boundary deduplication (INC-25..INC-29)', () => {
  it('INC-25 unique keys across runs give exactly a..g; INC-48 state', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('created_at', { primaryKey: 'id' });
    const r1 = run(def, mkctx(rs).ctx, [[{ created_at: 1, id: 'a' }, { created_at: 2, id: 'b' }, { created_at: 3, id: 'c' }, { created_at: 3, id: 'd' }, { created_at: 3, id: 'e' }]]);
    const r2 = run(def, mkctx(rs).ctx, [[{ created_at: 4, id: 'g' }, { created_at: 3, id: 'c' }, { created_at: 3, id: 'd' }, { created_at: 3, id: 'e' }, { created_at: 3, id: 'f' }]]);
    expect([...ids(r1.kept, 'id'), ...ids(r2.kept, 'id')].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(cursorState(rs, 'created_at')).toEqual({ initial_value: null, last_value: 4, unique_hashes: ['mrHcW/dIw0UL'], start_value: 3 });
    expect(dedupHash('g', 'short')).toBe('mrHcW/dIw0UL');
  });

  it('INC-25 same without a primary key (whole-row hash), and resource primary key fallback (INC-27)', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('created_at');
    const rows1 = [1, 2, 3, 3].map((c, i) => ({ created_at: c, n: i }));
    run(def, mkctx(rs).ctx, [rows1]);
    const r2 = run(def, mkctx(rs).ctx, [[{ created_at: 3, n: 2 }, { created_at: 3, n: 3 }, { created_at: 3, n: 9 }]]);
    expect(ids(r2.kept, 'n')).toEqual([9]);
    // resource hint is used when incremental has no primaryKey
    const rs2: Record<string, unknown> = {};
    run(def, mkctx(rs2, { resourcePrimaryKey: ['id'] }).ctx, [[{ created_at: 3, id: 1, x: 1 }]]);
    expect(cursorState(rs2, 'created_at').unique_hashes).toEqual([dedupHash(1, 'short')]);
    const r3 = run(def, mkctx(rs2, { resourcePrimaryKey: ['id'] }).ctx, [[{ created_at: 3, id: 1, x: 2 }]]);
    expect(r3.kept).toEqual([]);
    // explicit primaryKey wins over the resource hint; [] disables
    const rs3: Record<string, unknown> = {};
    const none = incremental('created_at', { primaryKey: [] });
    run(none, mkctx(rs3, { resourcePrimaryKey: ['id'] }).ctx, [[{ created_at: 3, id: 1 }]]);
    expect(cursorState(rs3, 'created_at').unique_hashes).toEqual([]);
    expect(run(none, mkctx(rs3).ctx, [[{ created_at: 3, id: 1 }]]).kept).toHaveLength(1);
  });

  // vectors computed by dlt: 1.26.0 (`digest128(json.dumps(v, sort_keys=True))`, 20 characters) and
  // 1.31.0 (`digest_dedup_value(v)`, 12 characters, datetimes as epoch microseconds)
  const VECTORS = {
    long: { row24: 'aiuNd5u7bjL7glZC/3MB', n10: 'vo6yPDUNbvwTGquSdaDy', n3: 'Cn/dwi436vBbdERZ9hKf', a: 'HXVczKyPrzLoPDkJtIV8', pair: 'jDuQWGaYv78FC5gqISs+', date: 'c86+c5clOAP+jVEV5B4R' },
    short: { row24: 'aiuNd5u7bjL7', n10: 'vo6yPDUNbvwT', n3: 'Cn/dwi436vBb', a: 'HXVczKyPrzLo', pair: 'jDuQWGaYv78F', date: '4AhkR+NlXGwS' },
  } as const;

  for (const form of ['long', 'short'] as const) {
    it(`dedup hash vectors in state: ${form} form (dlt ${form === 'long' ? '1.26' : '1.31'})`, () => {
      const v = VECTORS[form];
      const ctx = (rs: Record<string, unknown> = {}) => mkctx(rs, { dedupHashForm: form }).ctx;
      const rs: Record<string, unknown> = {};
      const def = incremental('created_at', { initialValue: 20 });
      run(def, ctx(rs), [range(15, 25).reverse().map((created_at) => ({ created_at }))]);
      expect(cursorState(rs, 'created_at').unique_hashes).toEqual([v.row24]);
      expect(run(def, ctx(rs), [range(15, 25).reverse().map((created_at) => ({ created_at }))]).kept).toEqual([]);
      const rs2: Record<string, unknown> = {};
      run(incremental('c', { primaryKey: 'id' }), ctx(rs2), [[{ c: 1, id: 10 }, { c: 1, id: 3 }]]);
      expect([...(cursorState(rs2, 'c').unique_hashes as string[])].sort()).toEqual([v.n3, v.n10].sort());
      const rs3: Record<string, unknown> = {};
      run(incremental('c', { primaryKey: 'id' }), ctx(rs3), [[{ c: 1, id: 'a' }]]);
      expect(cursorState(rs3, 'c').unique_hashes).toEqual([v.a]);
      const rs4: Record<string, unknown> = {};
      run(incremental('c', { primaryKey: ['k1', 'k2'] }), ctx(rs4), [[{ c: 1, k1: 'AAA', k2: 'DE' }]]);
      expect(cursorState(rs4, 'c').unique_hashes).toEqual([v.pair]);
      expect(() => run(incremental('c', { primaryKey: 'id' }), ctx(), [[{ c: 1 }]])).toThrow(IncrementalPrimaryKeyMissing);
    });
  }

  it('a Date dedup key: dlt 1.31 hashes its epoch microseconds', () => {
    expect(dedupHash(new Date('2024-03-01T08:00:00Z'), 'short')).toBe(VECTORS.short.date);
  });

  it('either stored form deduplicates; a carried list keeps its form, a new boundary takes the pipeline form', () => {
    for (const stored of ['long', 'short'] as const) {
      const rs: Record<string, unknown> = { incremental: { c: { initial_value: null, last_value: 1, unique_hashes: [VECTORS[stored].n3], start_value: 1 } } };
      // carried: the new boundary row joins the stored hash in the stored form
      const r1 = run(incremental('c', { primaryKey: 'id' }), mkctx(rs).ctx, [[{ c: 1, id: 3 }, { c: 1, id: 10 }]]);
      expect(r1.kept).toEqual([{ c: 1, id: 10 }]);
      expect([...(cursorState(rs, 'c').unique_hashes as string[])].sort()).toEqual([VECTORS[stored].n3, VECTORS[stored].n10].sort());
      // the cursor moves: a new list, in the form the pipeline writes
      run(incremental('c', { primaryKey: 'id' }), mkctx(rs, { dedupHashForm: 'long' }).ctx, [[{ c: 2, id: 'a' }]]);
      expect(cursorState(rs, 'c').unique_hashes).toEqual([VECTORS.long.a]);
    }
  });

  it('INC-29 carry and reset of unique hashes', () => {
    for (const pk of ['updated_at', undefined] as const) {
      const rs: Record<string, unknown> = {};
      const def = incremental('updated_at', { initialValue: 10, primaryKey: pk });
      for (let day = 1; day <= 4; day++) {
        const vals = range(10, 20).sort(() => Math.random() - 0.5);
        vals.push(100);
        if (day === 4) vals.push(1000);
        const batches = chunks(vals.map((u) => ({ updated_at: u, rand: Math.random() })), 3);
        const { kept } = run(def, mkctx(rs).ctx, batches);
        const hashes = cursorState(rs, 'updated_at').unique_hashes as string[];
        if (pk === 'updated_at') {
          expect(hashes.length).toBe(1);
          expect(kept.length).toBe(day === 1 ? 11 : day === 4 ? 1 : 0);
        } else {
          // non-deterministic rows: each day the row at 100 is new, the hash list grows until a new max resets it
          expect(hashes.length).toBe(day === 4 ? 1 : day);
          expect(kept.length).toBe(day === 1 ? 11 : day === 4 ? 2 : 1);
        }
      }
    }
  });

  it('INC-29 unordered rows: second run loads 120 of 121 when the overlap is recognised', () => {
    for (const order of ['random', 'asc', 'desc']) {
      for (const pk of [[], undefined, 'updated_at'] as const) {
        const rs: Record<string, unknown> = {};
        const def = incremental('updated_at', { initialValue: 10 });
        const once = () => {
          const inc = Incremental.bind(def, mkctx(rs, { resourcePrimaryKey: pk === undefined ? undefined : typeof pk === 'string' ? [pk] : [...pk] }).ctx);
          const s = inc.startValue as number;
          let vals = range(s, s + 121);
          if (order === 'random') vals.sort(() => Math.random() - 0.5);
          if (order === 'desc') vals.reverse();
          let n = 0;
          for (const c of chunks(vals, 30)) n += inc.process(c.map((u) => ({ updated_at: u, rand: 0 }))).length;
          return n;
        };
        expect(once()).toBe(121);
        expect(once()).toBe(Array.isArray(pk) ? 121 : 120);
      }
    }
  });

  it('warns once when the boundary exceeds 200 entries', () => {
    const rs: Record<string, unknown> = {};
    const { ctx, warns } = mkctx(rs);
    const inc = Incremental.bind(incremental('c', { primaryKey: 'id' }), ctx);
    inc.process(range(0, 201).map((id) => ({ c: 1, id: `x${id}` })));
    inc.process(range(201, 301).map((id) => ({ c: 1, id: `x${id}` })));
    expect(warns.length).toBe(1);
    expect(warns[0]).toMatch(/Large number of records \(201\)/);
  });
});

describe('missing cursor values (INC-30..33)', () => {
  const rows = [{ id: 1, created_at: 1 }, { id: 2, created_at: 2 }, { id: 3 }, { id: 4, created_at: null }];
  it('raise', () => {
    expect(() => run(incremental('created_at'), mkctx().ctx, [rows.slice(0, 3)])).toThrow(IncrementalCursorPathMissing);
    try {
      run(incremental('created_at'), mkctx().ctx, [[rows[3]]]);
      expect.fail('should throw');
    } catch (e) {
      expect(e).toBeInstanceOf(IncrementalCursorValueNone);
      const err = e as IncrementalCursorValueNone;
      expect(err.cursorPath).toBe('created_at');
      expect(err.resource).toBe('r');
      expect(err.item).toEqual(rows[3]);
      expect(err.message).toMatch(/created_at/);
    }
    expect(() => run(incremental('a.b'), mkctx().ctx, [[{ a: {} }]])).toThrow(IncrementalCursorPathMissing);
    expect(() => run(incremental('a.b'), mkctx().ctx, [[{ a: { b: null } }]])).toThrow(IncrementalCursorValueNone);
  });
  it('include: kept in every run, never move last_value', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('created_at', { onCursorValueMissing: 'include' });
    expect(ids(run(def, mkctx(rs).ctx, [rows]).kept, 'id')).toEqual([1, 2, 3, 4]);
    expect(cursorState(rs, 'created_at').last_value).toBe(2);
    const r2 = run(def, mkctx(rs).ctx, [[{ id: 5, created_at: 1 }, { id: 6 }, { id: 7, created_at: 3 }]]);
    expect(ids(r2.kept, 'id')).toEqual([6, 7]);
  });
  it('exclude: dropped silently', () => {
    const rs: Record<string, unknown> = {};
    expect(ids(run(incremental('created_at', { onCursorValueMissing: 'exclude' }), mkctx(rs).ctx, [rows]).kept, 'id')).toEqual([1, 2]);
    expect(cursorState(rs, 'created_at').last_value).toBe(2);
  });
  it('INC-33 a map step before the incremental can fill the cursor', () => {
    const rs: Record<string, unknown> = {};
    const data = [{ id: 1, created_at: 1, updated_at: 1 }, { id: 2, created_at: 4, updated_at: null }];
    const mapped = data.map((r) => ({ ...r, updated_at: r.updated_at ?? r.created_at }));
    run(incremental('updated_at'), mkctx(rs).ctx, [mapped]);
    expect(cursorState(rs, 'updated_at').last_value).toBe(4);
  });
});

describe('row order closing (INC-37)', () => {
  function* countDown(from: number) {
    for (let i = from; ; i--) yield i;
  }
  function* countUp(from: number) {
    for (let i = from; ; i++) yield i;
  }
  const take = (g: Generator<number>, n: number) => Array.from({ length: n }, () => g.next().value as number);
  it('desc closes below start; asc closes at end; wrong order never closes', () => {
    const d = Incremental.bind(incremental('u', { initialValue: 10, rowOrder: 'desc' }), mkctx().ctx);
    const g = countDown(48);
    let n = 0;
    for (let pages = 0; pages < 100 && !d.shouldClose; pages++) n += d.process(take(g, 10).map((u) => ({ u }))).length;
    expect(d.shouldClose).toBe(true);
    expect(n).toBe(48 - 10 + 1);
    const a = Incremental.bind(incremental('u', { initialValue: 22, endValue: 45, rowOrder: 'asc' }), mkctx().ctx);
    const g2 = countUp(22);
    n = 0;
    let pages = 0;
    for (; pages < 100 && !a.shouldClose; pages++) n += a.process(take(g2, 10).map((u) => ({ u }))).length;
    expect(n).toBe(45 - 22);
    expect(pages).toBe(3);
    const w = Incremental.bind(incremental('u', { initialValue: 22, endValue: 45, rowOrder: 'desc' }), mkctx().ctx);
    n = 0;
    for (const c of chunks(range(22, 100), 10)) {
      n += w.process(c.map((u) => ({ u }))).length;
      expect(w.shouldClose).toBe(false);
    }
    expect(n).toBe(45 - 22);
  });
  it('canClose() for transformers', () => {
    const t = Incremental.bind(incremental('u', { initialValue: 10, rowOrder: 'desc', primaryKey: 'u' }), mkctx().ctx);
    t.process(range(0, 20).reverse().map((u) => ({ u })));
    expect(t.canClose()).toBe(true);
  });
});

describe('lag (INC-38..40, PP-7)', () => {
  it('apply lag vectors', () => {
    expect(shiftByLag('2023-03-03T01:15:30Z', 1, -1)).toBe('2023-03-03T01:15:29Z');
    expect(shiftByLag('2023-03-03T01:15:30.123+02:00', 0.5, -1)).toBe('2023-03-03T01:15:29.623+02:00');
    expect(shiftByLag('2023-03-02', 1, 1)).toBe('2023-03-03');
    expect(shiftByLag(10, 2.5, -1)).toBe(7);
    expect(shiftByLag(10.5, 2, -1)).toBe(8.5);
    expect((shiftByLag(new Date('2023-01-01T00:00:10Z'), 10, -1) as Date).toISOString()).toBe('2023-01-01T00:00:00.000Z');
    // clamp to initial_value: lag 2 on last 1 with initial 0 → 0
    const rs: Record<string, unknown> = { incremental: { v: { initial_value: 0, last_value: 1, unique_hashes: [], start_value: 0 } } };
    expect(Incremental.bind(incremental('v', { initialValue: 0, lag: 2 }), mkctx(rs).ctx).startValue).toBe(0);
  });

  it('int lag: forward-only state, re-reads the lag window, no dedup', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('id', { lag: 100, primaryKey: 'id' });
    const r1 = run(def, mkctx(rs).ctx, [[100, 200, 300].map((id) => ({ id }))]);
    expect(ids(r1.kept, 'id')).toEqual([100, 200, 300]);
    expect(cursorState(rs, 'id').last_value).toBe(300);
    const r2 = run(def, mkctx(rs).ctx, [[100, 200, 300, 400].map((id) => ({ id }))]);
    expect(r2.inc.startValue).toBe(200);
    expect(ids(r2.kept, 'id')).toEqual([200, 300, 400]);
    expect(cursorState(rs, 'id')).toMatchObject({ last_value: 400, unique_hashes: [], start_value: 300 });
    const r3 = run(def, mkctx(rs).ctx, [[{ id: 250 }]]);
    expect(r3.inc.startValue).toBe(300);
    expect(r3.kept).toEqual([]);
    // min mirrors
    const rsm: Record<string, unknown> = {};
    const dm = incremental('id', { lag: 100, lastValueFunc: 'min' });
    run(dm, mkctx(rsm).ctx, [[400, 300].map((id) => ({ id }))]);
    expect(Incremental.bind(dm, mkctx(rsm).ctx).startValue).toBe(400);
  });

  it('an older row in the lag window never moves last_value back', () => {
    const rs: Record<string, unknown> = { incremental: { id: { initial_value: null, last_value: 300, unique_hashes: [], start_value: 200 } } };
    run(incremental('id', { lag: 100 }), mkctx(rs).ctx, [[{ id: 250 }]]);
    expect(cursorState(rs, 'id').last_value).toBe(300);
  });

  it('PP-7: forward-only guard also when the stored last_value is 0', () => {
    const rs: Record<string, unknown> = { incremental: { id: { initial_value: null, last_value: 0, unique_hashes: [], start_value: null } } };
    const { kept, inc } = run(incremental('id', { lag: 10 }), mkctx(rs).ctx, [[{ id: -5 }, { id: -3 }, { id: -20 }]]);
    expect(inc.startValue).toBe(-10);
    expect(ids(kept, 'id')).toEqual([-5, -3]);
    expect(cursorState(rs, 'id').last_value).toBe(0); // dlt 1.26 would store -3
  });

  it('datetime string lag (seconds, original format kept)', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('updated_at', { lag: 3600, primaryKey: 'id' });
    run(def, mkctx(rs).ctx, [[{ id: 1, updated_at: '2023-03-03T10:00:00Z' }, { id: 2, updated_at: '2023-03-03T12:00:00Z' }]]);
    const r2 = run(def, mkctx(rs).ctx, [[{ id: 1, updated_at: '2023-03-03T10:00:00Z' }, { id: 3, updated_at: '2023-03-03T11:30:00Z' }, { id: 2, updated_at: '2023-03-03T12:00:00Z' }]]);
    expect(r2.inc.startValue).toBe('2023-03-03T11:00:00Z');
    expect(ids(r2.kept, 'id')).toEqual([3, 2]);
    expect(cursorState(rs, 'updated_at').last_value).toBe('2023-03-03T12:00:00Z');
  });

  it('date string lag (days)', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('day', { lag: 2 });
    run(def, mkctx(rs).ctx, [[{ day: '2023-03-01' }, { day: '2023-03-05' }]]);
    const r2 = run(def, mkctx(rs).ctx, [[{ day: '2023-03-02' }, { day: '2023-03-03' }, { day: '2023-03-04' }]]);
    expect(r2.inc.startValue).toBe('2023-03-03');
    expect(ids(r2.kept, 'day')).toEqual(['2023-03-03', '2023-03-04']);
    expect(cursorState(rs, 'day').last_value).toBe('2023-03-05');
  });

  it('lag is ignored with end_value and with a custom function (warning)', () => {
    const rs: Record<string, unknown> = { incremental: { v: { initial_value: 0, last_value: 50, unique_hashes: [], start_value: 0 } } };
    const inc = Incremental.bind(incremental('v', { initialValue: 10, endValue: 20, lag: 5 }), mkctx(rs).ctx);
    expect(inc.startValue).toBe(10);
    const { ctx, warns } = mkctx(rs);
    const custom = Incremental.bind(incremental('v', { lag: 5, lastValueFunc: (vs) => Math.max(...(vs as number[])) }), ctx);
    expect(custom.startValue).toBe(50);
    expect(warns[0]).toMatch(/Lag on r is only supported for max or min/);
  });
});

describe('custom last_value_func examples from the docs', () => {
  function by_event_type(values: unknown[]): unknown {
    const [item, lastValue] = values as [Row, Record<string, string> | undefined];
    const lv: Record<string, string> = lastValue ? { ...lastValue } : {};
    const t = item.type as string;
    const prev = lv[t] ?? '1970-01-01T00:00:00Z';
    lv[t] = (item.created_at as string) > prev ? (item.created_at as string) : prev;
    return lv;
  }
  const events = [
    { id: 1, type: 'PushEvent', created_at: '2024-01-01T00:00:00Z' },
    { id: 2, type: 'WatchEvent', created_at: '2024-01-02T00:00:00Z' },
    { id: 3, type: 'PushEvent', created_at: '2024-01-03T00:00:00Z' },
    { id: 4, type: 'IssuesEvent', created_at: '2024-01-01T12:00:00Z' },
  ];
  it('by_event_type: deleting one key from state reloads only that type', () => {
    const rs: Record<string, unknown> = {};
    const def = incremental('$', { lastValueFunc: by_event_type });
    const ctx = mkctx(rs, { resourcePrimaryKey: ['id'] }).ctx;
    expect(run(def, ctx, [events]).kept).toHaveLength(4);
    expect(cursorState(rs, '$').last_value).toEqual({
      PushEvent: '2024-01-03T00:00:00Z',
      WatchEvent: '2024-01-02T00:00:00Z',
      IssuesEvent: '2024-01-01T12:00:00Z',
    });
    expect(run(def, ctx, [events]).kept).toHaveLength(0);
    delete (cursorState(rs, '$').last_value as Record<string, string>).WatchEvent;
    const r3 = run(def, ctx, [events]);
    expect(ids(r3.kept, 'id')).toEqual([2]);
  });
  it('lookback: last_value holds created_at one month before the last item', () => {
    function lookback(values: unknown[]): unknown {
      const [item, lastValue] = values as [Row, Record<string, unknown> | undefined];
      const lv: Record<string, unknown> = lastValue ? { ...lastValue } : {};
      lv.created_at = DateTime.fromSeconds(item.created_at as number, { zone: 'utc' }).minus({ months: 1 }).toISO();
      return lv;
    }
    const rs: Record<string, unknown> = {};
    const def = incremental('$', { lastValueFunc: lookback });
    const data = [{ id: 1, created_at: 1_700_000_000 }, { id: 2, created_at: 1_700_000_100 }];
    expect(run(def, mkctx(rs, { resourcePrimaryKey: ['id'] }).ctx, [data]).kept).toHaveLength(2);
    const inc = Incremental.bind(def, mkctx(rs).ctx);
    expect(inc.startValue).toEqual({ created_at: '2023-10-14T22:15:00.000Z' });
  });
});

describe('types and timezones (INC-34/35, PP-8)', () => {
  it('ISO strings compare as instants across offsets, Z and naive (naive = UTC)', () => {
    expect(compare('2024-01-01T00:00:00+02:00', '2023-12-31T22:00:00Z')).toBe(0);
    expect(compare('2024-01-01T00:00:00+02:00', '2023-12-31T23:00:00Z')).toBe(-1);
    expect(compare('2024-01-01T00:00:00Z', '2024-01-01T00:00:00+00:00')).toBe(0);
    expect(compare('2024-01-01T00:00:00', '2024-01-01T00:00:00Z')).toBe(0);
    expect(compare('2024-01-01T00:00:00.000001Z', '2024-01-01T00:00:00Z')).toBe(1);
    expect(compare('2024-01-01', '2024-01-01T00:00:00Z')).toBe(0);
    expect(compare(new Date('2024-01-01T00:00:00Z'), '2024-01-01T01:00:00+01:00')).toBe(0);
    expect(compare('b', 'a')).toBe(1);
    expect(compare('2024-01-01T10:00:00+0200', '2024-01-01T09:30:00+0100')).toBe(-1);
    expect(compare('2024-01-01T10:00:00+0200', '2024-01-01T09:00:00+0100')).toBe(0);
    expect(compare('2024-01-01T10:00:00+02', '2024-01-01T09:30:00+01')).toBe(-1);
    expect(compare('2024-01-01T10:00:00-05:00', '2024-01-01T10:00:00+05:00')).toBe(1);
    const { kept } = run(incremental('t', { initialValue: '2024-01-01T00:00:00+02:00' }), mkctx().ctx, [[
      { t: '2023-12-31T22:00:00Z' },
      { t: '2023-12-31T21:59:59Z' },
      { t: '2024-01-01T00:00:00' },
      { t: '2023-12-31T23:30:00+01:00' },
    ]]);
    // 23:30+01:00 = 22:30Z: inside the range although it sorts lexicographically before the start string
    expect(ids(kept, 't')).toEqual(['2023-12-31T22:00:00Z', '2024-01-01T00:00:00', '2023-12-31T23:30:00+01:00']);
  });
  it('Date cursors and Date vs ISO string', () => {
    const rs: Record<string, unknown> = {};
    const { kept } = run(incremental('t', { initialValue: new Date('2024-01-01T00:00:00Z') }), mkctx(rs).ctx, [[
      { t: new Date('2023-12-31T00:00:00Z') }, { t: '2024-01-02T00:00:00Z' }, { t: new Date('2024-01-03T00:00:00Z') },
    ]]);
    expect(kept).toHaveLength(2);
    expect(cursorState(rs, 't').last_value).toEqual(new Date('2024-01-03T00:00:00Z'));
  });
  it('INC-34 incomparable values raise IncrementalCursorInvalidCoercion', () => {
    expect(() => run(incremental('t', { initialValue: '2024-01-01' }), mkctx().ctx, [[{ t: 5 }]])).toThrow(IncrementalCursorInvalidCoercion);
    try {
      run(incremental('t', { initialValue: 1, endValue: 5 }), mkctx().ctx, [[{ t: 'x' }]]);
    } catch (e) {
      expect((e as IncrementalCursorInvalidCoercion).cursorPath).toBe('t');
      expect((e as IncrementalCursorInvalidCoercion).item).toEqual({ t: 'x' });
    }
  });
});

describe('external intervals', () => {
  const interval = { start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-01-02T00:00:00Z') };
  const bind = (o: IncrementalOptions, rs: Record<string, unknown> = {}, iv = interval) =>
    Incremental.bind(incremental('t', { allowExternalSchedulers: true, ...o }), mkctx(rs, { interval: iv }).ctx);
  it('converts to the cursor type', () => {
    expect(bind({ initialValue: '2023-01-01T00:00:00Z' }).initialValue).toBe('2024-01-01T00:00:00Z');
    expect(bind({ initialValue: '2023-01-01T00:00:00Z' }).endValue).toBe('2024-01-02T00:00:00Z');
    expect(bind({ initialValue: '2023-01-01T00:00:00+00:00' }).initialValue).toBe('2024-01-01T00:00:00+00:00');
    expect(bind({ initialValue: '2023-01-01T00:00:00.000Z' }).initialValue).toBe('2024-01-01T00:00:00.000Z');
    expect(bind({ initialValue: '2023-01-01 00:00:00' }).initialValue).toBe('2024-01-01 00:00:00');
    expect(bind({ initialValue: 1_600_000_000 }).initialValue).toBe(1_704_067_200);
    expect(bind({ initialValue: 1_600_000_000_000 }).initialValue).toBe(1_704_067_200_000);
    expect(bind({ initialValue: '2020-01-01' }).endValue).toBe('2024-01-02');
    expect(bind({ initialValue: new Date(0) }).initialValue).toEqual(interval.start);
    expect(bind({ cursorType: 'epoch_ms' }).endValue).toBe(1_704_153_600_000);
    expect(bind({ cursorType: 'iso' }).initialValue).toBe('2024-01-01T00:00:00Z');
    expect(() => bind({})).toThrow(ConfigurationError);
  });
  it('is stateless, filters [start, end), configured bounds clip', () => {
    const rs: Record<string, unknown> = {};
    const inc = bind({ initialValue: '2023-01-01T00:00:00Z' }, rs);
    expect(inc.stateless).toBe(true);
    expect(ids(inc.process([{ t: '2023-12-31T23:59:59Z' }, { t: '2024-01-01T00:00:00Z' }, { t: '2024-01-01T23:00:00+00:00' }, { t: '2024-01-02T00:00:00Z' }]), 't')).toEqual([
      '2024-01-01T00:00:00Z', '2024-01-01T23:00:00+00:00',
    ]);
    expect(rs).toEqual({});
    const clipped = bind({ initialValue: '2024-01-01T06:00:00Z', endValue: '2024-01-01T12:00:00Z' });
    expect([clipped.initialValue, clipped.endValue]).toEqual(['2024-01-01T06:00:00Z', '2024-01-01T12:00:00Z']);
    const notClipped = bind({ initialValue: '2023-01-01T00:00:00Z', endValue: '2025-01-01T00:00:00Z' });
    expect([notClipped.initialValue, notClipped.endValue]).toEqual(['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z']);
  });
  it('tolerates luxon DateTime bounds (read once, by toInterval, where run() takes them)', () => {
    const iv = toInterval({ start: DateTime.fromISO('2024-01-01T00:00:00Z'), end: DateTime.fromISO('2024-01-02T00:00:00Z') });
    expect(bind({ initialValue: '2023-01-01' }, {}, iv).endValue).toBe('2024-01-02');
  });
  it('no interval or no opt-in → stateful', () => {
    const rs: Record<string, unknown> = {};
    const s1 = Incremental.bind(incremental('t', { allowExternalSchedulers: true, initialValue: 0 }), mkctx(rs).ctx);
    expect(s1.stateless).toBe(false);
    const s2 = Incremental.bind(incremental('u', { initialValue: 0 }), mkctx(rs, { interval }).ctx);
    expect(s2.stateless).toBe(false);
    expect(Object.keys(rs.incremental as object)).toEqual(['t', 'u']);
  });
});

describe('AF-5: an absent or future interval end, or start == end, ends at now', () => {
  // "now" is injected: 2024-01-01T12:00:00.250Z
  const NOW = new Date('2024-01-01T12:00:00.250Z');
  const at = (iso: string) => new Date(iso);
  const bindAt = (o: IncrementalOptions, iv: { start: Date; end?: Date | null }, rs: Record<string, unknown> = {}, now = NOW) => {
    const m = mkctx(rs, { interval: iv, now: () => now });
    return { inc: Incremental.bind(incremental('t', { allowExternalSchedulers: true, ...o }), m.ctx), logs: m.logs };
  };
  const isoRows = ['2023-12-31T23:59:59Z', '2024-01-01T00:00:00Z', '2024-01-01T11:59:59Z', '2024-01-01T12:00:00.249Z', '2024-01-01T12:00:00.250Z', '2024-01-01T13:00:00Z', '2024-01-01T23:00:00Z'];
  const upToNow = ['2024-01-01T00:00:00Z', '2024-01-01T11:59:59Z', '2024-01-01T12:00:00.249Z'];
  const iso = { initialValue: '2023-01-01T00:00:00Z' };

  it('an end in the future becomes now: rows up to now only', () => {
    const rs: Record<string, unknown> = {};
    const { inc, logs } = bindAt(iso, { start: at('2024-01-01T00:00:00Z'), end: at('2024-01-02T00:00:00Z') }, rs);
    expect([inc.initialValue, inc.endValue, inc.stateless, inc.emptyRange]).toEqual(['2024-01-01T00:00:00Z', '2024-01-01T12:00:00.250Z', true, false]);
    expect(ids(inc.process(isoRows.map((t) => ({ t }))), 't')).toEqual(upToNow);
    expect(rs).toEqual({});
    expect(logs[0]).toContain("external interval: [2024-01-01T00:00:00.000Z, 2024-01-01T12:00:00.250Z) (the scheduler's end 2024-01-02T00:00:00.000Z became now)");
  });

  it('an absent end (undefined or null) becomes now: [start, now)', () => {
    for (const end of [undefined, null]) {
      const { inc, logs } = bindAt(iso, { start: at('2024-01-01T00:00:00Z'), end });
      expect([inc.initialValue, inc.endValue, inc.stateless]).toEqual(['2024-01-01T00:00:00Z', '2024-01-01T12:00:00.250Z', true]);
      expect(ids(inc.process(isoRows.map((t) => ({ t }))), 't')).toEqual(upToNow);
      expect(logs[0]).toContain("(the scheduler's end absent became now)");
    }
  });

  it('start == end (a manual trigger) loads [start, now)', () => {
    const rs: Record<string, unknown> = {};
    const start = at('2024-01-01T00:00:00Z');
    const { inc } = bindAt(iso, { start, end: start }, rs);
    expect([inc.initialValue, inc.endValue, inc.emptyRange]).toEqual(['2024-01-01T00:00:00Z', '2024-01-01T12:00:00.250Z', false]);
    expect(ids(inc.process(isoRows.map((t) => ({ t }))), 't')).toEqual(upToNow);
    expect(rs).toEqual({});
  });

  it('(now, now) and a start after now are empty: nothing is loaded, no INC-19 error', () => {
    for (const start of [NOW, at('2024-01-01T18:00:00Z')]) {
      for (const end of [start, undefined, at('2024-01-02T00:00:00Z')]) {
        const { inc, logs } = bindAt(iso, { start, end });
        expect(inc.emptyRange).toBe(true);
        expect(inc.process(isoRows.map((t) => ({ t })))).toEqual([]);
        expect(logs[0]).toMatch(/is empty: nothing will be loaded/);
      }
    }
  });

  it('an end at or before now is kept as given', () => {
    for (const now of [at('2024-01-02T00:00:00Z'), at('2024-06-01T00:00:00Z')]) {
      const { inc, logs } = bindAt(iso, { start: at('2024-01-01T00:00:00Z'), end: at('2024-01-02T00:00:00Z') }, {}, now);
      expect(inc.endValue).toBe('2024-01-02T00:00:00Z');
      expect(ids(inc.process(isoRows.map((t) => ({ t }))), 't')).toEqual(isoRows.slice(1));
      expect(logs[0]).not.toContain('became now');
    }
  });

  it('configured bounds still clip the range that ends at now (AF-3)', () => {
    const { inc } = bindAt({ initialValue: '2024-01-01T06:00:00Z', endValue: '2024-01-01T12:00:00Z' }, { start: at('2024-01-01T00:00:00Z') });
    expect([inc.initialValue, inc.endValue]).toEqual(['2024-01-01T06:00:00Z', '2024-01-01T12:00:00Z']);
    const later = bindAt({ initialValue: '2023-01-01T00:00:00Z', endValue: '2025-01-01T00:00:00Z' }, { start: at('2024-01-01T00:00:00Z') }).inc;
    expect(later.endValue).toBe('2024-01-01T12:00:00.250Z');
  });

  it('now is converted to the cursor type like the interval bounds (AF-4)', () => {
    const iv = { start: at('2024-01-01T00:00:00Z'), end: at('2024-01-02T00:00:00Z') };
    const secs = [1_704_067_199, 1_704_067_200, 1_704_110_399, 1_704_110_400, 1_704_110_401];
    // ISO string, the initial value's style (fraction digits added where now needs them)
    expect(bindAt({ initialValue: '2023-01-01T00:00:00+00:00' }, iv).inc.endValue).toBe('2024-01-01T12:00:00.250+00:00');
    expect(bindAt({ initialValue: '2023-01-01 00:00:00' }, iv).inc.endValue).toBe('2024-01-01 12:00:00.250');
    // a Unix timestamp inferred from an integer initial value: whole seconds (dlt: int_timestamp)
    const s = bindAt({ initialValue: 1_600_000_000 }, iv).inc;
    expect([s.initialValue, s.endValue]).toEqual([1_704_067_200, 1_704_110_400]);
    expect(s.process(secs.map((t) => ({ t })))).toEqual([{ t: 1_704_067_200 }, { t: 1_704_110_399 }]);
    // from a fractional initial value: fractional seconds (dlt: timestamp())
    expect(bindAt({ initialValue: 1_600_000_000.5 }, iv).inc.endValue).toBe(1_704_110_400.25);
    // epoch milliseconds, inferred and declared
    expect(bindAt({ initialValue: 1_600_000_000_000 }, iv).inc.endValue).toBe(1_704_110_400_250);
    const ms = bindAt({ cursorType: 'epoch_ms' }, iv).inc;
    expect([ms.initialValue, ms.endValue]).toEqual([1_704_067_200_000, 1_704_110_400_250]);
    expect(ms.process([1_704_067_199_999, 1_704_067_200_000, 1_704_110_400_249, 1_704_110_400_250].map((t) => ({ t })))).toEqual([
      { t: 1_704_067_200_000 }, { t: 1_704_110_400_249 },
    ]);
    // declared ISO, date and Date
    expect(bindAt({ cursorType: 'iso' }, iv).inc.endValue).toBe('2024-01-01T12:00:00.250Z');
    expect(bindAt({ cursorType: 'date' }, iv).inc.endValue).toBe('2024-01-01');
    expect(bindAt({ cursorType: 'Date' }, iv).inc.endValue).toEqual(NOW);
    // declared epoch seconds without an initial value keep now's fraction
    expect(bindAt({ cursorType: 'epoch_s' }, iv).inc.endValue).toBe(1_704_110_400.25);
  });
});

describe('fromConfig (seeds: id_after)', () => {
  it('reads cursor_path/initial_value from .tide/config.toml with env overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tide-inc-'));
    mkdirSync(join(dir, '.tide'));
    writeFileSync(
      join(dir, '.tide', 'config.toml'),
      '[pipeline_with_incremental.sources.id_after]\ncursor_path = "idAfter"\ninitial_value = 10\n',
    );
    const cfg = loadConfig(join(dir, '.tide'));
    const records = range(0, 150).map((i) => ({ id: i, idAfter: i, name: `name-${i}` }));
    const lookup = (env: Record<string, string>) => (p: string, r: string) => configLookup(p, r, env, cfg);
    const rs: Record<string, unknown> = {};
    const ctx = { ...mkctx(rs).ctx, pipelineName: 'pipeline_with_incremental', resourceName: 'id_after', config: lookup({}) };
    const def = incremental.fromConfig();
    expect(def.fromConfig).toBe(true);
    const r1 = run(def, ctx, [records]);
    expect(r1.kept).toHaveLength(140);
    expect(cursorState(rs, 'idAfter')).toMatchObject({ initial_value: 10, last_value: 149 });
    expect(run(def, ctx, [records]).kept).toHaveLength(0);
    // env override (fresh state)
    const env = { PIPELINE_WITH_INCREMENTAL__SOURCES__ID_AFTER__INITIAL_VALUE: '100', PIPELINE_WITH_INCREMENTAL__SOURCES__ID_AFTER__ROW_ORDER: 'asc' };
    const rs2: Record<string, unknown> = {};
    const r2 = run(def, { ...ctx, resourceState: rs2, config: lookup(env) }, [records]);
    expect(r2.kept).toHaveLength(50);
    expect(r2.inc.rowOrder).toBe('asc');
    expect(configLookup('pipeline_with_incremental', 'id_after', env, cfg)).toEqual({ cursor_path: 'idAfter', initial_value: 100, row_order: 'asc' });
    // code overrides win
    const r3 = run(incremental.fromConfig({ initialValue: 140 }), { ...ctx, resourceState: {} }, [records]);
    expect(r3.kept).toHaveLength(10);
  });
  it('TOML datetimes become ISO strings; env values are parsed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tide-inc-'));
    writeFileSync(join(dir, 'config.toml'), '[p.sources.r]\ncursor_path = "item.ts"\ninitial_value = 2024-01-01T00:00:00Z\nprimary_key = ["a", "b"]\n');
    const cfg = loadConfig(dir);
    const env = { P__SOURCES__R__LAG: '1.5', P__SOURCES__R__ALLOW_EXTERNAL_SCHEDULERS: 'true', P__SOURCES__R__ON_CURSOR_VALUE_MISSING: 'exclude', p__sources__r__lag: '9' };
    const c = configLookup('p', 'r', env, cfg)!;
    expect(c).toMatchObject({ cursor_path: 'item.ts', lag: 1.5, allow_external_schedulers: true, on_cursor_value_missing: 'exclude', primary_key: ['a', 'b'] });
    const inc = Incremental.bind(incremental.fromConfig(), { ...mkctx().ctx, config: () => c });
    expect(inc.initialValue).toBe('2024-01-01T00:00:00.000Z');
    expect(inc.cursorPath).toBe('item.ts');
    expect(inc.process([{ item: { ts: '2023-12-31T23:59:59Z' }, a: 1, b: 2 }, { item: { ts: '2024-01-01T00:00:00Z' }, a: 1, b: 3 }, { a: 5 }])).toHaveLength(1);
    expect(configLookup('p', 'nope', {}, cfg)).toBeUndefined();
    expect(loadConfig(join(dir, 'missing'))).toEqual({});
  });

  it('missing cursor_path names the TOML section', () => {
    const ctx = { ...mkctx().ctx, pipelineName: 'pl', resourceName: 'res', config: () => ({ initial_value: 1 }) };
    expect(() => Incremental.bind(incremental.fromConfig(), ctx)).toThrow(/\[pl\.sources\.res\]/);
    expect(() => Incremental.bind(incremental.fromConfig(), { ...ctx, config: undefined })).toThrow(ConfigurationError);
  });
});

describe('stateless end_value (INC-24)', () => {
  it('does not create cursor state', () => {
    const rs: Record<string, unknown> = {};
    const inc = Incremental.bind(incremental('v', { initialValue: 20, endValue: 30 }), mkctx(rs).ctx);
    inc.process(range(20, 40).map((v) => ({ v })));
    expect(rs).toEqual({});
    expect(inc.stateless).toBe(true);
    expect(inc.startValue).toBe(20);
  });
});

describe('1M rows at one cursor value (bounded dedup state)', () => {
  it('integer primary keys compact to ranges; next run dedups exactly', () => {
    const N = 1_000_000;
    const rs: Record<string, unknown> = {};
    const { ctx, warns } = mkctx(rs);
    const def = incremental('ts', { primaryKey: 'id' });
    const page = (from: number, to: number) => range(from, to).map((id) => ({ id, ts: 42 }));
    let t = performance.now();
    let inc = Incremental.bind(def, ctx);
    let n = 0;
    for (let i = 0; i < N; i += 1000) n += inc.process(page(i, i + 1000)).length;
    const json = JSON.stringify(rs);
    const dt1 = performance.now() - t;
    expect(n).toBe(N);
    expect(warns).toHaveLength(1);
    expect(cursorState(JSON.parse(json), 'ts').unique_key_ranges).toEqual([[0, N - 1]]);
    // next run (state restored from JSON): only the new row at the boundary is loaded
    const rs2 = JSON.parse(json);
    t = performance.now();
    inc = Incremental.bind(def, mkctx(rs2).ctx);
    n = 0;
    for (let i = 0; i < N; i += 1000) n += inc.process(page(i, i + 1000)).length;
    n += inc.process([{ id: N + 5, ts: 42 }]).length;
    const dt2 = performance.now() - t;
    expect(n).toBe(1);
    const json2 = JSON.stringify(rs2);
    expect(cursorState(JSON.parse(json2), 'ts').unique_key_ranges).toEqual([[0, N - 1], [N + 5, N + 5]]);
    console.log(`[1M int pk @ one cursor] run1 ${dt1.toFixed(0)} ms, state ${json.length} B; run2 ${dt2.toFixed(0)} ms, state ${json2.length} B`);
  }, 120_000);

  it('lazy large state survives structuredClone and JSON', () => {
    const rs: Record<string, unknown> = {};
    const inc = Incremental.bind(incremental('ts', { primaryKey: 'id' }), mkctx(rs).ctx);
    const rows = (n: number) => range(0, n).map((i) => ({ id: i < 1200 ? i : `s${i}`, ts: 1 }));
    inc.process(rows(1500));
    const viaClone = structuredClone(rs);
    const viaJson = JSON.parse(JSON.stringify(rs));
    expect(viaClone).toEqual(viaJson);
    const st = cursorState(viaJson, 'ts');
    expect((st.unique_hashes as string[]).length).toBe(300);
    expect(st.unique_key_ranges).toEqual([[0, 1199]]);
    const inc2 = Incremental.bind(incremental('ts', { primaryKey: 'id' }), mkctx(viaClone).ctx);
    expect(inc2.process(rows(1501))).toEqual([{ id: 's1500', ts: 1 }]);
  });

  it('string primary keys keep exact hashes (no correct bounded scheme); next run dedups exactly', () => {
    const N = 1_000_000;
    const rs: Record<string, unknown> = {};
    const def = incremental('ts', { primaryKey: 'id' });
    const page = (from: number, to: number) => range(from, to).map((i) => ({ id: `k${i}`, ts: '2024-01-01' }));
    let t = performance.now();
    let inc = Incremental.bind(def, mkctx(rs).ctx);
    for (let i = 0; i < N; i += 1000) inc.process(page(i, i + 1000));
    const json = JSON.stringify(rs);
    const dt1 = performance.now() - t;
    expect((cursorState(JSON.parse(json), 'ts').unique_hashes as string[]).length).toBe(N);
    const rs2 = JSON.parse(json);
    t = performance.now();
    inc = Incremental.bind(def, mkctx(rs2).ctx);
    let n = 0;
    for (let i = 0; i < N; i += 1000) n += inc.process(page(i, i + 1000)).length;
    n += inc.process([{ id: 'new', ts: '2024-01-01' }]).length;
    const dt2 = performance.now() - t;
    expect(n).toBe(1);
    console.log(`[1M string pk @ one cursor] run1 ${dt1.toFixed(0)} ms, state ${(json.length / 1e6).toFixed(1)} MB; run2 ${dt2.toFixed(0)} ms`);
  }, 120_000);
});

describe('dedup hash form of a pipeline', () => {
  const withHashes = (hashes: string[]) =>
    ({ _state_version: 1, _state_engine_version: 4, pipeline_name: 'p', dataset_name: 'd', sources: { s: { resources: { r: { incremental: { c: { unique_hashes: hashes } } } } } } }) as PipelineState;

  it('the configured dlt version decides: before 1.29 long, from 1.29 short', () => {
    expect(dedupHashFormFor(withHashes([]), '1.26.0')).toBe('long');
    expect(dedupHashFormFor(withHashes([]), '1.28')).toBe('long');
    expect(dedupHashFormFor(withHashes(['Cn/dwi436vBbdERZ9hKf']), '1.29.0')).toBe('short');
    expect(dedupHashFormFor(withHashes([]), '2.0')).toBe('short');
    expect(() => dedupHashFormFor(withHashes([]), 'latest')).toThrow(ConfigurationError);
  });

  it("without one: a long hash in the state means an older dlt shares the dataset; else the latest dlt's form", () => {
    expect(dedupHashFormFor(withHashes(['Cn/dwi436vBbdERZ9hKf']))).toBe('long');
    expect(dedupHashFormFor(withHashes(['Cn/dwi436vBb', 'Cn/dwi436vBbdERZ9hKf']))).toBe('long');
    expect(dedupHashFormFor(withHashes(['Cn/dwi436vBb']))).toBe('short');
    expect(dedupHashFormFor(withHashes([]))).toBe('short');
    expect(dedupHashFormFor(undefined)).toBe('short');
  });
});
