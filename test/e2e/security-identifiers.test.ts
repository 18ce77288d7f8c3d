/**
 * Security (issue 16, item 5): identifiers that come from data. Table names (a `tableName` function
 * of the item) and column names (the item's keys) are generated from quotes, semicolons, dots,
 * backslashes, spaces, unicode and SQL fragments, up to 200 characters, plus hand-written injections
 * aimed at a canary table. Every run loads each value exactly once into the tables the names map to,
 * or fails with a typed TideError; the canary is untouched either way: no name was ever executed.
 * Keys of one item that normalize to the same column keep the last value (dlt's rule,
 * pipeline/normalize/normalizer.ts): the test expects exactly that.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import { resource, TideError } from 'tide';
import { pgUrl, testPipeline } from '../helpers/pipelines.ts';
import { EMPTY_KEY_IDENTIFIER, isBlank, normalizePath } from '../../pipeline/normalize/naming.ts';

const CANARY = `canary_${randomBytes(4).toString('hex')}`;
const columnOf = (key: string) => (isBlank(key) ? EMPTY_KEY_IDENTIFIER : normalizePath(key, 63));
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

const PIECES = ['"', "'", ';', '.', ' ', '\\', '`', '$$', '--', '/*', '*/', '(', ')', ',', '%', 'é', 'ß', '日本', '🙂', 'Ω', 'a', 'Z', '0', '_', 'DROP', 'TABLE', 'select'];
const INJECTIONS = [
  `x"; DROP TABLE ${q(CANARY)}.${q('t')}; --`,
  `x'); DELETE FROM ${CANARY}.t; --`,
  `${CANARY}.t`,
  `"${CANARY}"."t"`,
  `a.b.c`,
  `$$; DROP SCHEMA ${CANARY} CASCADE; $$`,
  `x\`; TRUNCATE ${CANARY}.t; --`,
];
const name = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 60 }).map((xs) => xs.join('').slice(0, 200)) },
  { weight: 1, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 1, arbitrary: fc.constantFrom(...PIECES).map((p) => p.repeat(200).slice(0, 200)) },
);

describe('security: identifiers from data are quoted, never executed (fuzzed)', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: pgUrl() });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${CANARY}; CREATE TABLE ${CANARY}.t (v text); INSERT INTO ${CANARY}.t VALUES ('alive')`);
  });
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${CANARY} CASCADE`);
    await admin.end();
  });

  it('generated table and column names: every value once, or a typed error; the canary untouched', { timeout: 240_000 }, async () => {
    let loaded = 0;
    let refused = 0;
    let values = 0;
    let overwritten = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ table: name, columns: fc.array(name, { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 3 }), async (specs) => {
        const p = testPipeline({ pipelineName: 'ident_fuzz' });
        // one item per spec; every column holds a marker that must land exactly once
        const items = specs.map((s, i) => ({ id: i, ...Object.fromEntries(s.columns.map((c, j) => [c, `m_${i}_${j}`])) }));
        const markers = items.flatMap((it) => Object.entries(it).filter(([k]) => k !== 'id').map(([k, v]) => ({ marker: String(v), column: columnOf(k) })));
        // a value survives unless a later key of its item lands in the same column
        const expected = markers.map((m, i) => (markers.slice(i + 1).some((n) => n.column === m.column && n.marker.split('_')[1] === m.marker.split('_')[1]) ? 0 : 1));
        const r = resource(() => items, { name: 'fuzz', tableName: (item: { id: number }) => specs[item.id].table });
        try {
          await p.run(r);
          loaded++;
        } catch (e) {
          if (!(e instanceof TideError)) throw e;
          refused++;
          return;
        } finally {
          const canary = await admin.query(`SELECT v FROM ${CANARY}.t`);
          expect(canary.rows).toEqual([{ v: 'alive' }]);
        }
        const tables = await p.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT LIKE '\\_dlt\\_%'`, [p.datasetName]);
        const rows: string[] = [];
        for (const { t } of tables) rows.push(...(await p.query<{ j: string }>(`SELECT row_to_json(x.*)::text AS j FROM ${q(p.datasetName)}.${q(t)} x`)).map((x) => x.j));
        // a marker is a whole JSON string value: "m_1_0" does not match "m_1_01"
        const counts = markers.map((m) => rows.filter((j) => j.includes(`"${m.marker}"`)).length);
        expect(counts).toEqual(expected);
        values += expected.filter((x) => x === 1).length;
        overwritten += expected.filter((x) => x === 0).length;
      }),
      { numRuns: Number(process.env.SECURITY_FUZZ_RUNS ?? 60), seed: Number(process.env.SECURITY_FUZZ_SEED ?? 16) },
    );
    console.log(`security: identifier fuzz: ${loaded} runs loaded (${values} values, each exactly once; ${overwritten} overwritten by a later key of the same column), ${refused} refused with a TideError; canary untouched`);
    expect(loaded).toBeGreaterThan(0);
  });
});
