import { describe, expect, it } from 'vitest';
import { newLoadId } from 'tide';

describe('load ids', () => {
  it('look like dlt\'s (seconds with 6 decimals), are strictly increasing and close to the clock', () => {
    const before = Date.now() / 1000;
    const ids = Array.from({ length: 2000 }, () => newLoadId());
    for (const id of ids) expect(id).toMatch(/^\d{10}\.\d{6}$/);
    for (let i = 1; i < ids.length; i++) expect(Number(ids[i])).toBeGreaterThan(Number(ids[i - 1]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.abs(Number(ids[0]) - before)).toBeLessThan(5);
  });
});
