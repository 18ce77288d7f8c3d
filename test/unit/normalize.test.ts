/**
 * Normalizer unit tests. Expectations marked "dlt 1.26" were checked against the real library in
 * bench/.venv (snake_case NamingConvention(max_length=63), relational normalizer + JsonL coercion,
 * type_helpers.coerce_value, detections.is_iso_timestamp). Broader row/schema parity cases live in
 * normalize.dlt-parity.test.ts.
 */
import { describe, it, expect } from 'vitest';
import {
  Normalizer,
  normalizeIdentifier,
  normalizePath,
  makePath,
  inferType,
  coerceValue,
  pyFloatRepr,
  uniqueId,
} from '../../pipeline/normalize/index.ts';
import { createHash } from 'node:crypto';
import { digest10, nestedRowId, sortedJson } from '../../pipeline/normalize/hash.ts';
import { CannotCoerceNullError, NormalizeError } from '../../pipeline/errors.ts';
import type { Schema, TableSchema } from '../../pipeline/schema.ts';

type Row = Record<string, unknown>;

function setup(table: Partial<TableSchema> = {}, name = 't') {
  const schema: Schema = { name: 's', tables: { [name]: { name, columns: {}, ...table } } };
  const norm = new Normalizer(schema, { loadId: '1700000000.1', resource: 'res', pipeline: 'pipe' });
  const rows: [string, Row][] = [];
  const run = (...items: unknown[]) => {
    for (const item of items) norm.normalize(item, name, (t, r) => rows.push([t, r]));
    return rows;
  };
  return { schema, rows, run, norm };
}

describe('naming (dlt 1.26 snake_case, max_length 63)', () => {
  it('NM-1 vectors', () => {
    const cases: [string, string][] = [
      ['f-1', 'f_1'],
      ['f!3', 'f_3'],
      ['f*6', 'fx6'],
      ['c v', 'c_v'],
      ['channelSURFING', 'channel_surfing'],
      ['DelTa', 'del_ta'],
      ['TxId', 'tx_id'],
      ['ABCdef', 'ab_cdef'],
      ['getHTTPResponseCode', 'get_http_response_code'],
      ['userID2Name', 'user_id2_name'],
      ['  a b  ', 'a_b'],
      ['a_', 'ax'],
      ['a__', 'axx'],
      ['1abc', '_1abc'],
      ['x+y', 'xxy'],
      ['a@b', 'aab'],
      ['a|b', 'alb'],
      ['über', '_ber'],
      ['Ä', 'x'],
      ['émoji🚀x', '_moji_x'],
      ['a__b', 'a_b'],
      ['_dlt_id', '_dlt_id'],
      ['', '_empty'],
      ['   ', '_empty'],
    ];
    for (const [raw, want] of cases) expect(normalizeIdentifier(raw), raw).toBe(want);
  });

  it('item keys are normalized as paths (dlt normalize_path keeps `__`)', () => {
    expect(normalizePath('a__b')).toBe('a__b');
    expect(normalizePath('a___b')).toBe('a___b');
    expect(normalizePath('__a')).toBe('a');
    expect(normalizePath('a__')).toBe('a');
    expect(normalizePath('___')).toBe('x');
    expect(normalizePath('x__v_double')).toBe('x__v_double');
  });

  it('shortens deterministically with dlt’s hash tag', () => {
    expect(normalizeIdentifier('a'.repeat(70))).toBe('aaaaaaaaaaaaaaaaaaaaaaaaaaaaamo6cbaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    expect(normalizeIdentifier('A'.repeat(80) + 'b'.repeat(10))).toBe('aaaaaaaaaaaaaaaaaaaaaaaaaaaaa05oscqaaaaaaaaaaaaaaaa_abbbbbbbbbb');
    expect(normalizePath('a__' + 'b'.repeat(70))).toBe('a__bbbbbbbbbbbbbbbbbbbbbbbbbbja6wwgbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
    expect(makePath('a'.repeat(40), 'b'.repeat(40))).toBe('aaaaaaaaaaaaaaaaaaaaaaaaaaaaarsjyfqbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
    expect(normalizeIdentifier('a'.repeat(70)).length).toBe(63);
  });

  it('makePath joins normalized parts', () => {
    expect(makePath('parent', 'child')).toBe('parent__child');
    expect(makePath('Parent', 'childList')).toBe('parent__child_list');
    expect(makePath('a', '', 'b')).toBe('a__b');
  });
});

describe('types (dlt 1.26 coerce_value / is_iso_timestamp)', () => {
  it('infers types', () => {
    expect(inferType(null)).toBeNull();
    expect(inferType(undefined)).toBeNull();
    expect(inferType('x')).toBe('text');
    expect(inferType(5)).toBe('bigint');
    expect(inferType(2 ** 63)).toBe('decimal');
    expect(inferType(1.5)).toBe('double');
    expect(inferType(NaN)).toBe('double');
    expect(inferType(5n)).toBe('bigint');
    expect(inferType(2n ** 64n)).toBe('decimal');
    expect(inferType(true)).toBe('bool');
    expect(inferType(new Date(0))).toBe('timestamp');
    expect(inferType(Buffer.from('a'))).toBe('binary');
    expect(inferType({ isLuxonDateTime: true, isValid: true, toISO: () => '2024-01-01T00:00:00.000Z' })).toBe('timestamp');
    expect(inferType({ a: 1 })).toBe('json');
    expect(() => inferType(new Date('nope'))).toThrow(NormalizeError);
  });

  it('detects ISO timestamps like dlt’s iso_timestamp detection', () => {
    const timestamps = [
      '2024-01-01T00:00:00',
      '2024-01-01T00:00:00Z',
      '2024-01-01 00:00:00',
      '2024-01-01T00:00:00.123456+02:00',
      '2024-01-01T00:00',
      '2024-01-01T00',
      '20240101T000000Z',
      '2024-001T10:00:00',
      '2024-W01-2T10:00',
      '2024-01-01T00:00:00+0200',
      '2024-01-01T00:00:00,5Z',
      '2024/01/15 10:00',
      '2000-02-29T00:00:00',
    ];
    const texts = ['2024-01-01', '20240101', '2024', '10:00:00', '2024-01-01T24:00:00', '2024-02-30T00:00:00', '2024-01-01t00:00:00z', ' 2024-01-01T00:00:00Z', '2024-1-1T00:00:00', '1900-02-29T00:00:00', '2024-01-01 10:20:30 +02:00', ''];
    for (const s of timestamps) expect(inferType(s), s).toBe('timestamp');
    for (const s of texts) expect(inferType(s), s).toBe('text');
  });

  it('coerces like dlt’s _COERCE_DISPATCH', () => {
    const ok = (v: unknown) => ({ ok: true, value: v });
    expect(coerceValue(true, 'text')).toEqual(ok('True'));
    expect(coerceValue(5, 'text')).toEqual(ok('5'));
    expect(coerceValue(1.5, 'text')).toEqual(ok('1.5'));
    expect(coerceValue({ a: [1, 'ü'] }, 'text')).toEqual(ok('{"a":[1,"ü"]}'));
    expect(coerceValue(new Date('2024-01-01T00:00:00.123Z'), 'text')).toEqual(ok('2024-01-01T00:00:00.123000+00:00'));
    expect(coerceValue(Buffer.from('ab'), 'text')).toEqual(ok('YWI='));
    expect(coerceValue('5', 'bigint')).toEqual(ok(5));
    expect(coerceValue(' 5 ', 'bigint')).toEqual(ok(5));
    expect(coerceValue('0x1f', 'bigint')).toEqual(ok(31));
    expect(coerceValue('1_000', 'bigint')).toEqual(ok(1000));
    expect(coerceValue('5.0', 'bigint')).toEqual({ ok: false });
    expect(coerceValue(1.5, 'bigint')).toEqual({ ok: false });
    expect(coerceValue(true, 'bigint')).toEqual({ ok: false });
    expect(coerceValue(5, 'double')).toEqual(ok(5));
    expect(coerceValue('1e5', 'double')).toEqual(ok(100000));
    expect(coerceValue(true, 'double')).toEqual({ ok: false });
    expect(coerceValue('true', 'bool')).toEqual(ok(true));
    expect(coerceValue('YES', 'bool')).toEqual(ok(true));
    expect(coerceValue('maybe', 'bool')).toEqual({ ok: false });
    expect(coerceValue(2, 'bool')).toEqual(ok(true));
    expect(coerceValue('2024-01-01', 'timestamp')).toEqual(ok('2024-01-01T00:00:00+00:00'));
    expect(coerceValue('2024-01-01 10:20:30.5+02:00', 'timestamp')).toEqual(ok('2024-01-01T08:20:30.500000+00:00'));
    expect(coerceValue('1700000000', 'timestamp')).toEqual(ok('2023-11-14T22:13:20+00:00'));
    expect(coerceValue(1700000000.5, 'timestamp')).toEqual(ok('2023-11-14T22:13:20.500000+00:00'));
    expect(coerceValue('abc', 'timestamp')).toEqual({ ok: false });
    expect(coerceValue(true, 'timestamp')).toEqual({ ok: false });
    expect(coerceValue('2024-01-01T10:00:00+05:00', 'date')).toEqual(ok('2024-01-01'));
    expect(coerceValue(new Date('2024-01-02T04:00:00Z'), 'date')).toEqual(ok('2024-01-02'));
    expect(coerceValue(1700000000, 'date')).toEqual(ok('2023-11-14'));
    expect(coerceValue('{"a":1}', 'json')).toEqual(ok({ a: 1 }));
    expect(coerceValue('abc', 'json')).toEqual({ ok: false });
    expect(coerceValue(5, 'json')).toEqual({ ok: false });
    expect(coerceValue('1.5', 'decimal')).toEqual(ok('1.5'));
    expect(coerceValue('abc', 'decimal')).toEqual({ ok: false });
    expect(coerceValue('0x0102', 'binary')).toEqual(ok(Buffer.from([1, 2])));
    expect(coerceValue('AQI=', 'binary')).toEqual(ok(Buffer.from([1, 2])));
    expect(coerceValue('zz', 'binary')).toEqual({ ok: false });
    expect(coerceValue('10:00:00', 'time')).toEqual(ok('10:00:00'));
  });

  it('formats doubles like python repr', () => {
    expect(pyFloatRepr(1e-5)).toBe('1e-05');
    expect(pyFloatRepr(0.0001)).toBe('0.0001');
    expect(pyFloatRepr(1e20)).toBe('1e+20');
    expect(pyFloatRepr(1.5)).toBe('1.5');
    expect(pyFloatRepr(3)).toBe('3.0');
    expect(pyFloatRepr(1234567890123456.7)).toBe('1234567890123456.8');
    expect(pyFloatRepr(NaN)).toBe('nan');
    expect(pyFloatRepr(-Infinity)).toBe('-inf');
  });
});

describe('ids', () => {
  it('ids match node:crypto and dlt', () => {
    expect(nestedRowId('1', 'parent__child', 0)).toBe('mvMThji/REOKKA'); // dlt test_child_row_deterministic_hash
    const reference = (s: string) => createHash('shake128', { outputLength: 10 }).update(s, 'utf8').digest('base64').slice(0, 14);
    for (let i = 0; i < 50; i++) {
      const p = uniqueId();
      expect(p).toMatch(/^[A-Za-z0-9+/]{14}$/);
      expect(nestedRowId(p, 't__ü🚀', i)).toBe(reference(`${p}_t__ü🚀_${i}`));
    }
    expect(new Set(Array.from({ length: 10000 }, uniqueId)).size).toBe(10000);
  });
});

describe('Normalizer', () => {
  it('links nested tables with deterministic ids (NM-9)', () => {
    const { run, schema } = setup({}, 'parent');
    const rows = run({ _dlt_id: '1', child: [{ a: 1 }] });
    expect(rows).toEqual([
      ['parent', { _dlt_id: '1', _dlt_load_id: '1700000000.1' }],
      ['parent__child', { a: 1, _dlt_parent_id: '1', _dlt_list_idx: 0, _dlt_id: 'mvMThji/REOKKA' }],
    ]);
    expect(schema.tables.parent__child).toEqual({
      name: 'parent__child',
      parent: 'parent',
      columns: {
        a: { name: 'a', dataType: 'bigint', nullable: true },
        _dlt_parent_id: { name: '_dlt_parent_id', dataType: 'text', nullable: false, parentKey: true },
        _dlt_list_idx: { name: '_dlt_list_idx', dataType: 'bigint', nullable: false },
        _dlt_id: { name: '_dlt_id', dataType: 'text', nullable: false, unique: true, rowKey: true },
      },
    });
    expect(schema.tables.parent.columns).toEqual({
      _dlt_id: { name: '_dlt_id', dataType: 'text', nullable: false, unique: true, rowKey: true },
      _dlt_load_id: { name: '_dlt_load_id', dataType: 'text', nullable: false },
    });
  });

  it('random root ids, load id, column order (dlt: data, _dlt_load_id, _dlt_id)', () => {
    const { run, schema } = setup();
    const [[t, row]] = run({ userName: 'x', nested: { Inner: 1 } });
    expect(t).toBe('t');
    expect(Object.keys(row)).toEqual(['user_name', 'nested__inner', '_dlt_load_id', '_dlt_id']);
    expect(row._dlt_id).toMatch(/^[A-Za-z0-9+/]{14}$/);
    expect(Object.keys(schema.tables.t.columns)).toEqual(['user_name', 'nested__inner', '_dlt_load_id', '_dlt_id']);
  });

  it('flattens dicts like dlt: top-level keys first, last nested dict first (dlt 1.26)', () => {
    const { run } = setup();
    const [[, row]] = run({ _dlt_id: '1', b: { c: 'x' }, e: { f: { g: 1 }, h: 2 }, z: 3 });
    expect(Object.keys(row)).toEqual(['_dlt_id', 'z', 'e__h', 'e__f__g', 'b__c', '_dlt_load_id']);
  });

  it('list of scalars, list in list, parents first and children in order (dlt 1.26)', () => {
    const { run, schema } = setup();
    const rows = run({ _dlt_id: 1, a: [{ x: 1 }, 2, [3], { y: 's' }] });
    expect(rows).toEqual([
      ['t', { _dlt_id: 1, _dlt_load_id: '1700000000.1' }],
      ['t__a', { x: 1, _dlt_parent_id: 1, _dlt_list_idx: 0, _dlt_id: '/ZQTXQyZ/JwqUw' }],
      ['t__a', { value: 2, _dlt_parent_id: 1, _dlt_list_idx: 1, _dlt_id: 'X6RHuf35rIzGQA' }],
      ['t__a', { _dlt_parent_id: 1, _dlt_list_idx: 2, _dlt_id: 'vUK+uxOiQlwtig' }],
      ['t__a__list', { value: 3, _dlt_parent_id: 'vUK+uxOiQlwtig', _dlt_list_idx: 0, _dlt_id: 'hUXja5Q/kWqwSw' }],
      ['t__a', { y: 's', _dlt_parent_id: 1, _dlt_list_idx: 3, _dlt_id: '7zOPYhjRa9Ha5g' }],
    ]);
    // a user-supplied numeric _dlt_id keeps its type (dlt test_bring_your_own_dlt_id)
    expect(schema.tables.t.columns._dlt_id.dataType).toBe('bigint');
    expect(schema.tables.t__a.columns._dlt_parent_id.dataType).toBe('bigint');
    expect(schema.tables.t__a__list.parent).toBe('t__a');
  });

  it('wraps non-dict items in {value} (dlt test_wrap_in_dict)', () => {
    const { run, schema } = setup();
    const rows = run('x', 5, [1, 2], null);
    expect(rows.map(([t, r]) => [t, r.value, r._dlt_list_idx])).toEqual([
      ['t', 'x', undefined],
      ['t', '5', undefined], // coerced into the existing text column
      ['t', undefined, undefined],
      ['t__value', 1, 0],
      ['t__value', 2, 1],
      ['t', null, undefined],
    ]);
    expect(rows[3][1]._dlt_parent_id).toBe(rows[2][1]._dlt_id);
    expect(Object.keys(schema.tables)).toEqual(['t', 't__value']);
  });

  it('variant columns (NM-14, dlt 1.26)', () => {
    const { run, schema } = setup();
    const rows = run({ _dlt_id: '1', price: 1 }, { _dlt_id: '2', price: 1.5 }, { _dlt_id: '3', price: 'abc' }, { _dlt_id: '4', price: '7' });
    expect(rows.map(([, r]) => r)).toEqual([
      { _dlt_id: '1', price: 1, _dlt_load_id: '1700000000.1' },
      { _dlt_id: '2', price__v_double: 1.5, _dlt_load_id: '1700000000.1' },
      { _dlt_id: '3', price__v_text: 'abc', _dlt_load_id: '1700000000.1' },
      { _dlt_id: '4', price: 7, _dlt_load_id: '1700000000.1' },
    ]);
    expect(schema.tables.t.columns.price__v_double).toEqual({ name: 'price__v_double', dataType: 'double', nullable: true, variant: true });
    expect(schema.tables.t.columns.price__v_text).toEqual({ name: 'price__v_text', dataType: 'text', nullable: true, variant: true });
  });

  it('coerces to hinted types and copies hints onto new columns', () => {
    const { run, schema } = setup({
      columnHints: { amount: { dataType: 'decimal', precision: 10, scale: 2 }, ts: { dataType: 'timestamp' }, j: { dataType: 'json' } },
    });
    const [[, row]] = run({ _dlt_id: '1', amount: '12.50', ts: '2024-01-01', j: { a: { b: 1 } } });
    expect(row).toEqual({ _dlt_id: '1', amount: '12.50', ts: '2024-01-01T00:00:00+00:00', j: { a: { b: 1 } }, _dlt_load_id: '1700000000.1' });
    expect(schema.tables.t.columns.amount).toEqual({ name: 'amount', dataType: 'decimal', nullable: true, precision: 10, scale: 2 });
    expect(schema.tables.t.columns.j.dataType).toBe('json');
  });

  it('completes a column that has hints but no data type', () => {
    const { run, schema } = setup();
    schema.tables.t.columns.k = { name: 'k', nullable: false, primaryKey: true } as unknown as TableSchema['columns'][string];
    run({ _dlt_id: '1', k: null, x: 1 });
    expect(schema.tables.t.columns.k.dataType).toBeUndefined();
    run({ _dlt_id: '2', k: 'a' });
    expect(schema.tables.t.columns.k).toEqual({ name: 'k', dataType: 'text', nullable: false, primaryKey: true });
    expect(Object.keys(schema.tables.t.columns)[0]).toBe('k');
  });

  it('never creates null-only columns but keeps nulls in rows (NM-13)', () => {
    const { run, schema } = setup();
    const rows = run({ _dlt_id: '1', a: null, b: { c: null }, d: [] }, { _dlt_id: '2', a: undefined, d: [null] });
    expect(rows).toEqual([
      ['t', { _dlt_id: '1', a: null, b__c: null, _dlt_load_id: '1700000000.1' }],
      ['t', { _dlt_id: '2', a: null, _dlt_load_id: '1700000000.1' }],
      ['t__d', { value: null, _dlt_parent_id: '2', _dlt_list_idx: 0, _dlt_id: 'GwRLI4gb0YLRGw' }],
    ]);
    expect(Object.keys(schema.tables.t.columns)).toEqual(['_dlt_id', '_dlt_load_id']);
    expect(Object.keys(schema.tables.t__d.columns)).toEqual(['_dlt_parent_id', '_dlt_list_idx', '_dlt_id']);
  });

  it('maxTableNesting 0 keeps dicts and lists as json (dlt 1.26)', () => {
    const { run, schema } = setup({ maxTableNesting: 0 });
    const rows = run({ _dlt_id: '1', a: { b: 1 }, l: [1, 2] });
    expect(rows).toEqual([['t', { _dlt_id: '1', a: { b: 1 }, l: [1, 2], _dlt_load_id: '1700000000.1' }]]);
    expect(schema.tables.t.columns.a.dataType).toBe('json');
    expect(schema.tables.t.columns.l.dataType).toBe('json');
  });

  it('maxTableNesting 1 (dlt 1.26)', () => {
    const { run } = setup({ maxTableNesting: 1 });
    expect(run({ _dlt_id: '1', a: { b: { c: 1 } }, l: [{ x: { y: 1 }, m: [1] }] })).toEqual([
      ['t', { _dlt_id: '1', a__b: { c: 1 }, _dlt_load_id: '1700000000.1' }],
      ['t__l', { x: { y: 1 }, m: [1], _dlt_parent_id: '1', _dlt_list_idx: 0, _dlt_id: 'HYstECioPLfTmQ' }],
    ]);
  });

  it('a column typed json is never flattened', () => {
    const { run, schema } = setup();
    schema.tables.t.columns.doc = { name: 'doc', dataType: 'json', nullable: true };
    const [[, row]] = run({ _dlt_id: '1', doc: { a: [1, { b: 2 }] } });
    expect(row.doc).toEqual({ a: [1, { b: 2 }] });
    expect(Object.keys(schema.tables)).toEqual(['t']);
  });

  it('upsert: _dlt_id is the primary key hash (NM-10, MG-15 vector)', () => {
    const { run, schema } = setup({
      writeDisposition: 'merge',
      mergeStrategy: 'upsert',
      rootKeyPropagation: true,
      columnHints: { id: { primaryKey: true }, tx_id: { primaryKey: true } },
    });
    const rows = run({ Id: 1, TxId: 'tx1🚀3', child: [{ a: 1, gc: [1] }] });
    // verified with dlt 1.26 (postgres caps, x-merge-strategy upsert)
    expect(rows).toEqual([
      ['t', { id: 1, tx_id: 'tx1🚀3', _dlt_load_id: '1700000000.1', _dlt_id: '19GAeLNivYhDqg' }],
      ['t__child', { a: 1, _dlt_root_id: '19GAeLNivYhDqg', _dlt_parent_id: '19GAeLNivYhDqg', _dlt_list_idx: 0, _dlt_id: 'QSaGMrA24MERtA' }],
      ['t__child__gc', { value: 1, _dlt_root_id: '19GAeLNivYhDqg', _dlt_parent_id: 'QSaGMrA24MERtA', _dlt_list_idx: 0, _dlt_id: 'VsSxJV8pee6XTQ' }],
    ]);
    expect(schema.tables.t.columns.id).toEqual({ name: 'id', dataType: 'bigint', nullable: false, primaryKey: true });
    expect(schema.tables.t__child.columns._dlt_root_id).toEqual({ name: '_dlt_root_id', dataType: 'text', nullable: false, rootKey: true });
    expect(Object.keys(schema.tables.t__child.columns)).toEqual(['a', '_dlt_root_id', '_dlt_parent_id', '_dlt_list_idx', '_dlt_id']);
  });

  it('upsert with one primary key: the direct key hash equals the sorted-JSON digest for every value type', () => {
    const values: unknown[] = [1, -0, 0.1, 1e21, -42, 'plain', 'tx1🚀3', 'quote " and \\ back\nslash', '', true, false];
    for (const key of ['id', 'Weird "Key"']) {
      const name = normalizePath(key);
      const { run } = setup({ writeDisposition: 'merge', mergeStrategy: 'upsert', columnHints: { [name]: { primaryKey: true } } });
      const rows = run(...values.map((v) => ({ [key]: v })));
      expect(rows.map(([, r]) => r._dlt_id)).toEqual(values.map((v) => digest10(sortedJson({ [name]: v }))));
    }
  });

  it('hashing JSON sorts every key as a string, like dlt (integer-like keys too)', () => {
    // dlt 1.26: json.dumps(…, sort_keys=True) and get_row_hash({'2': 1, '10': 2, 'b': 'x', '_dlt_id': 'q'})
    expect(sortedJson({ k: { 2: true, 10: null }, a: [1, { z: 1, 9: 2 }] })).toBe('{"a":[1,{"9":2,"z":1}],"k":{"10":null,"2":true}}');
    expect(digest10(sortedJson({ 2: 1, 10: 2, b: 'x' }))).toBe('LtmRZHCIGhkKbQ');
    // what JSON leaves out, and values JSON.stringify writes its own way
    expect(sortedJson({ u: undefined, f: () => 1, d: new Date(0), n: NaN, big: 12n, arr: [undefined, () => 1, 'x'] })).toBe(
      '{"arr":[null,null,"x"],"big":"12","d":"1970-01-01T00:00:00.000Z","n":null}',
    );
  });

  it('upsert ids match the MG-15 vectors (parent / child / grandchild)', () => {
    const { run } = setup(
      { writeDisposition: 'merge', mergeStrategy: 'upsert', columnHints: { id: { primaryKey: true }, tx_id: { primaryKey: true } } },
      'parent',
    );
    const rows = run({ id: 1, tx_id: 'tx1🚀3', child: [{ grandchild: [{ x: 1 }] }] });
    expect(rows.map(([t, r]) => [t, r._dlt_id])).toEqual([
      ['parent', '19GAeLNivYhDqg'],
      ['parent__child', 'hhWFugO13PeLBQ'],
      ['parent__child__grandchild', 'rsgPU8Q0nJ4QVg'],
    ]);
  });

  it('scd2: _dlt_id is the row hash of the raw item (NM-11, MG-20 vectors)', () => {
    const { run, schema } = setup({ writeDisposition: 'merge', mergeStrategy: 'scd2' });
    const rows = run(
      { nk: 1, c1: 'foo', c2: { nc1: 'foo' } },
      { nk: 2, c1: 'bar', c2: { nc1: 'bar' }, _dlt_x: 'ignored' },
      { nk: 1, c1: 'foo', c2: { nc1: 'foo_🚀updated' } },
    );
    expect(rows.map(([, r]) => r._dlt_id)).toEqual(['OTPbGyxWlJzmpA', 'S41QIpRa9Fwh0w', 'Z/zzrOzuLRhhWw']);
    expect(schema.tables.t.columns._dlt_id).toEqual({ name: '_dlt_id', dataType: 'text', nullable: false, x_row_version: true });
  });

  it('scd2 with a row version column keeps random ids', () => {
    const { run } = setup({ writeDisposition: 'merge', mergeStrategy: 'scd2', scd2: { validFrom: 'a', validTo: 'b', rowVersionColumn: 'row_hash' } });
    const rows = run({ nk: 1 }, { nk: 1 });
    expect(rows[0][1]._dlt_id).not.toBe(rows[1][1]._dlt_id);
  });

  it('propagates the root key to every nested level (NM-7, dlt 1.26)', () => {
    const { run } = setup({ rootKeyPropagation: true });
    expect(run({ _dlt_id: '1', a: [{ b: [{ c: 1 }], _dlt_root_id: 'zzz' }], s: [1] })).toEqual([
      ['t', { _dlt_id: '1', _dlt_load_id: '1700000000.1' }],
      ['t__a', { _dlt_root_id: '1', _dlt_parent_id: '1', _dlt_list_idx: 0, _dlt_id: '/ZQTXQyZ/JwqUw' }],
      ['t__a__b', { c: 1, _dlt_root_id: '1', _dlt_parent_id: '/ZQTXQyZ/JwqUw', _dlt_list_idx: 0, _dlt_id: 'RGK1I1P2oIQ7LA' }],
      ['t__s', { value: 1, _dlt_root_id: '1', _dlt_parent_id: '1', _dlt_list_idx: 0, _dlt_id: '42jcM5EuGe6FSw' }],
    ]);
  });

  it('nested rows never get _dlt_load_id; no root key without propagation', () => {
    const { run } = setup();
    const rows = run({ l: [{ a: 1 }] });
    expect(Object.keys(rows[1][1])).toEqual(['a', '_dlt_parent_id', '_dlt_list_idx', '_dlt_id']);
  });

  it('merge: null or missing key columns raise CannotCoerceNullError', () => {
    const { run, schema } = setup({ writeDisposition: 'merge', columnHints: { id: { primaryKey: true }, region: { mergeKey: true } } });
    run({ id: 1, region: 'eu' });
    expect(schema.tables.t.columns.region.nullable).toBe(false);
    let err: unknown;
    try {
      run({ id: null, region: 'eu', x: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CannotCoerceNullError);
    expect(err).toBeInstanceOf(NormalizeError);
    const e = err as CannotCoerceNullError;
    expect([e.resource, e.table, e.column, e.pipeline]).toEqual(['res', 't', 'id', 'pipe']);
    expect(e.item).toEqual({ id: null, region: 'eu', x: 1 });
    expect(() => run({ id: 2 })).toThrow(/region/);
    // append tables do not check keys
    const other = setup({ columnHints: { id: { primaryKey: true } } });
    expect(() => other.run({ x: 1 })).not.toThrow();
  });

  it('hard-delete rows need only key and flag', () => {
    const { run, schema } = setup({ writeDisposition: 'merge', columnHints: { id: { primaryKey: true }, deleted: { hardDelete: true } } });
    schema.tables.t.columns.name = { name: 'name', dataType: 'text', nullable: false };
    const rows = run({ id: 1, name: 'a', deleted: false }, { id: 2, deleted: true, name: null });
    expect(rows[1][1]).toMatchObject({ id: 2, deleted: true, name: null });
    expect(() => run({ id: 3, deleted: false, name: null })).toThrow(CannotCoerceNullError);
    expect(() => run({ deleted: true })).toThrow(CannotCoerceNullError);
  });

  it('keys colliding after normalization: last wins at the first position (dlt 1.26)', () => {
    const { run } = setup();
    const [[, row]] = run({ _dlt_id: '1', 'a-b': 1, a_b: 2, aB: 3, '': 4, ' ': 5, b: { '': 6, _empty: 7 }, c: { d: 1 }, c__d: 2 });
    expect(row).toEqual({ _dlt_id: '1', a_b: 3, _empty: 5, c__d: 1, b___empty: 7, _dlt_load_id: '1700000000.1' });
    expect(Object.keys(row)).toEqual(['_dlt_id', 'a_b', '_empty', 'c__d', 'b___empty', '_dlt_load_id']);
  });

  it('very long keys are shortened (dlt 1.26)', () => {
    const { run } = setup();
    const rows = run({ _dlt_id: '1', ['b'.repeat(40)]: { ['c'.repeat(40)]: 2 }, ['l'.repeat(50)]: [{ ['m'.repeat(30)]: [1] }] });
    expect(Object.keys(rows[0][1])).toEqual(['_dlt_id', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbmred6wcccccccccccccccccccccccccccc', '_dlt_load_id']);
    expect(rows.map(([t]) => t)).toEqual(['t', 't__llllllllllllllllllllllllllllllllllllllllllllllllll', 't__llllllllllllllllllllllllllilrdywmmmmmmmmmmmmmmmmmmmmmmmmmmmm']);
  });

  it('cyclic objects give a NormalizeError naming table and path', () => {
    const { run } = setup();
    const a: Row = { x: 1 };
    a.self = a;
    expect(() => run(a)).toThrow(/Cyclic reference at "\$\.self".*table "t"/s);
    const b: { l: unknown[] } = { l: [] };
    b.l.push(b);
    expect(() => run(b)).toThrow(NormalizeError);
    const c: unknown[] = [];
    c.push(c);
    expect(() => run({ l: c })).toThrow(/Cyclic/);
    const d: Row = { j: {} };
    (d.j as Row).back = d;
    const s = setup({ columnHints: { j: { dataType: 'json' } } });
    expect(() => s.run(d)).toThrow(/Cyclic/);
    // shared (non-cyclic) references are fine
    const o = { z: 1 };
    expect(() => setup().run({ a: o, b: o, l: [o, o] })).not.toThrow();
  });

  it('an item that fails emits nothing', () => {
    const { run, rows } = setup();
    const a: Row = { l: [{ ok: 1 }, {}] };
    (a.l as Row[])[1].self = a;
    expect(() => run(a)).toThrow(NormalizeError);
    expect(rows).toEqual([]);
  });

  it('invalid values give typed errors with table and column', () => {
    const { run } = setup();
    expect(() => run({ d: new Date('nope') })).toThrow(/Invalid Date.*column "d"/s);
    expect(() => run({ f: () => 1 })).toThrow(NormalizeError);
  });

  it('deep nesting never overflows the stack', () => {
    let deep: unknown = { v: 1 };
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    // beyond maxTableNesting the rest is json, deeper than MAX_JSON_DEPTH: typed error
    expect(() => setup().run(deep)).toThrow(NormalizeError);
    let deepList: unknown = [1];
    for (let i = 0; i < 10_000; i++) deepList = [deepList];
    expect(() => setup().run({ l: deepList })).toThrow(NormalizeError);
    // moderately deep input works: 200 nested dicts flatten into one column
    let ok: unknown = { v: 1 };
    for (let i = 0; i < 200; i++) ok = { a: ok };
    const { run } = setup();
    const [[, row]] = run(ok);
    expect(Object.values(row)[0]).toBe(1);
    // with a small maxTableNesting the remainder stays json
    const small = setup({ maxTableNesting: 3 });
    const [[, r2]] = small.run(ok);
    expect(Object.keys(r2)[0]).toBe('a__a__a__a'); // like dlt: max_nesting 1 gives `a__b: {…}`
  });

  it('keys that name Object.prototype members are ordinary columns', () => {
    const { run, schema } = setup();
    const [[, row]] = run(JSON.parse('{"_dlt_id":"1","constructor":1,"toString":"x","hasOwnProperty":true,"__proto__":{"a":1}}'));
    expect(row).toEqual({ _dlt_id: '1', constructor: 1, to_string: 'x', has_own_property: true, proto__a: 1, _dlt_load_id: '1700000000.1' });
    expect(schema.tables.t.columns.constructor).toEqual({ name: 'constructor', dataType: 'bigint', nullable: true });
  });

  it('errors from getters become NormalizeError; errors from emit propagate unchanged', () => {
    const { norm } = setup();
    const item = {
      get boom(): number {
        throw new Error('getter failed');
      },
    };
    expect(() => norm.normalize(item, 't', () => {})).toThrow(NormalizeError);
    const writerError = new Error('disk full');
    expect(() =>
      norm.normalize({ a: 1 }, 't', () => {
        throw writerError;
      }),
    ).toThrow(writerError);
  });

  it('leaves NUL characters to the encoder', () => {
    const { run } = setup();
    expect(run({ s: 'a\u0000b' })[0][1].s).toBe('a\u0000b');
  });

  it('bigints, Buffers, Dates and luxon DateTimes', () => {
    const { run, schema } = setup();
    const d = new Date('2024-01-01T00:00:00Z');
    class FakeLuxon {
      readonly isLuxonDateTime = true;
      readonly isValid = true;
      toISO() {
        return '2024-01-01T01:00:00.000+01:00';
      }
    }
    const lux = new FakeLuxon();
    const [[, row]] = run({ _dlt_id: '1', big: 5n, huge: 2n ** 70n, buf: new Uint8Array([1, 2]), d, lux });
    expect(row).toEqual({ _dlt_id: '1', big: 5n, huge: 2n ** 70n, buf: Buffer.from([1, 2]), d, lux: '2024-01-01T01:00:00.000+01:00', _dlt_load_id: '1700000000.1' });
    expect(Buffer.isBuffer(row.buf)).toBe(true);
    const c = schema.tables.t.columns;
    expect([c.big.dataType, c.huge.dataType, c.buf.dataType, c.d.dataType, c.lux.dataType]).toEqual(['bigint', 'decimal', 'binary', 'timestamp', 'timestamp']);
  });
});
