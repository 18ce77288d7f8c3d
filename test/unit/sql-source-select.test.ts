/**
 * The SELECT a sqlTable resource sends, pinned: every identifier quoted, the incremental's bounds as
 * bind parameters with the operators its lastValueFunc and range ends call for. The same queries
 * run on a real server in test/integration/sql-database.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Incremental, IncrementalOptions } from '../../pipeline/incremental/index.ts';
import { selectQuery } from '../../sources/sql-database/select.ts';

/** What selectQuery reads of a bound incremental. */
function bound(startValue: unknown, endValue: unknown, options: IncrementalOptions = {}): Incremental {
  return { startValue, endValue, rowOrder: options.rowOrder, definition: { options } } as unknown as Incremental;
}

const cols = ['id', 'Weird "name"'];

describe('selectQuery', () => {
  it('without an incremental: every column, no WHERE, no ORDER BY', () => {
    expect(selectQuery('my schema', 'Orders', cols)).toEqual({ text: 'SELECT "id", "Weird ""name""" FROM "my schema"."Orders"', values: [] });
  });

  it("max (default): cursor >= start AND cursor < end ORDER BY cursor; a BigInt goes as text", () => {
    expect(selectQuery('s', 't', cols, { incremental: bound(10n, 20, {}), column: 'seq' })).toEqual({
      text: 'SELECT "id", "Weird ""name""" FROM "s"."t" WHERE "seq" >= $1 AND "seq" < $2 ORDER BY "seq" ASC',
      values: ['10', 20],
    });
  });

  it("open start, closed end, no end value, rowOrder 'desc'", () => {
    expect(selectQuery('s', 't', ['id'], { incremental: bound('2024-01-01', null, { rangeStart: 'open', rangeEnd: 'closed', rowOrder: 'desc' }), column: 'at' })).toEqual({
      text: 'SELECT "id" FROM "s"."t" WHERE "at" > $1 ORDER BY "at" DESC',
      values: ['2024-01-01'],
    });
  });

  it("min: cursor <= start AND cursor > end", () => {
    expect(selectQuery('s', 't', ['id'], { incremental: bound(5, 1, { lastValueFunc: 'min' }), column: 'n' })).toEqual({
      text: 'SELECT "id" FROM "s"."t" WHERE "n" <= $1 AND "n" > $2 ORDER BY "n" ASC',
      values: [5, 1],
    });
  });

  it('a custom lastValueFunc: nothing pushed down but the order', () => {
    expect(selectQuery('s', 't', ['id'], { incremental: bound(5, undefined, { lastValueFunc: (v) => v[0] }), column: 'n' })).toEqual({
      text: 'SELECT "id" FROM "s"."t" ORDER BY "n" ASC',
      values: [],
    });
  });
});
