/**
 * Rows are encoded to COPY text as they arrive (destinations/postgres/copy.ts CopyBuffer): a table
 * that gains columns in the middle of a batch starts a new buffer with the new column list, and the
 * rows before it keep theirs. These tests load such batches and read back every value.
 */
import { describe, expect, it } from 'vitest';
import { LoadError, resource } from 'tide';
import { RowEncoder } from '../../destinations/postgres/copy.ts';
import { rows, testPipeline } from '../helpers/pipelines.ts';


describe('COPY buffers', () => {
  it('columns, variants and nested tables appearing mid-batch land in the right rows', async () => {
    const p = testPipeline({ pipelineName: 'copy_evolve', batchSize: 1_000 });
    const items = [
      { id: 1, a: 10 },
      { id: 2, a: 20, b: 'x' },
      { id: 3, a: 'not a number', tags: ['t1'] },
      { id: 4, a: 40, c: { d: true } },
      { id: 5, b: 'tab\there', tags: ['t2', 't3'] },
    ];
    const info = await p.run(resource(() => items, { name: 'evolve' }));
    expect(info.tables).toEqual({ evolve: { rows: 5 }, evolve__tags: { rows: 3 } });
    expect(await rows(p, 'evolve', 'id', 'id, a, b, a__v_text, c__d')).toEqual([
      { id: 1, a: 10, b: null, a__v_text: null, c__d: null },
      { id: 2, a: 20, b: 'x', a__v_text: null, c__d: null },
      { id: 3, a: null, b: null, a__v_text: 'not a number', c__d: null },
      { id: 4, a: 40, b: null, a__v_text: null, c__d: true },
      { id: 5, a: null, b: 'tab\there', a__v_text: null, c__d: null },
    ]);
    const tags = await p.query(
      `SELECT e.id, t.value, t._dlt_list_idx AS idx FROM ${p.datasetName}.evolve__tags t JOIN ${p.datasetName}.evolve e ON e._dlt_id = t._dlt_parent_id ORDER BY e.id, idx`,
    );
    expect(tags).toEqual([
      { id: 3, value: 't1', idx: 0 },
      { id: 5, value: 't2', idx: 0 },
      { id: 5, value: 't3', idx: 1 },
    ]);
  });

  it('batches smaller than the data: every row once, across many COPY statements', async () => {
    const p = testPipeline({ pipelineName: 'copy_batches', batchSize: 7 });
    const items = Array.from({ length: 100 }, (_, i) => ({ id: i, n: i % 3 === 0 ? null : `v${i}`, extra: i >= 50 ? i * 2 : undefined }));
    const info = await p.run(resource(() => items, { name: 'many' }));
    expect(info.tables).toEqual({ many: { rows: 100 } });
    expect(await rows(p, 'many', 'id', 'id, n, extra')).toEqual(items.map((x) => ({ id: x.id, n: x.n, extra: x.extra ?? null })));
  });

  it('a value Postgres cannot take names its item at once, and nothing is loaded', async () => {
    const p = testPipeline({ pipelineName: 'copy_nul' });
    const items = [{ id: 1, s: 'ok' }, { id: 2, s: 'bad\u0000' }];
    const err = await p.run(resource(() => items, { name: 'nul' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadError);
    expect(err).toMatchObject({ table: 'nul', column: 's', resource: 'nul', item: { id: 2, s: 'bad\u0000' } });
    expect(await p.query(`SELECT to_regclass('${p.datasetName}.nul') AS t`)).toEqual([{ t: null }]);
  });
});

describe('RowEncoder', () => {
  it('generates a line function that reads any column name literally', () => {
    const names = ['plain', 'with "quote"', "it's", 'back\\slash', 'new\nline', 'ünïcode', '__proto__x', 'constructor'];
    const enc = new RowEncoder(names.map((name) => ({ name, dataType: 'text' as const, nullable: true })));
    const row = Object.fromEntries(names.map((n, i) => [n, `v${i}`]));
    expect(enc.line(row)).toBe('v0\tv1\tv2\tv3\tv4\tv5\tv6\tv7\n');
    expect(enc.line({ plain: null, constructor: 'c' })).toBe('\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tc\n');
  });

  it('escapes COPY specials, keeps surrogate pairs, rejects NUL and lone surrogates', () => {
    const enc = new RowEncoder([{ name: 's', dataType: 'text', nullable: true }]);
    expect(enc.line({ s: 'a\\b\tc\nd\re' })).toBe('a\\\\b\\tc\\nd\\re\n');
    expect(enc.line({ s: 'emoji 😀' })).toBe('emoji 😀\n');
    expect(() => enc.line({ s: 'x\u0000' })).toThrow(/NUL/);
    expect(() => enc.line({ s: 'x\uD800y' })).toThrow(/surrogate/);
  });
});
