/**
 * The columns revision belongs to one schema object: a pipeline adding columns does not make another
 * pipeline's COPY buffers re-read their column lists, and the stored schema never sees it.
 */
import { describe, expect, it } from 'vitest';
import { Normalizer } from '../../pipeline/normalize/normalizer.ts';
import { columnsRevision, markColumnsChanged, newSchema } from '../../pipeline/schema.ts';
import { schemaHash, toStoredSchema } from '../../pipeline/schema-store.ts';

describe('columns revision', () => {
  it('moves for the schema that gained a column only', () => {
    const a = newSchema('a');
    const b = newSchema('b');
    const ra = columnsRevision(a);
    const rb = columnsRevision(b);
    new Normalizer(a, { loadId: '1.1' }).normalize({ id: 1, tags: ['x'] }, 'items', () => undefined);
    expect(ra.value).toBeGreaterThan(0);
    expect(rb.value).toBe(0);
    expect(columnsRevision(a)).toBe(ra);
    const before = ra.value;
    markColumnsChanged(b);
    expect([ra.value, rb.value]).toEqual([before, 1]);
  });


  it('is not part of the stored schema nor of its hash', () => {
    const a = newSchema('a');
    new Normalizer(a, { loadId: '1.1' }).normalize({ id: 1 }, 'items', () => undefined);
    const stored = JSON.stringify(toStoredSchema(a, 1));
    const hash = schemaHash(a);
    markColumnsChanged(a);
    expect(JSON.stringify(toStoredSchema(a, 1))).toBe(stored);
    expect(schemaHash(a)).toBe(hash);
    expect(JSON.stringify(toStoredSchema(structuredClone(a), 1))).toBe(stored);
  });
});
